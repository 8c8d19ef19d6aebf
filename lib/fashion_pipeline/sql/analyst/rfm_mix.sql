-- Customers, revenue and average recency per RFM segment as of the latest day the aggregates ran.
-- Tables: customer_rfm.
WITH latest AS (
    SELECT * FROM customer_rfm WHERE as_of_date = (SELECT MAX(as_of_date) FROM customer_rfm)
)
SELECT segment,
       COUNT(*) AS customers,
       ROUND(100.0 * COUNT(*) / SUM(COUNT(*)) OVER (), 1) AS customers_pct,
       SUM(monetary) AS revenue,
       ROUND(AVG(recency_days), 1) AS avg_recency_days,
       ROUND(AVG(frequency), 2) AS avg_orders
FROM latest
GROUP BY segment
ORDER BY revenue DESC
