-- A day's revenue and cart count are exactly those of its carts; a day without carts has a
-- row of zeros, and no day with carts lacks its row.
with daily_sales as (

    select * from {{ ref('fct_daily_sales') }}
    where {{ in_partition_window('sales_date') }}

),

cart_totals as (

    select
        cart_date,
        count(*) as total_carts,
        sum(cart_value) as revenue

    from {{ ref('fct_carts') }}
    where {{ in_partition_window('cart_date') }}
    group by cart_date

)

select
    coalesce(daily_sales.sales_date, cart_totals.cart_date) as sales_date,
    daily_sales.revenue as reported_revenue,
    cart_totals.revenue as cart_revenue,
    daily_sales.total_carts as reported_carts,
    cart_totals.total_carts as cart_count

from daily_sales
full outer join cart_totals
    on daily_sales.sales_date = cart_totals.cart_date
where daily_sales.sales_date is null
    or daily_sales.revenue <> coalesce(cart_totals.revenue, 0)
    or daily_sales.total_carts <> coalesce(cart_totals.total_carts, 0)
