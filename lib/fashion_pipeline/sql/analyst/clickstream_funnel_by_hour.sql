-- The website's funnel hour by hour over the last two days of clicks: views, add-to-carts and
-- purchases, the share of views that led to a cart and of carts that led to a purchase, and
-- sessions. Partition columns in the filter, so Athena reads two days of folders. Tables: clickstream.
WITH latest AS (
    SELECT MAX(event_date) AS last_day FROM clickstream
)
SELECT c.event_date,
       c.event_hour,
       COUNT_IF(c.event_type = 'view') AS views,
       COUNT_IF(c.event_type = 'add_to_cart') AS carts,
       COUNT_IF(c.event_type = 'purchase') AS purchases,
       ROUND(CAST(COUNT_IF(c.event_type = 'add_to_cart') AS DOUBLE)
             / NULLIF(COUNT_IF(c.event_type = 'view'), 0), 4) AS view_to_cart,
       ROUND(CAST(COUNT_IF(c.event_type = 'purchase') AS DOUBLE)
             / NULLIF(COUNT_IF(c.event_type = 'add_to_cart'), 0), 4) AS cart_to_purchase,
       COUNT(DISTINCT c.session_id) AS sessions
FROM clickstream c
CROSS JOIN latest
WHERE c.event_date >= latest.last_day - INTERVAL '1' DAY
GROUP BY c.event_date, c.event_hour
ORDER BY c.event_date, c.event_hour
