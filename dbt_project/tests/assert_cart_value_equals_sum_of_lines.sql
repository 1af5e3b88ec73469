-- A cart is worth exactly the sum of its priced lines (and holds their items).
with carts as (

    select * from {{ ref('fct_carts') }}
    where {{ in_partition_window('cart_date') }}

),

line_totals as (

    select
        cart_id,
        sum(quantity) as line_items,
        coalesce(sum(line_value), 0) as line_value

    from {{ ref('int_cart_lines') }}
    where {{ in_partition_window('cart_date') }}
    group by cart_id

)

select
    carts.cart_id,
    carts.cart_value,
    line_totals.line_value,
    carts.total_items,
    line_totals.line_items

from carts
full outer join line_totals
    on carts.cart_id = line_totals.cart_id
where carts.cart_id is null
    or line_totals.cart_id is null
    or carts.cart_value <> line_totals.line_value
    or carts.total_items <> line_totals.line_items
