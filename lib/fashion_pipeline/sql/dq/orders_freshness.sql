-- check: orders_freshness
-- blocking: true
-- description: the lake holds order changes made on the run date (the extract ran and found the day's activity)
-- Parameters: every ? is the run date, YYYY-MM-DD (Athena: ExecutionParameters, one per ?).
-- Returns one row: check_name, checked_rows, failed_rows; the check passes when failed_rows = 0.
SELECT 'orders_freshness' AS check_name,
       COUNT(*) AS checked_rows,
       CASE WHEN COUNT(*) = 0 THEN 1 ELSE 0 END AS failed_rows
FROM orders
WHERE order_date BETWEEN CAST(? AS DATE) - INTERVAL '60' DAY AND CAST(? AS DATE)
  AND CAST(updated_at AS DATE) = CAST(? AS DATE)
