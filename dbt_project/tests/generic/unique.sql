{#- dbt's `unique`, reading a daily model's window against the rest (macros/window_scoped_tests.sql). -#}
{% test unique(model, column_name) %}
{{ window_duplicates(model, [column_name], skip_nulls=true) }}
{% endtest %}
