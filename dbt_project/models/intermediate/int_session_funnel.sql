{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        tags=['daily'],
        meta={'partition_column': 'session_date'},
        pre_hook="{{ delete_partition_window() }}",
    )
}}

with sessions as (

    select * from {{ ref('int_sessions') }}
    where {{ in_partition_window('session_date') }}

),

furthest_steps as (

    select
        session_key,
        session_date,
        user_id,
        -- the deepest step any event reached, whatever the order of the events
        case
            when purchases > 0 then 3
            when add_to_carts > 0 then 2
            when product_views > 0 then 1
            else 0
        end as furthest_step

    from sessions

),

final as (

    select
        session_key,
        session_date,
        user_id,
        furthest_step,
        furthest_step >= 1 as reached_view,
        furthest_step >= 2 as reached_add,
        furthest_step >= 3 as reached_purchase

    from furthest_steps

)

select * from final
