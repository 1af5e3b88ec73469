-- Event dates come from int_user_daily_activity (every event has a user, so it has the same
-- dates as stg_events) to avoid scanning all events.
with activity_dates as (

    select activity_date as date_day from {{ ref('int_user_daily_activity') }}

),

cart_dates as (

    select cart_date as date_day from {{ ref('stg_carts') }}

),

date_bounds as (

    select
        min(date_day) as first_day,
        max(date_day) as last_day

    from (
        select date_day from activity_dates
        union all
        select date_day from cart_dates
    )

),

date_spine as (

    select cast(unnest(generate_series(first_day, last_day, interval 1 day)) as date) as date_day
    from date_bounds
    where first_day is not null

),

final as (

    select
        date_day,
        cast(year(date_day) as integer) as year,
        cast(quarter(date_day) as integer) as quarter,
        cast(month(date_day) as integer) as month,
        monthname(date_day) as month_name,
        cast(weekofyear(date_day) as integer) as week_of_year,
        cast(isodow(date_day) as integer) as day_of_week,
        dayname(date_day) as day_name,
        isodow(date_day) in (6, 7) as is_weekend,
        {{ audit_columns() }}

    from date_spine

)

select * from final
