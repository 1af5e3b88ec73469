{#- The partition window Dagster passes as vars: half-open [min_date, max_date).
    Validated here too, so a bad value fails compilation instead of reaching SQL. -#}
{% macro partition_bound(name) -%}
    {%- set value = var(name) | string -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value) -%}
        {{ exceptions.raise_compiler_error("var " ~ name ~ "=" ~ value ~ " is not a YYYY-MM-DD date") }}
    {%- endif -%}
    {%- set parsed = modules.datetime.datetime.strptime(value, '%Y-%m-%d') -%}
    DATE '{{ value }}'
{%- endmacro %}

{% macro partition_window_check() -%}
    {%- if var('min_date') | string >= var('max_date') | string -%}
        {{ exceptions.raise_compiler_error("empty partition window: min_date " ~ var('min_date') ~ " >= max_date " ~ var('max_date')) }}
    {%- endif -%}
{%- endmacro %}

{#- A predicate keeping rows whose `column` (a DATE) lies in the window. -#}
{% macro in_partition_window(column) -%}
    {{ partition_window_check() }}({{ column }} >= {{ partition_bound('min_date') }} and {{ column }} < {{ partition_bound('max_date') }})
{%- endmacro %}

{#- Pre-hook of a daily incremental model: delete the window before appending it again,
    so a rerun replaces exactly its partitions (and a day that became empty is emptied).
    Runs inside the model's transaction. -#}
{% macro delete_partition_window(column) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ in_partition_window(column) }}
    {%- endif -%}
{%- endmacro %}
