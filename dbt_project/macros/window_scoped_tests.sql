{#- Tests of a daily model read the partition window, not the whole table.

    A daily run rewrites only its window, so testing the other partitions again only makes
    each day's run slower as history grows (at 1M events a day, day 61's daily build took
    2.2 times day 3's, most of it whole-table tests). A row-wise test (not_null,
    accepted_values, the child side of relationships) and a uniqueness test whose key holds
    the partition column are exact on the window. Other uniqueness tests still see the whole
    table: the window's keys are checked against each other and against every other
    partition (`window_duplicates`), which scans the key columns without aggregating them.
    With no window set (a hand-run `dbt build`), the window is all history. -#}

{#- The partition column of the daily model behind `relation`, or none (history models,
    snapshots, sources, and relations already narrowed by a `where`). -#}
{% macro partition_column_of(relation) -%}
    {%- if not execute or relation is string or relation.identifier is not defined -%}
        {{ return(none) }}
    {%- endif -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model' and node.alias == relation.identifier and node.schema == relation.schema -%}
            {{ return(node.config.meta.get('partition_column')) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}

{#- Whether the test being compiled is exact when it reads only the window. -#}
{% macro window_exact(test_node, column) -%}
    {%- set meta = test_node.get('test_metadata') or {} -%}
    {%- set kwargs = meta.get('kwargs', {}) -%}
    {%- if meta.get('name') in ('not_null', 'accepted_values', 'relationships') -%}
        {{ return(true) }}
    {%- elif meta.get('name') == 'unique' -%}
        {{ return(kwargs.get('column_name') == column) }}
    {%- elif meta.get('name') == 'unique_combination_of_columns' -%}
        {{ return(column in kwargs.get('combination_of_columns', [])) }}
    {%- endif -%}
    {{ return(false) }}
{%- endmacro %}

{#- dbt's hook for the relation a generic test reads: its `where`, and the window where exact. -#}
{% macro get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set column = partition_column_of(relation) -%}
    {%- if column and window_exact(model, column) -%}
        {%- do conditions.append(in_partition_window(column)) -%}
    {%- endif -%}
    {%- if conditions -%}
        {{ return('(select * from ' ~ relation ~ ' where ' ~ conditions | join(' and ') ~ ') dbt_subquery') }}
    {%- endif -%}
    {{ return(relation) }}
{%- endmacro %}

{#- Keys (`columns`) repeated in `relation`, read as cheaply as the window allows: on a daily
    model, the window's keys repeated among themselves or found in another partition. -#}
{% macro window_duplicates(relation, columns, skip_nulls) -%}
    {%- set keys = columns | join(', ') -%}
    {%- set column = partition_column_of(relation) -%}
    {%- set present = [] -%}
    {%- for key in columns if skip_nulls -%}
        {%- do present.append(key ~ ' is not null') -%}
    {%- endfor -%}
    {%- set not_null = present | join(' and ') or 'true' -%}
    {%- if column -%}
    with window_keys as (
        select {{ keys }} from {{ relation }} where {{ in_partition_window(column) }} and {{ not_null }}
    ),
    other_partition_keys as (
        select {{ keys }} from {{ relation }} where not {{ in_partition_window(column) }} and {{ not_null }}
    )
    select {{ keys }}, count(*) as occurrences from window_keys group by {{ keys }} having count(*) > 1
    union all
    select {{ keys }}, 2 as occurrences from window_keys semi join other_partition_keys using ({{ keys }})
    {%- else -%}
    select {{ keys }}, count(*) as occurrences from {{ relation }} where {{ not_null }} group by {{ keys }} having count(*) > 1
    {%- endif -%}
{%- endmacro %}
