-- check: order_items_fk_orders
-- blocking: true
-- description: every order line of the day belongs to an order of the day
-- Parameters: every ? is the run date, YYYY-MM-DD (Athena: ExecutionParameters, one per ?).
-- Returns one row: check_name, checked_rows, failed_rows; the check passes when failed_rows = 0.
SELECT 'order_items_fk_orders' AS check_name,
       COUNT(*) AS checked_rows,
       COALESCE(SUM(CASE WHEN o.order_id IS NULL THEN 1 ELSE 0 END), 0) AS failed_rows
FROM order_items i
LEFT JOIN (SELECT DISTINCT order_id FROM orders WHERE order_date = CAST(? AS DATE)) o ON i.order_id = o.order_id
WHERE i.order_date = CAST(? AS DATE)
