with products as (

    select * from {{ source('raw', 'products') }}

),

renamed as (

    select
        id as product_id,
        trim(title) as title,
        cast(price as decimal(12, 2)) as price,
        description,
        {{ clean_category('category') }} as category,
        image,
        rating_rate,
        rating_count,
        _loaded_at as loaded_at

    from products

)

select * from renamed
