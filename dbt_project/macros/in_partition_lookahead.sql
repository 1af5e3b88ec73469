{#- Like in_partition_window(column), but reaching `days` days past the window's end: the
    days after the window whose rolling counts a run of the window refreshes (WAU, MAU). -#}
{% macro in_partition_lookahead(column, days) -%}
    {{ partition_window_check() }}({{ column }} >= {{ partition_bound('min_date') }} and {{ column }} < {{ partition_bound('max_date') }} + {{ days | int }})
{%- endmacro %}
