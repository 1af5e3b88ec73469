with customers as (

    select * from {{ ref('dim_user_segments') }}

),

order_gaps as (

    select
        user_id,
        as_of_date,
        last_order_date,
        recency_days as days_since_last_order,
        frequency as orders,
        -- the mean gap between consecutive orders is the first-to-last span over the gaps
        case
            when frequency >= 2
                then cast(last_order_date - first_order_date as double) / (frequency - 1)
        end as avg_days_between_orders

    from customers

),

churn_risks as (

    select
        *,
        case
            when days_since_last_order >= {{ var('churn_high_days') | int }} then 'High'
            when days_since_last_order >= {{ var('churn_medium_days') | int }} then 'Medium'
            -- overdue: silent for more than twice the customer's own rhythm. Orders all on one
            -- day (a mean gap of 0) show no rhythm, like a single order: only the thresholds apply.
            when avg_days_between_orders > 0 and days_since_last_order > 2 * avg_days_between_orders then 'Medium'
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
