-- int_session_funnel has exactly the sessions of int_sessions, day by day.
with sessions as (

    select session_key from {{ ref('int_sessions') }}
    where {{ in_partition_window('session_date') }}

),

session_funnel as (

    select session_key from {{ ref('int_session_funnel') }}
    where {{ in_partition_window('session_date') }}

)

select
    coalesce(sessions.session_key, session_funnel.session_key) as session_key,
    sessions.session_key is null as missing_from_sessions,
    session_funnel.session_key is null as missing_from_funnel

from sessions
full outer join session_funnel
    on sessions.session_key = session_funnel.session_key
where sessions.session_key is null
    or session_funnel.session_key is null
