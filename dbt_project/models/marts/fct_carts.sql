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

    select * from {{ ref('stg_carts') }}
    where {{ in_partition_window('cart_date') }}

),

cart_lines as (

    select * from {{ ref('int_cart_lines') }}
    where {{ in_partition_window('cart_date') }}

),

cart_totals as (

    select
        cart_id,
        sum(quantity) as total_items,
        count(distinct product_id) as unique_products,
        sum(line_value) as cart_value

    from cart_lines
    group by cart_id

),

final as (

    select
        carts.cart_id,
        carts.user_id,
        carts.cart_date,
        carts.cart_time,
        cast(coalesce(cart_totals.total_items, 0) as bigint) as total_items,
        cast(coalesce(cart_totals.unique_products, 0) as bigint) as unique_products,
        cast(coalesce(cart_totals.cart_value, 0) as decimal(14, 2)) as cart_value,
        {{ audit_columns() }}

    from carts
    left join cart_totals
        on carts.cart_id = cart_totals.cart_id

)

select * from final
