{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        tags=['daily'],
        meta={'partition_column': 'sales_date'},
        pre_hook="{{ delete_partition_window() }}",
    )
}}

with carts as (

    select * from {{ ref('fct_carts') }}
    where {{ in_partition_window('cart_date') }}

),

daily_totals as (

    select
        cart_date as sales_date,
        count(*) as total_carts,
        count(distinct user_id) as unique_customers,
        sum(total_items) as total_items_sold,
        sum(cart_value) as revenue

    from carts
    group by cart_date

),

final as (

    select
        sales_date,
        cast(total_carts as bigint) as total_carts,
        cast(unique_customers as bigint) as unique_customers,
        cast(total_items_sold as bigint) as total_items_sold,
        cast(revenue as decimal(18, 2)) as revenue,
        cast(round(total_items_sold / total_carts, 2) as decimal(12, 2)) as avg_items_per_cart,
        cast(round(total_carts / unique_customers, 2) as decimal(12, 2)) as avg_carts_per_customer,
        cast(round(revenue / total_carts, 2) as decimal(14, 2)) as avg_cart_value,
        {{ audit_columns() }}

    from daily_totals

)

select * from final
