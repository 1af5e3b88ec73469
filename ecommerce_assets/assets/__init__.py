from ecommerce_assets.assets.raw import raw_carts, raw_events, raw_products, raw_users

RAW_ASSETS = [raw_products, raw_users, raw_carts, raw_events]
