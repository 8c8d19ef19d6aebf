"""Data-quality checks written once, as Athena SQL files in fashion_pipeline/sql/dq/.

Each file starts with `-- check:`, `-- blocking:` and `-- description:` lines and returns one row
(check_name, checked_rows, failed_rows); every `?` is the run date. Airflow runs the files
through Athena, one query execution per check, and reads each result by its own execution id;
the Spark job runs the very same files (transpiled by sqlglot) over the lake's tables.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from importlib import resources

from fashion_pipeline.errors import PipelineError

SQL_PACKAGE_DIR = "sql/dq"
_HEADER = re.compile(r"^--\s*(check|blocking|description):\s*(.+?)\s*$", re.MULTILINE)


class DataQualityFailure(PipelineError):
    """A blocking check failed."""


@dataclass(frozen=True)
class SqlCheck:
    name: str
    blocking: bool
    description: str
    sql: str  # Athena dialect

    @property
    def placeholder_count(self) -> int:
        import sqlglot
        from sqlglot import exp

        return len(list(sqlglot.parse_one(self.sql, read="athena").find_all(exp.Placeholder)))

    def parameters(self, run_date: date) -> list[str]:
        """Positional values for the `?` placeholders (all the run date)."""
        return [run_date.isoformat()] * self.placeholder_count

    def athena_execution_parameters(self, run_date: date) -> list[str]:
        """Athena's ExecutionParameters are SQL literals: a quoted date string per `?`."""
        return [f"'{value}'" for value in self.parameters(run_date)]


@dataclass
class CheckResult:
    name: str
    blocking: bool
    description: str
    run_date: str
    checked_rows: int
    failed_rows: int
    details: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.failed_rows == 0

    @property
    def status(self) -> str:
        if self.passed:
            return "pass"
        return "fail" if self.blocking else "warn"

    def line(self) -> str:
        return (f"{self.status.upper():<5} {self.name:<28} {self.failed_rows:>8,} of {self.checked_rows:>10,} rows"
                f"{'' if self.blocking else '  (non-blocking)'}")


def load_sql_checks() -> list[SqlCheck]:
    checks = []
    folder = resources.files("fashion_pipeline").joinpath(SQL_PACKAGE_DIR)
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        sql = entry.read_text(encoding="utf-8")
        header = dict(_HEADER.findall(sql))
        missing = {"check", "blocking", "description"} - header.keys()
        if missing:
            raise ValueError(f"{SQL_PACKAGE_DIR}/{entry.name} lacks header line(s): {sorted(missing)}")
        if header["check"] != entry.name.removesuffix(".sql"):
            raise ValueError(f"{SQL_PACKAGE_DIR}/{entry.name} declares check {header['check']!r}")
        checks.append(SqlCheck(header["check"], header["blocking"].lower() == "true", header["description"], sql))
    return checks


def athena_to_spark(sql: str) -> str:
    import sqlglot

    return sqlglot.transpile(sql, read="athena", write="spark")[0]
