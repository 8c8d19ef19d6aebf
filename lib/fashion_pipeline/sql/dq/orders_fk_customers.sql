-- check: orders_fk_customers
-- blocking: true
-- description: every order of the day names a customer in the day's customers snapshot
-- Parameters: every ? is the run date, YYYY-MM-DD (Athena: ExecutionParameters, one per ?).
-- Returns one row: check_name, checked_rows, failed_rows; the check passes when failed_rows = 0.
SELECT 'orders_fk_customers' AS check_name,
       COUNT(*) AS checked_rows,
       COALESCE(SUM(CASE WHEN c.customer_id IS NULL THEN 1 ELSE 0 END), 0) AS failed_rows
FROM orders o
LEFT JOIN (SELECT customer_id FROM store_customers WHERE snapshot_date = CAST(? AS DATE)) c ON o.customer_id = c.customer_id
WHERE o.order_date = CAST(? AS DATE)
