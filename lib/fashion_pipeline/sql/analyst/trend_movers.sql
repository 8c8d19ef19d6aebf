-- This week's biggest risers and fallers by units against last week (articles above the minimum
-- volume only), as of the latest day the aggregates ran. Tables: trend_movers.
SELECT direction,
       rank,
       article_id,
       prod_name,
       product_type_name,
       last_week_units,
       this_week_units,
       ROUND(100 * growth, 1) AS growth_pct
FROM trend_movers
WHERE as_of_date = (SELECT MAX(as_of_date) FROM trend_movers)
  AND rank <= 10
ORDER BY direction DESC, rank
