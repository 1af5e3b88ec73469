{#- Post-hook of every model and snapshot: its row count and actual column types, logged as
    one line that Dagster reads from dbt's event stream and attaches to the materialization.
    Read inside dbt, because DuckDB admits one writing process per file: Dagster could only
    query the tables after dbt exits, and so had to hold back every event until then. -#}
{% macro log_table_stats() -%}
    {%- if execute -%}
        {%- set row_count = run_query("select count(*) from " ~ this).columns[0].values()[0] | int -%}
        {%- set columns = {} -%}
        {%- for column in adapter.get_columns_in_relation(this) -%}
            {%- do columns.update({column.name: column.dtype}) -%}
        {%- endfor -%}
        {%- set stats = {"unique_id": model.unique_id, "row_count": row_count, "columns": columns} -%}
        {%- do log("ecommerce_table_stats " ~ tojson(stats), info=True) -%}
    {%- endif -%}
{%- endmacro %}
