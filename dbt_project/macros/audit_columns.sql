{#- Columns every mart carries to say which dbt invocation wrote a row, and when (UTC).
    In the daily incremental marts they tell which run last replaced a partition. -#}
{% macro audit_columns() -%}
    cast(now() as timestamp) as _dbt_loaded_at,
    '{{ invocation_id }}' as _dbt_invocation_id
{%- endmacro %}
