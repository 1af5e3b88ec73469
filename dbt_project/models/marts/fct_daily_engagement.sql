{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        tags=['daily'],
        meta={'partition_column': 'activity_date'},
        pre_hook="{{ delete_partition_window() }}",
        post_hook="{{ refresh_rolling_active_users(ref('int_user_daily_activity')) }}",
    )
}}

-- WAU and MAU of a day count users active in the 7 and 30 days ending that day, so this
-- model (alone) reads int_user_daily_activity 29 days before the window, and its post-hook
-- refreshes the WAU and MAU of the rows already there for the 29 days after the window.

with trailing_activity as (

    select
        user_id,
        activity_date

    from {{ ref('int_user_daily_activity') }}
    where {{ in_partition_window('activity_date', days_before=29) }}

),

sessions as (

    select * from {{ ref('int_sessions') }}
    where {{ in_partition_window('session_date') }}

),

activity_days as (

    select distinct activity_date
    from trailing_activity
    where {{ in_partition_window('activity_date') }}

),

active_users as (

    {{ active_users_by_day('activity_days', 'trailing_activity') }}

),

session_stats as (

    select
        session_date as activity_date,
        count(*) as sessions,
        sum(event_count) as events,
        sum(duration_seconds) as session_seconds

    from sessions
    group by session_date

),

final as (

    select
        active_users.activity_date,
        cast(active_users.dau as bigint) as dau,
        cast(active_users.wau as bigint) as wau,
        cast(active_users.mau as bigint) as mau,
        cast(session_stats.sessions as bigint) as sessions,
        cast(round(session_stats.events / session_stats.sessions, 2) as decimal(12, 2)) as events_per_session,
        cast(round(session_stats.session_seconds / session_stats.sessions, 2) as decimal(12, 2)) as avg_session_seconds,
        {{ audit_columns() }}

    from active_users
    inner join session_stats
        on active_users.activity_date = session_stats.activity_date

)

select * from final
