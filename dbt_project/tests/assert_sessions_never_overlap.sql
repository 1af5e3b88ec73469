-- A user's sessions are disjoint in time: each starts after the previous one ended.
with sessions as (

    select
        user_id,
        session_key,
        session_start,
        session_end,
        lag(session_end) over (
            partition by user_id
            order by session_start, session_key
        ) as previous_session_end

    from {{ ref('int_sessions') }}
    where {{ in_partition_window('session_date') }}

)

select *
from sessions
where session_end < session_start
    or session_start <= previous_session_end
