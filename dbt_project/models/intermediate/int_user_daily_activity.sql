{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        tags=['daily'],
        meta={'partition_column': 'activity_date'},
        pre_hook="{{ delete_partition_window() }}",
    )
}}

-- Sessions end at midnight and carry their event counts, so summing them per user and day
-- counts every event of the day once, without scanning stg_events again.

with sessions as (

    select * from {{ ref('int_sessions') }}
    where {{ in_partition_window('session_date') }}

),

user_days as (

    select
        user_id,
        session_date as activity_date,
        sum(event_count) as events,
        count(*) as sessions,
        sum(page_views) as page_views,
        sum(product_views) as product_views,
        sum(add_to_carts) as add_to_carts,
        sum(removes) as removes,
        sum(purchases) as purchases,
        sum(duration_seconds) as session_seconds,
        min(session_start) as first_event_at,
        max(session_end) as last_event_at

    from sessions
    group by user_id, session_date

),

final as (

    select
        user_id,
        activity_date,
        cast(events as bigint) as events,
        cast(sessions as bigint) as sessions,
        cast(page_views as bigint) as page_views,
        cast(product_views as bigint) as product_views,
        cast(add_to_carts as bigint) as add_to_carts,
        cast(removes as bigint) as removes,
        cast(purchases as bigint) as purchases,
        cast(session_seconds as decimal(14, 3)) as session_seconds,
        first_event_at,
        last_event_at

    from user_days

)

select * from final
