{#- A ratio that is 0, not null or an error, when the denominator is 0 (an empty step). -#}
{% macro safe_divide(numerator, denominator) -%}
    coalesce(cast({{ numerator }} as double) / nullif({{ denominator }}, 0), 0)
{%- endmacro %}
