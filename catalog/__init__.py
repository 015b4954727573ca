"""Group product catalog (集团产品目录), complexity tiers and group customers (集团客户)."""
