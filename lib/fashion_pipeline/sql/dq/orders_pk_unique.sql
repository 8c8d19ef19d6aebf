-- check: orders_pk_unique
-- blocking: true
-- description: each order of the day exists once in the whole orders table (no copy in another partition)
-- Parameters: every ? is the run date, YYYY-MM-DD (Athena: ExecutionParameters, one per ?).
-- Returns one row: check_name, checked_rows, failed_rows; the check passes when failed_rows = 0.
WITH day_orders AS (
    SELECT DISTINCT order_id FROM orders WHERE order_date = CAST(? AS DATE)
), copies AS (
    SELECT o.order_id, COUNT(*) AS n
    FROM orders o
    JOIN day_orders d ON o.order_id = d.order_id
    GROUP BY o.order_id
)
SELECT 'orders_pk_unique' AS check_name,
       COUNT(*) AS checked_rows,
       COALESCE(SUM(n - 1), 0) AS failed_rows
FROM copies
