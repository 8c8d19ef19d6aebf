-- check: duplicate_orders
-- blocking: false
-- description: orders of the day that repeat another order of the same customer placed at the same instant (double submits)
-- Parameters: every ? is the run date, YYYY-MM-DD (Athena: ExecutionParameters, one per ?).
-- Returns one row: check_name, checked_rows, failed_rows; the check passes when failed_rows = 0.
WITH same_instant AS (
    SELECT customer_id, created_at, COUNT(*) AS n
    FROM orders
    WHERE order_date = CAST(? AS DATE)
    GROUP BY customer_id, created_at
)
SELECT 'duplicate_orders' AS check_name,
       COALESCE(SUM(n), 0) AS checked_rows,
       COALESCE(SUM(n - 1), 0) AS failed_rows
FROM same_instant
