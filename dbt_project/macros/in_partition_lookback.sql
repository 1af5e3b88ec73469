{#- Like in_partition_window(column), but reaching `days` days before the window's start:
    for a daily model whose days need trailing history (WAU, MAU), never more. -#}
{% macro in_partition_lookback(column, days) -%}
    {{ partition_window_check() }}({{ column }} >= {{ partition_bound('min_date') }} - {{ days | int }} and {{ column }} < {{ partition_bound('max_date') }})
{%- endmacro %}
