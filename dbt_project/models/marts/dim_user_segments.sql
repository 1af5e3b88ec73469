with carts as (

    select * from {{ ref('fct_carts') }}

),

customers as (

    select
        user_id,
        min(cart_date) as first_order_date,
        max(cart_date) as last_order_date,
        count(*) as frequency,
        sum(cart_value) as monetary

    from carts
    group by user_id

),

as_of as (

    -- the day after the last sale: whoever bought on the last day has a recency of 1
    select max(cart_date) + 1 as as_of_date
    from carts

),

rfm_values as (

    select
        customers.user_id,
        as_of.as_of_date,
        customers.first_order_date,
        customers.last_order_date,
        as_of.as_of_date - customers.last_order_date as recency_days,
        customers.frequency,
        customers.monetary

    from customers
    cross join as_of

),

rfm_scores as (

    select
        *,
        {{ rfm_score('recency_days', 'desc') }} as recency_score,
        {{ rfm_score('frequency', 'asc') }} as frequency_score,
        {{ rfm_score('monetary', 'asc') }} as monetary_score

    from rfm_values

),

segments as (

    select
        *,
        case
            when recency_score >= 4 and frequency_score >= 4 then 'Champions'
            when recency_score >= 3 and frequency_score >= 3 then 'Loyal Customers'
            when recency_score >= 3 and frequency_score <= 2 and monetary_score >= 4 then 'Potential Loyalists'
            when recency_score >= 4 and frequency_score <= 2 then 'New Customers'
            when recency_score >= 3 and frequency_score <= 2 then 'Promising'
            when recency_score <= 2 and frequency_score >= 4 then 'At Risk'
            when recency_score <= 2 and frequency_score >= 3 then 'Cant Lose Them'
            when recency_score <= 2 and frequency_score <= 2 and monetary_score >= 3 then 'Hibernating'
            else 'Lost'
        end as user_segment

    from rfm_scores

),

final as (

    select
        user_id,
        as_of_date,
        first_order_date,
        last_order_date,
        cast(recency_days as integer) as recency_days,
        cast(frequency as bigint) as frequency,
        cast(monetary as decimal(18, 2)) as monetary,
        cast(recency_score as integer) as recency_score,
        cast(frequency_score as integer) as frequency_score,
        cast(monetary_score as integer) as monetary_score,
        concat(recency_score, frequency_score, monetary_score) as rfm_score,
        user_segment,
        case
            when user_segment in ('Champions', 'Loyal Customers') then 'Tier 1'
            when user_segment in ('Potential Loyalists', 'New Customers') then 'Tier 2'
            when user_segment in ('Promising', 'At Risk') then 'Tier 3'
            else 'Tier 4'
        end as segment_tier,
        {{ audit_columns() }}

    from segments

)

select * from final
