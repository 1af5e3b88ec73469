-- Whoever was active on the day was active in its week, and whoever was active in the
-- week was active in its 30 days.
select
    activity_date,
    dau,
    wau,
    mau

from {{ ref('fct_daily_engagement') }}
where {{ in_partition_window('activity_date') }}
    and not (0 < dau and dau <= wau and wau <= mau)
