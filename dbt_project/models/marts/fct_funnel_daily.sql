{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        tags=['daily'],
        meta={'partition_column': 'funnel_date'},
        pre_hook="{{ delete_partition_window() }}",
    )
}}

with session_funnel as (

    select * from {{ ref('int_session_funnel') }}
    where {{ in_partition_window('session_date') }}

),

step_counts as (

    select
        session_date as funnel_date,
        count(*) as sessions,
        count(*) filter (where reached_view) as sessions_viewed,
        count(*) filter (where reached_add) as sessions_added,
        count(*) filter (where reached_purchase) as sessions_purchased

    from session_funnel
    group by session_date

),

final as (

    select
        funnel_date,
        cast(sessions as bigint) as sessions,
        cast(sessions_viewed as bigint) as sessions_viewed,
        cast(sessions_added as bigint) as sessions_added,
        cast(sessions_purchased as bigint) as sessions_purchased,
        round({{ safe_divide('sessions_viewed', 'sessions') }}, 4) as view_rate,
        round({{ safe_divide('sessions_added', 'sessions_viewed') }}, 4) as add_rate,
        round({{ safe_divide('sessions_purchased', 'sessions_added') }}, 4) as purchase_rate,
        round({{ safe_divide('sessions_purchased', 'sessions') }}, 4) as overall_conversion,
        {{ audit_columns() }}

    from step_counts

)

select * from final
