{#- An RFM score from 1 to 5: quintiles of `column`, the best customers last.
    NTILE alone is not deterministic on ties, so ties are broken by user_id. -#}
{% macro rfm_score(column, direction='asc', tie_breaker='user_id') -%}
    {%- if direction | lower not in ['asc', 'desc'] -%}
        {{ exceptions.raise_compiler_error("rfm_score: direction must be asc or desc, not " ~ direction) }}
    {%- endif -%}
    ntile(5) over (order by {{ column }} {{ direction | lower }}, {{ tie_breaker }})
{%- endmacro %}
