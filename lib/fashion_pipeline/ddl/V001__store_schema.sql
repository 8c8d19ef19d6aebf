-- The web shop's OLTP schema (RDS PostgreSQL). Applied once, in file-name order, by
-- `fashion store migrate`, which records each file in schema_migrations; never edit an applied
-- file: add the next V00N__*.sql instead.

-- Customers: the H&M customer_id as the key, with the person behind it (synthetic, from Faker).
CREATE TABLE customers (
    customer_id        text        PRIMARY KEY CHECK (customer_id ~ '^[0-9a-f]{64}$'),
    first_name         text        NOT NULL,
    last_name          text        NOT NULL,
    email              text        NOT NULL,
    phone              text,
    street_address     text,
    city               text,
    postal_code        text,
    age                integer,
    club_member_status text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- The catalogue as the shop sells it: the H&M article attributes plus today's price and stock.
CREATE TABLE articles (
    article_id         text          PRIMARY KEY CHECK (article_id ~ '^[0-9]{10}$'),
    product_code       integer       NOT NULL,
    prod_name          text          NOT NULL,
    product_type_name  text          NOT NULL,
    product_group_name text          NOT NULL,
    colour_group_name  text          NOT NULL,
    department_name    text          NOT NULL,
    index_name         text          NOT NULL,
    index_group_name   text          NOT NULL,
    garment_group_name text          NOT NULL,
    price              numeric(10,2) NOT NULL CHECK (price > 0),
    stock              integer       NOT NULL CHECK (stock >= 0),
    updated_at         timestamptz   NOT NULL DEFAULT now()
);

-- Orders. customer_id is null for guest checkouts, which the lake does not accept.
CREATE TABLE orders (
    order_id         bigint      PRIMARY KEY,
    customer_id      text        REFERENCES customers (customer_id),
    status           text        NOT NULL,
    sales_channel_id smallint    NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CHECK (updated_at >= created_at)
);

-- Order lines. The point-of-sale client can write corrections as non-positive quantities,
-- so quantity is deliberately unconstrained here and validated by the extract.
CREATE TABLE order_items (
    order_id   bigint        NOT NULL REFERENCES orders (order_id),
    line_no    integer       NOT NULL,
    article_id text          NOT NULL REFERENCES articles (article_id),
    quantity   integer       NOT NULL,
    unit_price numeric(10,2) NOT NULL,
    updated_at timestamptz   NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

-- The nightly extract selects by change time.
CREATE INDEX orders_updated_at_idx ON orders (updated_at);
CREATE INDEX order_items_updated_at_idx ON order_items (updated_at);
CREATE INDEX orders_created_at_idx ON orders (created_at);
CREATE INDEX customers_updated_at_idx ON customers (updated_at);
CREATE INDEX articles_updated_at_idx ON articles (updated_at);
