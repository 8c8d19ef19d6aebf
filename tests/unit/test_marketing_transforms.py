"""Marketing aggregates on a few hand-made sales lines."""
from datetime import date, timedelta
from decimal import Decimal

from fashion_pipeline.transforms.marketing import rfm_measures, top_sellers, trend_movers, with_rfm_segments

AS_OF = date(2020, 9, 30)
LINES_DDL = ("sales_date date, order_id long, customer_id string, sales_channel string, article_id string, "
             "prod_name string, product_type_name string, colour_group_name string, department_name string, "
             "index_group_name string, quantity int, line_amount decimal(20,2)")


def _line(days_back, order_id, customer, article, quantity):
    return (AS_OF - timedelta(days=days_back), order_id, customer, "online", article, f"Item {article}", "Vest top",
            "Black", "Jersey", "Ladieswear", quantity, Decimal(10 * quantity))


def test_trend_movers_rank_growth_above_the_volume_floor(spark):
    lines = spark.createDataFrame([
        _line(10, 1, "a", "riser", 10), _line(2, 2, "a", "riser", 30),      # 10 -> 30: +200%
        _line(9, 3, "b", "faller", 20), _line(1, 4, "b", "faller", 5),      # 20 -> 5: -75%
        _line(8, 5, "c", "tiny", 1), _line(0, 6, "c", "tiny", 4),           # +300%, but under the floor
        _line(3, 7, "d", "new", 12),                                        # 0 -> 12: growth over max(last, 1)
    ], LINES_DDL)
    movers = {(r.direction, r.article_id): (r.rank, r.last_week_units, r.this_week_units, r.growth)
              for r in trend_movers(lines, AS_OF, min_units=10, top_n=5).collect()}
    assert movers == {
        ("rising", "new"): (1, 0, 12, 12.0),
        ("rising", "riser"): (2, 10, 30, 2.0),
        ("falling", "faller"): (1, 20, 5, -0.75),
    }
    top = [(r.rank, r.article_id, r.units) for r in top_sellers(lines, AS_OF, top_n=2).collect()]
    assert top == [(1, "riser", 30), (2, "new", 12)]


def test_rfm_scores_and_segments(spark):
    rows = []
    for n, customer in enumerate("abcdefghij"):
        # customer a bought most recently and most often, j longest ago and once
        for k in range(10 - n):
            rows.append(_line(n * 20 + k, 100 * n + k, customer, "x", 1))
    measures = rfm_measures(spark.createDataFrame(rows, LINES_DDL), AS_OF)
    thresholds = {"recency_days": [40.0, 80.0, 120.0, 160.0], "frequency": [2.0, 4.0, 6.0, 8.0],
                  "monetary": [20.0, 40.0, 60.0, 80.0]}
    scored = {r.customer_id: r for r in with_rfm_segments(measures, thresholds, AS_OF).collect()}
    assert (scored["a"].recency_days, scored["a"].frequency, scored["a"].monetary) == (0, 10, Decimal("100.00"))
    assert (scored["a"].r_score, scored["a"].f_score, scored["a"].m_score) == (5, 5, 5)
    assert (scored["j"].r_score, scored["j"].f_score) == (1, 1)
    assert scored["a"].segment == "champions" and scored["j"].segment == "hibernating"
    assert scored["a"].as_of_date == AS_OF
