with cart_products as (

    select distinct
        cart_id,
        product_id

    from {{ ref('int_cart_lines') }}

),

cart_count as (

    select count(distinct cart_id) as total_carts
    from cart_products

),

product_carts as (

    select
        product_id,
        count(*) as carts_with_product

    from cart_products
    group by product_id

),

product_pairs as (

    select
        product_a.product_id as product_a,
        product_b.product_id as product_b,
        count(*) as carts_with_both

    from cart_products as product_a
    inner join cart_products as product_b
        on product_a.cart_id = product_b.cart_id
        and product_a.product_id < product_b.product_id
    group by product_a.product_id, product_b.product_id

),

pair_metrics as (

    select
        product_pairs.product_a,
        product_pairs.product_b,
        product_pairs.carts_with_both,
        carts_a.carts_with_product as carts_with_a,
        carts_b.carts_with_product as carts_with_b,
        cart_count.total_carts,
        product_pairs.carts_with_both / cart_count.total_carts as support,
        carts_a.carts_with_product / cart_count.total_carts as support_a,
        carts_b.carts_with_product / cart_count.total_carts as support_b

    from product_pairs
    cross join cart_count
    inner join product_carts as carts_a
        on product_pairs.product_a = carts_a.product_id
    inner join product_carts as carts_b
        on product_pairs.product_b = carts_b.product_id

),

final as (

    select
        product_a,
        product_b,
        cast(carts_with_both as bigint) as carts_with_both,
        cast(carts_with_a as bigint) as carts_with_a,
        cast(carts_with_b as bigint) as carts_with_b,
        cast(total_carts as bigint) as total_carts,
        cast(support as double) as support,
        cast(carts_with_both / carts_with_a as double) as confidence_a_to_b,
        cast(carts_with_both / carts_with_b as double) as confidence_b_to_a,
        cast(support / (support_a * support_b) as double) as lift,
        {{ audit_columns() }}

    from pair_metrics
    where support >= {{ var('basket_min_support') | float }}

)

select * from final
