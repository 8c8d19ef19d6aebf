"""Facts of the H&M data set the platform models (and the generator reproduces): its days of sales.

Plain Python (no Spark), so the generator, the configuration and the Lambda code can share it."""
from __future__ import annotations

from datetime import date

HM_FIRST_DAY = date(2018, 9, 20)
HM_LAST_DAY = date(2020, 9, 22)
