{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        tags=['daily'],
        meta={'partition_column': 'activity_date'},
        pre_hook="{{ delete_partition_window() }}",
    )
}}

with product_events as (

    select
        event_date,
        event_time,
        event_type,
        user_id,
        product_id

    from {{ ref('stg_events') }}
    where {{ in_partition_window('event_date') }}
        and product_id is not null

),

sessions as (

    select
        session_key,
        user_id,
        session_date,
        session_start,
        session_end

    from {{ ref('int_sessions') }}
    where {{ in_partition_window('session_date') }}

),

cart_lines as (

    select * from {{ ref('int_cart_lines') }}
    where {{ in_partition_window('cart_date') }}

),

-- A user's sessions never overlap and span all their events of the day, so each event
-- falls within exactly one of them.
sessionised_product_events as (

    select
        product_events.event_date as activity_date,
        product_events.product_id,
        product_events.event_type,
        sessions.session_key

    from product_events
    inner join sessions
        on product_events.user_id = sessions.user_id
        and product_events.event_date = sessions.session_date
        and product_events.event_time between sessions.session_start and sessions.session_end

),

session_products as (

    select
        activity_date,
        product_id,
        session_key,
        bool_or(event_type = 'page_view') as viewed,
        bool_or(event_type = 'purchase') as purchased

    from sessionised_product_events
    group by activity_date, product_id, session_key

),

event_counts as (

    select
        activity_date,
        product_id,
        count(*) filter (where event_type = 'page_view') as product_views,
        count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
        count(*) filter (where event_type = 'purchase') as purchases

    from sessionised_product_events
    group by activity_date, product_id

),

session_counts as (

    select
        activity_date,
        product_id,
        count(*) filter (where viewed) as sessions_viewed,
        count(*) filter (where viewed and purchased) as sessions_viewed_and_purchased

    from session_products
    group by activity_date, product_id

),

sales as (

    select
        cart_date as activity_date,
        product_id,
        sum(quantity) as units_sold,
        sum(line_value) as revenue

    from cart_lines
    group by cart_date, product_id

),

product_days as (

    select activity_date, product_id from event_counts
    union
    select activity_date, product_id from sales

),

final as (

    select
        product_days.product_id,
        product_days.activity_date,
        cast(coalesce(event_counts.product_views, 0) as bigint) as product_views,
        cast(coalesce(event_counts.add_to_carts, 0) as bigint) as add_to_carts,
        cast(coalesce(event_counts.purchases, 0) as bigint) as purchases,
        cast(coalesce(session_counts.sessions_viewed, 0) as bigint) as sessions_viewed,
        cast(coalesce(session_counts.sessions_viewed_and_purchased, 0) as bigint) as sessions_viewed_and_purchased,
        cast(coalesce(sales.units_sold, 0) as bigint) as units_sold,
        cast(coalesce(sales.revenue, 0) as decimal(18, 2)) as revenue

    from product_days
    left join event_counts
        on product_days.activity_date = event_counts.activity_date
        and product_days.product_id = event_counts.product_id
    left join session_counts
        on product_days.activity_date = session_counts.activity_date
        and product_days.product_id = session_counts.product_id
    left join sales
        on product_days.activity_date = sales.activity_date
        and product_days.product_id = sales.product_id

)

select * from final
