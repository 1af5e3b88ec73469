{#- Fails for every combination of the columns that appears more than once:
    the grain of a model whose key is several columns. A daily model's window is read
    against the rest (macros/window_scoped_tests.sql). -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
{{ window_duplicates(model, combination_of_columns, skip_nulls=false) }}
{% endtest %}
