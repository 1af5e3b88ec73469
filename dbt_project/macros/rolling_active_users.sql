{#- DAU, WAU and MAU of each day of `days` (a CTE with activity_date), counted from `activity`
    (a CTE of user_id, activity_date that reaches 29 days before the first of those days):
    distinct users active on the day, in the 7 days and in the 30 days ending with it. -#}
{% macro active_users_by_day(days, activity) -%}
    select
        {{ days }}.activity_date,
        count(distinct {{ activity }}.user_id) filter (
            where {{ activity }}.activity_date = {{ days }}.activity_date
        ) as dau,
        count(distinct {{ activity }}.user_id) filter (
            where {{ activity }}.activity_date > {{ days }}.activity_date - 7
        ) as wau,
        count(distinct {{ activity }}.user_id) as mau

    from {{ days }}
    inner join {{ activity }}
        on {{ activity }}.activity_date between {{ days }}.activity_date - 29 and {{ days }}.activity_date
    group by {{ days }}.activity_date
{%- endmacro %}

{#- Post-hook of fct_daily_engagement: the WAU and MAU of a day count the 29 days before it,
    so replacing the window changes those of the rows already there for the 29 days after it
    (a past day rerun to absorb late events). They are recomputed in place from `activity`
    (int_user_daily_activity), in the model's transaction; their other columns belong to
    their own partitions and stay. A run of the latest day finds no such rows and updates
    none. -#}
{% macro refresh_rolling_active_users(activity) -%}
    {%- if is_incremental() -%}
        {%- set window_end = partition_bound('max_date') | trim -%}
update {{ this }} as engagement
set
    wau = refreshed.wau,
    mau = refreshed.mau
from (

    with later_days as (

        select activity_date
        from {{ this }}
        where activity_date >= {{ window_end }}
            and activity_date < {{ window_end }} + 29

    ),

    trailing_activity as (

        select
            user_id,
            activity_date

        from {{ activity }}
        where activity_date >= {{ window_end }} - 29
            and activity_date < {{ window_end }} + 29

    )

    {{ active_users_by_day('later_days', 'trailing_activity') }}

) as refreshed
where engagement.activity_date = refreshed.activity_date
    {%- endif -%}
{%- endmacro %}
