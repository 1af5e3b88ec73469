{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        tags=['daily'],
        meta={'partition_column': 'event_date'},
        pre_hook="{{ delete_partition_window() }}",
    )
}}

with events as (

    select * from {{ source('raw', 'events') }}
    where {{ in_partition_window('event_date') }}

),

renamed as (

    select
        event_id,
        event_date,
        event_time,
        event_type,
        page,
        user_id,
        -- the collector's session id is kept for tracing only: sessions are rebuilt in int_sessions
        session_id as collector_session_id,
        device,
        product_id,
        cast(price as decimal(12, 2)) as price,
        quantity,
        cart_id,
        _source_file as source_file,
        _loaded_at as loaded_at

    from events

)

select * from renamed
