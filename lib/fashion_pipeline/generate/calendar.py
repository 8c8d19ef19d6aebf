"""The days the generator models (H&M's own, from `fashion_pipeline.dataset`) and how busy each is.

The model works in integer day offsets from FIRST_DAY. Each day has a relative sales volume
(weekday, season, growth, holiday and sale events) and an on-sale flag; `rows_per_day` spreads a
scale's transactions over the days by that volume, with no randomness, so the daily pattern is
the same whatever the seed.
"""
from __future__ import annotations

from datetime import date

import numpy as np

from fashion_pipeline.dataset import HM_FIRST_DAY, HM_LAST_DAY

FIRST_DAY = np.datetime64(HM_FIRST_DAY, "D")
LAST_DAY = np.datetime64(HM_LAST_DAY, "D")
N_DAYS = int((LAST_DAY - FIRST_DAY).astype(int)) + 1

WEEKDAY_WEIGHTS = (0.92, 0.90, 0.93, 0.98, 1.06, 1.18, 1.10)  # Monday..Sunday
GROWTH_OVER_PERIOD = 0.3
# (first day, last day, volume factor, on sale)
CALENDAR_EVENTS = (
    ("2018-11-23", "2018-11-26", 2.2, True), ("2019-11-29", "2019-12-02", 2.2, True),
    ("2018-12-01", "2018-12-22", 1.25, False), ("2019-12-01", "2019-12-22", 1.25, False),
    ("2018-12-26", "2019-01-10", 1.2, True), ("2019-12-26", "2020-01-10", 1.2, True),
    ("2019-06-20", "2019-07-14", 1.35, True), ("2020-06-20", "2020-07-14", 1.35, True),
    ("2020-03-20", "2020-04-30", 0.75, False),
)


def day_offset(day: date | str | np.datetime64) -> int:
    """Days since FIRST_DAY, the integer day the model works in."""
    return int((np.datetime64(day, "D") - FIRST_DAY).astype(int))


def day_strings() -> list[str]:
    """`YYYY-MM-DD` for every modelled day, indexed by day offset."""
    return [str(d) for d in np.arange(FIRST_DAY, LAST_DAY + 1)]


def _month_index_of_days() -> tuple[np.ndarray, int]:
    months = np.arange(FIRST_DAY, LAST_DAY + 1).astype("datetime64[M]").astype(np.int64)
    index = months - months[0]
    return index.astype(np.int32), int(index[-1]) + 1


# Month index (0 = FIRST_DAY's month) of each day offset, and how many months there are.
MONTH_OF_DAY, N_MONTHS = _month_index_of_days()


def month_of_day(day: int) -> int:
    """The month index of a day offset; days outside the modelled range count as its ends."""
    return int(MONTH_OF_DAY[min(max(day, 0), N_DAYS - 1)])


def _volume_and_sales() -> tuple[np.ndarray, np.ndarray]:
    """Relative sales volume and on-sale flag of each modelled day."""
    dates = np.arange(FIRST_DAY, LAST_DAY + 1)
    weekday = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    day_of_year = (dates - dates.astype("datetime64[Y]")).astype(np.int64)
    volume = np.asarray(WEEKDAY_WEIGHTS)[weekday]
    volume = volume * (1.0 + 0.18 * np.cos(2 * np.pi * (day_of_year - 172) / 365.25))
    volume = volume * (1.0 + GROWTH_OVER_PERIOD * np.arange(N_DAYS) / (N_DAYS - 1))
    on_sale = np.zeros(N_DAYS, dtype=bool)
    for first, last, factor, sale in CALENDAR_EVENTS:
        window = (dates >= np.datetime64(first)) & (dates <= np.datetime64(last))
        volume[window] *= factor
        on_sale |= window & sale
    return volume, on_sale


DAY_VOLUME, ON_SALE = _volume_and_sales()


def rows_per_day(n_transactions: int) -> np.ndarray:
    """Split the total exactly over days by largest remainder (no randomness, so the daily
    pattern is the same whatever the seed)."""
    share = DAY_VOLUME / DAY_VOLUME.sum() * n_transactions
    rows = np.floor(share).astype(np.int64)
    missing = n_transactions - int(rows.sum())
    rows[np.argsort(-(share - rows), kind="stable")[:missing]] += 1
    return rows
