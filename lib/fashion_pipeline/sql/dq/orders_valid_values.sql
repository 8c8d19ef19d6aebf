-- check: orders_valid_values
-- blocking: true
-- description: the day's orders have a customer, a known status and channel, and consistent times and partition
-- Parameters: every ? is the run date, YYYY-MM-DD (Athena: ExecutionParameters, one per ?).
-- Returns one row: check_name, checked_rows, failed_rows; the check passes when failed_rows = 0.
SELECT 'orders_valid_values' AS check_name,
       COUNT(*) AS checked_rows,
       COALESCE(SUM(CASE
           WHEN customer_id IS NULL OR status IS NULL OR sales_channel_id IS NULL
             OR created_at IS NULL OR updated_at IS NULL THEN 1
           WHEN status NOT IN ('placed', 'paid', 'shipped', 'delivered', 'cancelled', 'returned') THEN 1
           WHEN sales_channel_id NOT IN (1, 2) THEN 1
           WHEN updated_at < created_at THEN 1
           WHEN CAST(created_at AS DATE) <> order_date THEN 1
           ELSE 0 END), 0) AS failed_rows
FROM orders
WHERE order_date = CAST(? AS DATE)
