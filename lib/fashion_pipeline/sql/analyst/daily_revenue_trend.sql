-- Daily net revenue, orders and customers of the web shop over the last 28 days of data, with
-- the seven-day moving average of revenue. Tables: sales_daily.
WITH latest AS (
    SELECT MAX(sales_date) AS last_day FROM sales_daily
), daily AS (
    SELECT s.sales_date,
           SUM(s.revenue) AS revenue,
           SUM(s.orders) AS orders,
           SUM(s.units) AS units
    FROM sales_daily s
    CROSS JOIN latest
    WHERE s.dimension = 'channel'
      AND s.sales_date > latest.last_day - INTERVAL '28' DAY
    GROUP BY s.sales_date
)
SELECT sales_date,
       revenue,
       orders,
       units,
       ROUND(AVG(revenue) OVER (ORDER BY sales_date ROWS BETWEEN 6 PRECEDING AND CURRENT ROW), 2) AS revenue_7d_avg
FROM daily
ORDER BY sales_date
