-- check: order_items_fk_articles
-- blocking: true
-- description: every order line of the day names an article in the day's articles snapshot
-- Parameters: every ? is the run date, YYYY-MM-DD (Athena: ExecutionParameters, one per ?).
-- Returns one row: check_name, checked_rows, failed_rows; the check passes when failed_rows = 0.
SELECT 'order_items_fk_articles' AS check_name,
       COUNT(*) AS checked_rows,
       COALESCE(SUM(CASE WHEN a.article_id IS NULL THEN 1 ELSE 0 END), 0) AS failed_rows
FROM order_items i
LEFT JOIN (SELECT article_id FROM store_articles WHERE snapshot_date = CAST(? AS DATE)) a ON i.article_id = a.article_id
WHERE i.order_date = CAST(? AS DATE)
