-- Product types ranked by net revenue over the seven days ending on the latest day of data, with
-- their share of the week's revenue. Tables: sales_daily.
WITH latest AS (
    SELECT MAX(sales_date) AS last_day FROM sales_daily
), week AS (
    SELECT s.dimension_value AS product_type,
           SUM(s.units) AS units,
           SUM(s.revenue) AS revenue
    FROM sales_daily s
    CROSS JOIN latest
    WHERE s.dimension = 'product_type'
      AND s.sales_date > latest.last_day - INTERVAL '7' DAY
      AND s.sales_date <= latest.last_day
    GROUP BY s.dimension_value
)
SELECT product_type,
       units,
       revenue,
       ROUND(100.0 * CAST(revenue AS DOUBLE) / SUM(CAST(revenue AS DOUBLE)) OVER (), 1) AS revenue_share_pct
FROM week
ORDER BY revenue DESC, product_type
LIMIT 10
