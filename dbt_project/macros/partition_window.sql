{#- The partition window: half-open [min_date, max_date).
    Dagster sets it in the environment (ECOMMERCE_WINDOW_MIN_DATE / _MAX_DATE); vars given by
    hand (`dbt build --vars '{min_date: ..., max_date: ...}'`) win over it; with neither, the
    window covers all history. It is read only while executing: dbt keeps no trace of it in
    the parsed project, so a new window never invalidates partial parsing (new vars would:
    every daily run would pay a full parse, 6.6 s against 3.9 s measured).
    Validated here too, so a bad value fails compilation instead of reaching SQL. -#}
{% macro window_date(name) -%}
    {%- if not execute -%}
        {{ return(all_history_bound(name)) }}
    {%- endif -%}
    {%- set from_env = env_var('ECOMMERCE_WINDOW_' ~ name | upper, all_history_bound(name)) -%}
    {{ return(var(name, from_env) | string) }}
{%- endmacro %}

{#- The window bound `name` when none is given: the window then covers all history. -#}
{% macro all_history_bound(name) -%}
    {{ return({'min_date': '1970-01-01', 'max_date': '9999-12-31'}[name]) }}
{%- endmacro %}

{% macro partition_bound(name) -%}
    {%- set value = window_date(name) -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value) -%}
        {{ exceptions.raise_compiler_error("window " ~ name ~ "=" ~ value ~ " is not a YYYY-MM-DD date") }}
    {%- endif -%}
    {%- set parsed = modules.datetime.datetime.strptime(value, '%Y-%m-%d') -%}
    DATE '{{ value }}'
{%- endmacro %}

{% macro partition_window_check() -%}
    {%- if window_date('min_date') >= window_date('max_date') -%}
        {{ exceptions.raise_compiler_error("empty partition window: min_date " ~ window_date('min_date') ~ " >= max_date " ~ window_date('max_date')) }}
    {%- endif -%}
{%- endmacro %}

{#- A predicate keeping rows whose `column` (a DATE) lies in the window, widened by
    `days_before` days before it (a daily model whose days need trailing history: WAU, MAU)
    and `days_after` days after it (the later days whose rolling counts a run refreshes). -#}
{% macro in_partition_window(column, days_before=0, days_after=0) -%}
    {{ partition_window_check() }}({{ column }} >= {{ partition_bound('min_date') }}
    {%- if days_before | int %} - {{ days_before | int }}{% endif %} and {{ column }} < {{ partition_bound('max_date') }}
    {%- if days_after | int %} + {{ days_after | int }}{% endif %})
{%- endmacro %}

{#- Pre-hook of a daily incremental model: delete the window before appending it again,
    so a rerun replaces exactly its partitions (and a day that became empty is emptied).
    Runs inside the model's transaction. The column is the model's
    `meta.partition_column`, which its tests also read (macros/window_scoped_tests.sql). -#}
{% macro delete_partition_window() -%}
    {%- if is_incremental() -%}
        {%- set column = config.get('meta', {}).get('partition_column') -%}
        {%- if not column -%}
            {{ exceptions.raise_compiler_error(this ~ " is daily but has no meta.partition_column") }}
        {%- endif -%}
        delete from {{ this }} where {{ in_partition_window(column) }}
    {%- endif -%}
{%- endmacro %}

{#- Whether the window bound `name` was left at its all-history default (no var, no environment). -#}
{% macro window_bound_is_default(name) -%}
    {{ return(window_date(name) == all_history_bound(name)) }}
{%- endmacro %}

{#- One row per day of the window (`date_day`), for a daily model that reports a day without
    data as a row of zeros. A bound left at its all-history default (a hand-run build) has no
    day to count from: the SQL expressions `first_day` and `last_day` (inclusive, e.g. the
    first and last day with data) stand in for it. -#}
{% macro partition_window_days(first_day, last_day) -%}
    {{ partition_window_check() }}
    {%- set window_first = first_day if window_bound_is_default('min_date') else partition_bound('min_date') -%}
    {%- set window_last = last_day if window_bound_is_default('max_date') else partition_bound('max_date') ~ ' - 1' -%}
    select cast(unnest(generate_series({{ window_first }}, {{ window_last }}, interval 1 day)) as date) as date_day
{%- endmacro %}
