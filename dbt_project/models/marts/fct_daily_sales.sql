{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        tags=['daily'],
        meta={'partition_column': 'sales_date'},
        pre_hook="{{ delete_partition_window() }}",
    )
}}

-- Every day of the window has a row, a day without carts one of zeros. Run by hand without
-- a window, the days span the first to the last cart.

with carts as (

    select * from {{ ref('fct_carts') }}
    where {{ in_partition_window('cart_date') }}

),

window_days as (

    {{ partition_window_days('(select min(cart_date) from carts)', '(select max(cart_date) from carts)') }}

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

daily_sales as (

    select
        window_days.date_day as sales_date,
        coalesce(daily_totals.total_carts, 0) as total_carts,
        coalesce(daily_totals.unique_customers, 0) as unique_customers,
        coalesce(daily_totals.total_items_sold, 0) as total_items_sold,
        coalesce(daily_totals.revenue, 0) as revenue

    from window_days
    left join daily_totals
        on window_days.date_day = daily_totals.sales_date

),

final as (

    select
        sales_date,
        cast(total_carts as bigint) as total_carts,
        cast(unique_customers as bigint) as unique_customers,
        cast(total_items_sold as bigint) as total_items_sold,
        cast(revenue as decimal(18, 2)) as revenue,
        -- averages over no carts are unknown, not 0: null on a day without carts
        cast(round(total_items_sold / nullif(total_carts, 0), 2) as decimal(12, 2)) as avg_items_per_cart,
        cast(round(total_carts / nullif(unique_customers, 0), 2) as decimal(12, 2)) as avg_carts_per_customer,
        cast(round(revenue / nullif(total_carts, 0), 2) as decimal(14, 2)) as avg_cart_value,
        {{ audit_columns() }}

    from daily_sales

)

select * from final
