{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        tags=['daily'],
        meta={'partition_column': 'session_date'},
        pre_hook="{{ delete_partition_window() }}",
    )
}}

-- Sessions are rebuilt per user, not taken from the collector's session_id: collector
-- sessions of one user can overlap. 30 minutes of inactivity end a session: an event 30
-- minutes or more after the user's previous one starts a new session. Partitions are days,
-- so a session also ends at midnight UTC (a visit across midnight is two sessions).

with events as (

    select
        event_id,
        event_date,
        event_time,
        event_type,
        page,
        user_id,
        device,
        product_id

    from {{ ref('stg_events') }}
    where {{ in_partition_window('event_date') }}

),

events_with_previous as (

    select
        *,
        lag(event_time) over (
            partition by user_id, event_date
            order by event_time, event_id
        ) as previous_event_time

    from events

),

events_numbered as (

    select
        *,
        -- a running count of session starts numbers the user's sessions of the day
        count(*) filter (
            where previous_event_time is null
                or event_time - previous_event_time >= interval 30 minute
        ) over (
            partition by user_id, event_date
            order by event_time, event_id
            rows between unbounded preceding and current row
        ) as session_number

    from events_with_previous

),

sessions as (

    select
        user_id,
        event_date as session_date,
        min(event_time) as session_start,
        max(event_time) as session_end,
        count(*) as event_count,
        count(*) filter (where event_type = 'page_view') as page_views,
        count(*) filter (where event_type = 'page_view' and product_id is not null) as product_views,
        count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
        count(*) filter (where event_type = 'remove_from_cart') as removes,
        count(*) filter (where event_type = 'purchase') as purchases,
        first(device order by event_time, event_id) as device,
        first(page order by event_time, event_id) as first_page

    from events_numbered
    group by user_id, event_date, session_number

),

final as (

    select
        md5(cast(user_id as varchar) || cast(session_start as varchar)) as session_key,
        user_id,
        session_date,
        session_start,
        session_end,
        -- exact decimals, so sums of durations do not depend on the order of summation
        cast(date_diff('millisecond', session_start, session_end) * 0.001 as decimal(12, 3)) as duration_seconds,
        event_count,
        page_views,
        product_views,
        add_to_carts,
        removes,
        purchases,
        device,
        first_page

    from sessions

)

select * from final
