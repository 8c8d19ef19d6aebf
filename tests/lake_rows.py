"""Small tables written straight into a test's lake as Parquet (pyarrow, no Spark), in each
table's declared schema and partition folders, for the storefront and dashboard tests."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import StructType

from fashion_pipeline.tables import LakeTable


def write_rows(config, table: LakeTable, rows: list[dict], file_name: str = "part-0.parquet") -> None:
    """Rows (dicts with every column, partition columns included) into the table's folders."""
    schema = to_arrow_schema(StructType(table.data_fields))
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[tuple(row[key] for key in table.partition_keys)].append(row)
    for values, members in groups.items():
        folder = Path(table.uri(config, **dict(zip(table.partition_keys, values))))
        folder.mkdir(parents=True, exist_ok=True)
        columns = {f.name: [m[f.name] for m in members] for f in schema}
        pq.write_table(pa.table(columns, schema=schema), folder / file_name)
