{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        tags=['daily'],
        meta={'partition_column': 'cart_date'},
        pre_hook="{{ delete_partition_window() }}",
    )
}}

with carts as (

    select * from {{ source('raw', 'carts') }}
    where {{ in_partition_window('partition_date') }}

),

renamed as (

    select
        id as cart_id,
        user_id,
        cart_time,
        partition_date as cart_date,
        _loaded_at as loaded_at

    from carts

)

select * from renamed
