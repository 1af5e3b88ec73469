with customers as (

    select * from {{ ref('dim_user_segments') }}

),

order_days as (

    -- the customer's rhythm is read from the days they order on: several carts of one day
    -- are one visit, not a gap of zero days (which made a customer of the last day "overdue")
    select user_id, count(distinct cart_date) as order_days
    from {{ ref('fct_carts') }}
    group by user_id

),

order_gaps as (

    select
        customers.user_id,
        customers.as_of_date,
        customers.last_order_date,
        customers.recency_days as days_since_last_order,
        customers.frequency as orders,
        -- the mean gap between consecutive order days is the first-to-last span over the gaps
        case
            when order_days.order_days >= 2
                then cast(customers.last_order_date - customers.first_order_date as double) / (order_days.order_days - 1)
        end as avg_days_between_orders

    from customers
    left join order_days on customers.user_id = order_days.user_id

),

churn_risks as (

    select
        *,
        case
            -- strictly more than the thresholds, as seed 003 writes them
            when days_since_last_order > {{ var('churn_high_days') | int }} then 'High'
            when days_since_last_order > {{ var('churn_medium_days') | int }} then 'Medium'
            -- overdue: silent for more than twice the customer's own rhythm (at least a day, so
            -- a customer of the last day of sales never is). One order day shows no rhythm.
            when days_since_last_order > 2 * avg_days_between_orders then 'Medium'
            else 'Low'
        end as churn_risk

    from order_gaps

),

final as (

    select
        user_id,
        as_of_date,
        last_order_date,
        days_since_last_order,
        orders,
        cast(round(avg_days_between_orders, 2) as decimal(10, 2)) as avg_days_between_orders,
        churn_risk,
        case churn_risk
            when 'High' then 'Win-back campaign with a personal offer'
            when 'Medium' then 'Re-engagement email with recommendations'
            else 'Nurture: cross-sell and loyalty programme'
        end as recommended_action,
        {{ audit_columns() }}

    from churn_risks

)

select * from final
