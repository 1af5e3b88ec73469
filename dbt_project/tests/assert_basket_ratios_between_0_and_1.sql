-- Support and confidence are shares of carts: within [0, 1] (lift is not bounded).
select
    product_a,
    product_b,
    support,
    confidence_a_to_b,
    confidence_b_to_a

from {{ ref('fct_market_basket') }}
where not (
    support between 0 and 1
    and confidence_a_to_b between 0 and 1
    and confidence_b_to_a between 0 and 1
)
