-- Every step rate of the daily funnel is a share of sessions: within [0, 1].
select
    funnel_date,
    view_rate,
    add_rate,
    purchase_rate,
    overall_conversion

from {{ ref('fct_funnel_daily') }}
where {{ in_partition_window('funnel_date') }}
    and not (
        view_rate between 0 and 1
        and add_rate between 0 and 1
        and purchase_rate between 0 and 1
        and overall_conversion between 0 and 1
    )
