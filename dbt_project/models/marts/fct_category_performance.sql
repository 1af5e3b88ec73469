with current_products as (

    select * from {{ ref('dim_products') }}
    where is_current

),

cart_lines as (

    select * from {{ ref('int_cart_lines') }}

),

catalogue as (

    select
        category,
        count(*) as product_count,
        avg(price) as avg_price,
        min(price) as min_price,
        max(price) as max_price

    from current_products
    group by category

),

-- sales stay with the category the product had when it was sold
sales as (

    select
        category,
        sum(quantity) as units_sold,
        sum(line_value) as revenue

    from cart_lines
    group by category

),

final as (

    select
        catalogue.category,
        cast(catalogue.product_count as bigint) as product_count,
        cast(round(catalogue.avg_price, 2) as decimal(12, 2)) as avg_price,
        catalogue.min_price,
        catalogue.max_price,
        cast(catalogue.max_price - catalogue.min_price as decimal(12, 2)) as price_range,
        cast(coalesce(sales.units_sold, 0) as bigint) as units_sold,
        cast(coalesce(sales.revenue, 0) as decimal(18, 2)) as revenue,
        -- categories with equal revenue share a rank (the next rank is skipped)
        cast(rank() over (order by coalesce(sales.revenue, 0) desc) as integer) as revenue_rank,
        {{ audit_columns() }}

    from catalogue
    left join sales
        on catalogue.category = sales.category

)

select * from final
