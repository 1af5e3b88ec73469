-- raw.users has no password column; none is added here or downstream.
with users as (

    select * from {{ source('raw', 'users') }}

),

renamed as (

    select
        id as user_id,
        email,
        username,
        firstname as first_name,
        lastname as last_name,
        {{ clean_city('city') }} as city,
        street,
        street_number,
        zipcode,
        lat,
        long,
        phone,
        _loaded_at as loaded_at

    from users

)

select * from renamed
