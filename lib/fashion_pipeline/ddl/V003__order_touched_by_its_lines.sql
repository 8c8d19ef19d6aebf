-- A change to an order's lines is a change to the order: orders.updated_at follows its lines,
-- whatever client wrote them, so "orders changed on day D" is one index range on
-- orders(updated_at) and the nightly extract needs no scan of order_items to find its work.
-- Statement-level triggers with transition tables: a bulk load costs one UPDATE per statement,
-- and rows already as new as their lines (the usual insert) are not rewritten.
CREATE FUNCTION touch_orders_from_lines() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE orders AS o
       SET updated_at = c.updated_at
      FROM (SELECT order_id, max(updated_at) AS updated_at FROM changed_lines GROUP BY order_id) AS c
     WHERE o.order_id = c.order_id
       AND o.updated_at < c.updated_at;
    RETURN NULL;
END;
$$;

CREATE FUNCTION touch_orders_from_removed_lines() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE orders AS o
       SET updated_at = greatest(o.updated_at, now())
     WHERE o.order_id IN (SELECT order_id FROM removed_lines);
    RETURN NULL;
END;
$$;

CREATE TRIGGER order_items_inserted AFTER INSERT ON order_items
    REFERENCING NEW TABLE AS changed_lines FOR EACH STATEMENT EXECUTE FUNCTION touch_orders_from_lines();
CREATE TRIGGER order_items_updated AFTER UPDATE ON order_items
    REFERENCING NEW TABLE AS changed_lines FOR EACH STATEMENT EXECUTE FUNCTION touch_orders_from_lines();
CREATE TRIGGER order_items_deleted AFTER DELETE ON order_items
    REFERENCING OLD TABLE AS removed_lines FOR EACH STATEMENT EXECUTE FUNCTION touch_orders_from_removed_lines();
