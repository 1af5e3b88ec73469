-- A session reaches a step only through the ones before it, so each step has no more
-- sessions than the previous one.
select
    funnel_date,
    sessions,
    sessions_viewed,
    sessions_added,
    sessions_purchased

from {{ ref('fct_funnel_daily') }}
where {{ in_partition_window('funnel_date') }}
    and not (
        sessions >= sessions_viewed
        and sessions_viewed >= sessions_added
        and sessions_added >= sessions_purchased
    )
