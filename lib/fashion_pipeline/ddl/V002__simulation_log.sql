-- Days `fashion store simulate` has written, so that simulating a day twice changes nothing.
CREATE TABLE simulated_days (
    day        date        PRIMARY KEY,
    orders     integer     NOT NULL,
    changes    integer     NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now()
);
