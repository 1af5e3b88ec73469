{#- An RFM score from 1 to 5, the best customers highest: one plus the number of whole fifths
    of all customers ranked strictly below the customer on `column` (rank-based quintiles).
    Equal values share their rank, so they share their score; integer arithmetic, so the
    score is the same on every run. A tie group larger than a fifth scores by where it
    starts: a crowded top value can top out below 5, the lowest value always scores 1. -#}
{% macro rfm_score(column, direction='asc') -%}
    {%- if direction | lower not in ['asc', 'desc'] -%}
        {{ exceptions.raise_compiler_error("rfm_score: direction must be asc or desc, not " ~ direction) }}
    {%- endif -%}
    1 + (5 * (rank() over (order by {{ column }} {{ direction | lower }}) - 1)) // count(*) over ()
{%- endmacro %}
