-- Colour groups ranked by units sold over the seven days ending on the latest day of data, with
-- their share of the week's units and revenue. Tables: sales_daily.
WITH latest AS (
    SELECT MAX(sales_date) AS last_day FROM sales_daily
), week AS (
    SELECT s.dimension_value AS colour_group,
           SUM(s.units) AS units,
           SUM(s.revenue) AS revenue
    FROM sales_daily s
    CROSS JOIN latest
    WHERE s.dimension = 'colour'
      AND s.sales_date > latest.last_day - INTERVAL '7' DAY
      AND s.sales_date <= latest.last_day
    GROUP BY s.dimension_value
)
SELECT colour_group,
       units,
       revenue,
       ROUND(100.0 * CAST(units AS DOUBLE) / SUM(CAST(units AS DOUBLE)) OVER (), 1) AS units_share_pct
FROM week
ORDER BY units DESC, colour_group
LIMIT 12
