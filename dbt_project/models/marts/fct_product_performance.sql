with current_products as (

    select * from {{ ref('dim_products') }}
    where is_current

),

product_days as (

    select * from {{ ref('int_product_daily') }}

),

product_totals as (

    select
        product_id,
        sum(product_views) as product_views,
        sum(add_to_carts) as add_to_carts,
        sum(purchases) as purchases,
        -- sessions end at midnight, so summing days counts each session once
        sum(sessions_viewed) as sessions_viewed,
        sum(sessions_viewed_and_purchased) as sessions_viewed_and_purchased,
        sum(units_sold) as units_sold,
        sum(revenue) as revenue

    from product_days
    group by product_id

),

products as (

    select
        current_products.product_id,
        current_products.title,
        current_products.category,
        coalesce(product_totals.product_views, 0) as product_views,
        coalesce(product_totals.add_to_carts, 0) as add_to_carts,
        coalesce(product_totals.purchases, 0) as purchases,
        coalesce(product_totals.sessions_viewed, 0) as sessions_viewed,
        coalesce(product_totals.sessions_viewed_and_purchased, 0) as sessions_viewed_and_purchased,
        coalesce(product_totals.units_sold, 0) as units_sold,
        coalesce(product_totals.revenue, 0) as revenue

    from current_products
    left join product_totals
        on current_products.product_id = product_totals.product_id

),

revenue_shares as (

    select
        *,
        -- the share of all revenue earned by the products ranked above this one
        {{ safe_divide(
            'coalesce(sum(revenue) over (order by revenue desc, product_id rows between unbounded preceding and 1 preceding), 0)',
            'sum(revenue) over ()'
        ) }} as revenue_share_before

    from products

),

final as (

    select
        product_id,
        title,
        category,
        cast(product_views as bigint) as product_views,
        cast(add_to_carts as bigint) as add_to_carts,
        cast(purchases as bigint) as purchases,
        cast(sessions_viewed as bigint) as sessions_viewed,
        round({{ safe_divide('sessions_viewed_and_purchased', 'sessions_viewed') }}, 4) as conversion_rate,
        cast(units_sold as bigint) as units_sold,
        cast(revenue as decimal(18, 2)) as revenue,
        case
            when revenue = 0 then 'C'
            when revenue_share_before < 0.80 then 'A'
            when revenue_share_before < 0.95 then 'B'
            else 'C'
        end as abc_class,
        {{ audit_columns() }}

    from revenue_shares

)

select * from final
