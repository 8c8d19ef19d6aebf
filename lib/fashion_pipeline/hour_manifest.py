"""Which files of an hour of the clickstream table a query reads: the one function every reader
goes through, so that compaction (pipelines/compact_clickstream.py) can swap many small files for
a few large ones without a query ever seeing an event twice or not at all.

An hour folder `curated/clickstream/event_date=D/event_hour=H/` holds:
- `batch-<id>.parquet`: the streaming job's files, one per micro-batch that touched the hour;
- `_compacted/g<N>/part-*.parquet`: compacted generations. Spark, Hive and Trino skip paths whose
  name starts with `_`, so a reader that lists the folder never sees them on its own;
- `_manifest.json`: the commit point of the last compaction, written by one atomic PUT (one
  rename locally): the compacted files of generation N and the names of the batch files they hold.

The hour's visible files are the batch files the manifest does not name, plus the manifest's
compacted files (`HourListing.visible`). Before the manifest exists a reader sees the batch files
(the compacted copy is hidden); after it, the compacted files minus nothing the batch files held
(the replaced ones are dropped by name). A batch published after the compaction listed the folder
is not in the manifest, so it stays visible.

Athena cannot run this function, so each hour also has a Hive symlink manifest,
`curated/clickstream/_symlink/event_date=D/event_hour=H/symlink.txt`, listing the visible files;
the Glue table reads through it (SymlinkTextInputFormat, catalog/glue.py). It is rewritten, one
PUT, by the streaming publisher after every batch and by compaction after every commit.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Iterable

from fashion_pipeline.storage import Storage

MANIFEST_NAME = "_manifest.json"
COMPACTED_DIR = "_compacted"
SYMLINK_DIR = "_symlink"
SYMLINK_NAME = "symlink.txt"
_IN_HOUR = re.compile(r"/event_date=(?P<date>\d{4}-\d{2}-\d{2})/event_hour=(?P<hour>\d{1,2})/(?P<rest>.+)$")


@dataclass(frozen=True)
class HourManifest:
    generation: int
    committed_at: str  # ISO-8601 UTC; the grace period before replaced files are deleted runs from it
    files: tuple[str, ...]  # relative to the hour folder: `_compacted/g0001/part-00000.parquet`
    replaces: tuple[str, ...]  # names of batch files whose rows `files` hold
    rows: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "HourManifest":
        data = json.loads(text)
        return cls(generation=int(data["generation"]), committed_at=data["committed_at"],
                   files=tuple(data["files"]), replaces=tuple(data["replaces"]), rows=int(data["rows"]))


@dataclass(frozen=True)
class HourListing:
    """What one listing of an hour folder found."""

    table_uri: str
    event_date: date
    event_hour: int
    batch_files: tuple[str, ...] = ()  # names of the folder's own data files
    manifest: HourManifest | None = None
    compacted_found: tuple[str, ...] = field(default=(), compare=False)  # every `_compacted/...` file

    @property
    def uri(self) -> str:
        return hour_uri(self.table_uri, self.event_date, self.event_hour)

    @property
    def pending(self) -> tuple[str, ...]:
        """Batch files no manifest holds yet."""
        replaced = set(self.manifest.replaces) if self.manifest else set()
        return tuple(name for name in self.batch_files if name not in replaced)

    @property
    def visible(self) -> tuple[str, ...]:
        """The hour's files as every reader must see them, relative to the hour folder."""
        return self.pending + (self.manifest.files if self.manifest else ())

    def visible_uris(self) -> list[str]:
        return [f"{self.uri}/{name}" for name in self.visible]


def hour_uri(table_uri: str, event_date: date, event_hour: int) -> str:
    return f"{table_uri.rstrip('/')}/event_date={event_date.isoformat()}/event_hour={event_hour}"


def manifest_uri(table_uri: str, event_date: date, event_hour: int) -> str:
    return f"{hour_uri(table_uri, event_date, event_hour)}/{MANIFEST_NAME}"


def symlink_uri(table_uri: str, event_date: date, event_hour: int) -> str:
    return f"{table_uri.rstrip('/')}/{SYMLINK_DIR}/event_date={event_date.isoformat()}/event_hour={event_hour}/{SYMLINK_NAME}"


def symlink_root(table_uri: str) -> str:
    return f"{table_uri.rstrip('/')}/{SYMLINK_DIR}"


def hours_of(uris: Iterable[str]) -> list[tuple[date, int]]:
    """The (event_date, event_hour) folders the given file URIs lie in, in order."""
    hours = {(date.fromisoformat(m["date"]), int(m["hour"])) for m in map(_IN_HOUR.search, uris) if m}
    return sorted(hours)


def list_hours(storage: Storage, table_uri: str, event_dates: Iterable[date] | None = None) -> list[HourListing]:
    """Every hour folder of the table (or of the given days) with a data file or a manifest, in
    order. One listing per day given, else one of the whole table."""
    table_uri = table_uri.rstrip("/")
    prefixes = ([f"{table_uri}/event_date={d.isoformat()}" for d in sorted(set(event_dates))]
                if event_dates is not None else [table_uri])
    found: dict[tuple[date, int], dict] = {}
    manifests: dict[tuple[date, int], str] = {}
    for prefix in prefixes:
        for uri in storage.list_files(prefix):
            match = _IN_HOUR.search(uri)
            if match is None or f"/{SYMLINK_DIR}/" in uri[: match.start() + 1]:
                continue
            key = (date.fromisoformat(match["date"]), int(match["hour"]))
            entry = found.setdefault(key, {"batch": [], "compacted": []})
            rest = match["rest"]
            if rest == MANIFEST_NAME:
                manifests[key] = f"{hour_uri(table_uri, *key)}/{MANIFEST_NAME}"
            elif "/" not in rest and rest.endswith(".parquet") and not rest.startswith(("_", ".")):
                entry["batch"].append(rest)
            elif rest.startswith(f"{COMPACTED_DIR}/") and rest.endswith(".parquet"):
                entry["compacted"].append(rest)
    listings = []
    for key in sorted(found):
        manifest = HourManifest.from_json(storage.read_text(manifests[key])) if key in manifests else None
        if not found[key]["batch"] and manifest is None:
            continue
        listings.append(HourListing(table_uri, key[0], key[1], tuple(sorted(found[key]["batch"])), manifest,
                                    tuple(sorted(found[key]["compacted"]))))
    return listings


def read_hour(storage: Storage, table_uri: str, event_date: date, event_hour: int) -> HourListing:
    """One hour, also when it holds nothing (yet)."""
    for listing in list_hours(storage, table_uri, [event_date]):
        if listing.event_hour == event_hour:
            return listing
    return HourListing(table_uri.rstrip("/"), event_date, event_hour)


def visible_files(storage: Storage, table_uri: str, event_dates: Iterable[date] | None = None) -> list[str]:
    """The data files a query of the table (or of the given days) must read, each exactly once."""
    return [uri for listing in list_hours(storage, table_uri, event_dates) for uri in listing.visible_uris()]


def write_manifest(storage: Storage, listing: HourListing, manifest: HourManifest) -> None:
    storage.write_text(manifest_uri(listing.table_uri, listing.event_date, listing.event_hour), manifest.to_json())


def symlink_text(listing: HourListing) -> str:
    # Athena takes s3:// only (EMR may call the same objects s3a://).
    return "".join(f"{uri.replace('s3a://', 's3://', 1)}\n" for uri in listing.visible_uris())


def sync_symlink(storage: Storage, listing: HourListing, attempts: int = 3) -> bool:
    """Make the hour's symlink manifest list what is visible; True if it was rewritten.

    Two writers may race on one hour (the streaming job's late batch, a compaction's commit): each
    ends by listing the hour again after its PUT and rewriting until the symlink matches a listing
    taken after its own write, so the last writer leaves the current set."""
    uri = symlink_uri(listing.table_uri, listing.event_date, listing.event_hour)
    changed = False
    for _ in range(attempts):
        text = symlink_text(listing)
        if storage.exists(uri) and storage.read_text(uri) == text:
            return changed
        storage.write_text(uri, text)
        changed = True
        listing = read_hour(storage, listing.table_uri, listing.event_date, listing.event_hour)
    return changed


def symlink_is_current(storage: Storage, listing: HourListing) -> bool:
    uri = symlink_uri(listing.table_uri, listing.event_date, listing.event_hour)
    return storage.exists(uri) and storage.read_text(uri) == symlink_text(listing)
