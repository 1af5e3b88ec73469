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

cart_lines as (

    select
        id as cart_id,
        user_id,
        partition_date as cart_date,
        cart_time,
        products,
        -- the 1-based position in the list: a line keeps its identity even if a product repeats
        unnest(range(1, len(products) + 1)) as line_number

    from carts

),

renamed as (

    select
        cart_id,
        user_id,
        cart_date,
        cart_time,
        cast(line_number as integer) as line_number,
        products[line_number].product_id as product_id,
        products[line_number].quantity as quantity

    from cart_lines

)

select * from renamed
