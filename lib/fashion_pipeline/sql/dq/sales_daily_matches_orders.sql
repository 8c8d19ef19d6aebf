-- check: sales_daily_matches_orders
-- blocking: true
-- description: the day's revenue in sales_daily (by channel) equals the net revenue of the day's curated orders
-- Parameters: every ? is the run date, YYYY-MM-DD (Athena: ExecutionParameters, one per ?).
-- Returns one row: check_name, checked_rows, failed_rows; the check passes when failed_rows = 0.
WITH curated AS (
    SELECT COALESCE(SUM(i.line_amount), 0) AS revenue
    FROM order_items i
    JOIN orders o ON o.order_id = i.order_id
    WHERE i.order_date = CAST(? AS DATE)
      AND o.order_date = CAST(? AS DATE)
      AND o.status IN ('placed', 'paid', 'shipped', 'delivered')
), aggregated AS (
    SELECT COALESCE(SUM(revenue), 0) AS revenue
    FROM sales_daily
    WHERE sales_date = CAST(? AS DATE) AND dimension = 'channel'
)
SELECT 'sales_daily_matches_orders' AS check_name,
       1 AS checked_rows,
       CASE WHEN curated.revenue = aggregated.revenue THEN 0 ELSE 1 END AS failed_rows
FROM curated CROSS JOIN aggregated
