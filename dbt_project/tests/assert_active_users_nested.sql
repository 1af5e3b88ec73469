-- Whoever was active on the day was active in its week, and whoever was active in the
-- week was active in its 30 days. Read over the window and the 29 days after it, whose
-- WAU and MAU a run of the window refreshes (macros/rolling_active_users.sql).
select
    activity_date,
    dau,
    wau,
    mau

from {{ ref('fct_daily_engagement') }}
where {{ in_partition_window('activity_date', days_after=29) }}
    and not (0 < dau and dau <= wau and wau <= mau)
