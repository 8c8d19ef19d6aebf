-- check: order_items_pk_unique
-- blocking: true
-- description: (order_id, line_no) is unique among the day's order lines
-- Parameters: every ? is the run date, YYYY-MM-DD (Athena: ExecutionParameters, one per ?).
-- Returns one row: check_name, checked_rows, failed_rows; the check passes when failed_rows = 0.
SELECT 'order_items_pk_unique' AS check_name,
       COUNT(*) AS checked_rows,
       COUNT(*) - COUNT(DISTINCT CAST(order_id AS VARCHAR) || '/' || CAST(line_no AS VARCHAR)) AS failed_rows
FROM order_items
WHERE order_date = CAST(? AS DATE)
