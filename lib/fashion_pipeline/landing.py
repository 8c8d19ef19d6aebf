"""Landing: raw H&M files go to `<raw_root>/hm/<table>/ingest_date=YYYY-MM-DD/`, once per content.

Every landed file gets a manifest entry keyed by the SHA-256 of its bytes, written after the file
itself (the manifest is the commit marker). A file whose content was landed before, under any
name or ingest date, is skipped, so landing twice can never double anything downstream.
`partition_raw` reads only files that have a manifest entry.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from fashion_pipeline.config import join_uri
from fashion_pipeline.errors import PipelineError
from fashion_pipeline.landing_manifest import ManifestEntry, hm_root, manifest_prefix, read_manifest  # noqa: F401
from fashion_pipeline.schemas import HM_TABLES_BY_FILE, TableSpec
from fashion_pipeline.storage import Storage, file_sha256

SHORT_HASH = 12


class LandingError(PipelineError, ValueError):
    """A file cannot be landed: unknown name, wrong header, nothing to land."""


@dataclass(frozen=True)
class LandingOutcome:
    table: str
    source: str
    landed: bool
    entry: ManifestEntry

    def line(self) -> str:
        if self.landed:
            return f"landed   {self.table:<13} {self.entry.bytes:>14,} B -> {self.entry.uri}"
        return (
            f"skipped  {self.table:<13} same content already landed on "
            f"{self.entry.ingest_date} ({self.entry.uri})"
        )


def land_directory(source_dir: Path, raw_root: str, ingest_date: date, storage: Storage) -> list[LandingOutcome]:
    source_dir = Path(source_dir)
    found = [(source_dir / name, spec) for name, spec in HM_TABLES_BY_FILE.items() if (source_dir / name).is_file()]
    if not found:
        expected = ", ".join(HM_TABLES_BY_FILE)
        raise LandingError(f"nothing to land in {source_dir}: expected one of {expected}")
    # Dimensions first: a reader that sees new transactions must also see their articles.
    return [land_file(path, spec, raw_root, ingest_date, storage) for path, spec in found]


def land_file(path: Path, spec: TableSpec, raw_root: str, ingest_date: date, storage: Storage) -> LandingOutcome:
    check_header(path, spec)
    digest, size = file_sha256(path)
    manifest_uri = join_uri(manifest_prefix(raw_root, spec.name), f"{digest}.json")
    if storage.exists(manifest_uri):
        previous = ManifestEntry(**json.loads(storage.read_text(manifest_uri)))
        return LandingOutcome(spec.name, str(path), landed=False, entry=previous)
    stem, suffix = path.name.rsplit(".", 1)
    target_uri = join_uri(
        hm_root(raw_root), spec.name, f"ingest_date={ingest_date.isoformat()}",
        f"{stem}_{digest[:SHORT_HASH]}.{suffix}",
    )
    storage.put_file(path, target_uri)
    entry = ManifestEntry(
        table=spec.name,
        source_name=path.name,
        sha256=digest,
        bytes=size,
        ingest_date=ingest_date.isoformat(),
        landed_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        uri=target_uri,
    )
    storage.write_text(manifest_uri, json.dumps(asdict(entry), indent=2))
    return LandingOutcome(spec.name, str(path), landed=True, entry=entry)


def check_header(path: Path, spec: TableSpec) -> None:
    with open(path, "r", encoding="utf-8-sig", newline="") as handle:
        header = handle.readline().rstrip("\r\n")
    if not header and path.stat().st_size == 0:
        raise LandingError(f"{path}: empty file, expected the header {','.join(spec.raw_columns)}")
    columns = tuple(column.strip().strip('"') for column in header.split(","))
    if columns != spec.raw_columns:
        raise LandingError(
            f"{path}: header {','.join(columns)!r} does not match the H&M {spec.name} schema "
            f"{','.join(spec.raw_columns)!r}"
        )
