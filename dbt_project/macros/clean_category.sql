{#- The product category as the marts show it: the source misspells jewelry as "jewelery". -#}
{% macro clean_category(column) -%}
    replace(lower(trim({{ column }})), 'jewelery', 'jewelry')
{%- endmacro %}
