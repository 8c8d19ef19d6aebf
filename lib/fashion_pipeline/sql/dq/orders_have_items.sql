-- check: orders_have_items
-- blocking: true
-- description: every order of the day has at least one line
-- Parameters: every ? is the run date, YYYY-MM-DD (Athena: ExecutionParameters, one per ?).
-- Returns one row: check_name, checked_rows, failed_rows; the check passes when failed_rows = 0.
SELECT 'orders_have_items' AS check_name,
       COUNT(*) AS checked_rows,
       COALESCE(SUM(CASE WHEN i.order_id IS NULL THEN 1 ELSE 0 END), 0) AS failed_rows
FROM orders o
LEFT JOIN (SELECT DISTINCT order_id FROM order_items WHERE order_date = CAST(? AS DATE)) i ON o.order_id = i.order_id
WHERE o.order_date = CAST(? AS DATE)
