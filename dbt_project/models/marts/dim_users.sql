with users as (

    select * from {{ ref('stg_users') }}

),

final as (

    select
        user_id,
        email,
        username,
        trim(concat_ws(' ', first_name, last_name)) as full_name,
        city,
        street,
        zipcode,
        phone,
        {{ audit_columns() }}

    from users

)

select * from final
