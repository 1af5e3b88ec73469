{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        tags=['daily'],
        meta={'partition_column': 'cart_date'},
        pre_hook="{{ delete_partition_window() }}",
    )
}}

with cart_items as (

    select * from {{ ref('stg_cart_items') }}
    where {{ in_partition_window('cart_date') }}

),

product_versions as (

    select
        id as product_id,
        cast(price as decimal(12, 2)) as unit_price,
        {{ clean_category('category') }} as category,
        dbt_valid_from as valid_from,
        coalesce(dbt_valid_to, cast('infinity' as timestamp)) as valid_to,
        -- the snapshot knows nothing older than its first version: it prices earlier carts too
        row_number() over (partition by id order by dbt_valid_from) = 1 as is_first_version

    from {{ ref('products_snapshot') }}

),

priced_lines as (

    select
        cart_items.cart_id,
        cart_items.line_number,
        cart_items.user_id,
        cart_items.cart_date,
        cart_items.cart_time,
        cart_items.product_id,
        cart_items.quantity,
        product_versions.unit_price,
        cast(cart_items.quantity * product_versions.unit_price as decimal(14, 2)) as line_value,
        product_versions.category

    from cart_items
    left join product_versions
        on cart_items.product_id = product_versions.product_id
        and cart_items.cart_time < product_versions.valid_to
        and (cart_items.cart_time >= product_versions.valid_from or product_versions.is_first_version)

)

select * from priced_lines
