-- check: order_items_valid_values
-- blocking: true
-- description: the day's order lines have an article, a positive quantity and price, and amount = quantity x price
-- Parameters: every ? is the run date, YYYY-MM-DD (Athena: ExecutionParameters, one per ?).
-- Returns one row: check_name, checked_rows, failed_rows; the check passes when failed_rows = 0.
SELECT 'order_items_valid_values' AS check_name,
       COUNT(*) AS checked_rows,
       COALESCE(SUM(CASE
           WHEN article_id IS NULL OR quantity IS NULL OR unit_price IS NULL OR line_amount IS NULL THEN 1
           WHEN quantity <= 0 OR unit_price <= 0 THEN 1
           WHEN line_amount <> quantity * unit_price THEN 1
           ELSE 0 END), 0) AS failed_rows
FROM order_items
WHERE order_date = CAST(? AS DATE)
