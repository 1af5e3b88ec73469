-- The conversion rate is a share of the sessions that viewed the product: within [0, 1].
select
    product_id,
    conversion_rate

from {{ ref('fct_product_performance') }}
where not conversion_rate between 0 and 1
