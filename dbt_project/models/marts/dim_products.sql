with product_versions as (

    select * from {{ ref('products_snapshot') }}

),

cleaned as (

    select
        id as product_id,
        trim(title) as title,
        {{ clean_category('category') }} as category,
        cast(price as decimal(12, 2)) as price,
        description,
        image,
        dbt_valid_from as valid_from,
        dbt_valid_to as valid_to

    from product_versions

),

final as (

    select
        md5(cast(product_id as varchar) || cast(valid_from as varchar)) as product_key,
        product_id,
        title,
        category,
        price,
        case
            when price >= 200 then 'Star'
            when price >= 100 then 'A-Tier'
            when price >= 50 then 'B-Tier'
            else 'C-Tier'
        end as product_tier,
        price > 100 as is_premium,
        description,
        image,
        valid_from,
        valid_to,
        valid_to is null as is_current,
        {{ audit_columns() }}

    from cleaned

)

select * from final
