{#- A city name as "San Antonio" however the source capitalised or spaced it
    (DuckDB has no initcap). -#}
{% macro clean_city(column) -%}
    array_to_string(
        list_transform(
            string_split(regexp_replace(lower(trim({{ column }})), '\s+', ' ', 'g'), ' '),
            lambda word: upper(word[1]) || word[2:]
        ),
        ' '
    )
{%- endmacro %}
