"""`fashion lambda package`: the fast path's deployment zip.

What goes in: the handler's own modules (plain Python, listed in HANDLER_MODULES: no Spark, no
pydantic, no numpy), aws-lambda-powertools and the pure-Python packages it requires, and the
resolved real-time settings as JSON (`fashion_realtime_settings.json`, see settings.py) in place
of the YAML configuration. boto3 and its dependencies are left out: the Lambda Python runtime
provides them. A dependency with compiled files is refused (it would need a build for the
Lambda's platform). Entries are sorted and time-stamped 1980-01-01, so the same sources and
settings always give the same bytes (and the same CodeSha256 when deployed).

Handler: `fashion_pipeline.realtime.lambda_handler.handler`; runtime python3.11.
"""
from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath

from fashion_pipeline.errors import PipelineError
from fashion_pipeline.realtime.settings import PACKAGED_SETTINGS_FILE, RealtimeSettings

HANDLER = "fashion_pipeline.realtime.lambda_handler.handler"
RUNTIME = "python3.11"
HANDLER_MODULES = (
    "fashion_pipeline/__init__.py",
    "fashion_pipeline/errors.py",
    "fashion_pipeline/aws.py",
    "fashion_pipeline/clickstream/__init__.py",
    "fashion_pipeline/clickstream/contract.py",
    "fashion_pipeline/clickstream/validation.py",
    "fashion_pipeline/recs/__init__.py",
    "fashion_pipeline/recs/items.py",
    "fashion_pipeline/realtime/__init__.py",
    "fashion_pipeline/realtime/rule.py",
    "fashion_pipeline/realtime/settings.py",
    "fashion_pipeline/realtime/store.py",
    "fashion_pipeline/realtime/lambda_handler.py",
)
BUNDLED_DISTRIBUTIONS = ("aws-lambda-powertools",)
# In every Lambda Python runtime (boto3 and what it needs): never bundled.
PROVIDED_BY_RUNTIME = {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six"}
COMPILED_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
LIB_ROOT = Path(__file__).resolve().parents[2]  # the directory holding the fashion_pipeline package


class PackageError(PipelineError):
    """The Lambda package cannot be built."""


@dataclass(frozen=True)
class PackageResult:
    path: Path
    files: int
    bytes: int
    sha256: str
    distributions: dict[str, str]  # name -> version bundled

    def summary(self) -> str:
        bundled = ", ".join(f"{name} {version}" for name, version in sorted(self.distributions.items()))
        return (f"lambda package {self.path}: {self.files} files, {self.bytes / 1e6:.2f} MB, sha256 {self.sha256[:16]}; "
                f"handler {HANDLER} ({RUNTIME}); bundled {bundled}; boto3 from the runtime")


def build_lambda_package(out_path: Path, settings: RealtimeSettings) -> PackageResult:
    """Write the zip to `out_path` (replaced if present)."""
    entries: dict[str, bytes] = {}
    for module in HANDLER_MODULES:
        entries[module] = (LIB_ROOT / module).read_bytes()
    entries[PACKAGED_SETTINGS_FILE] = settings.to_json().encode("utf-8")
    bundled = {}
    for distribution in _closure(BUNDLED_DISTRIBUTIONS):
        bundled[distribution.metadata["Name"]] = distribution.version
        entries.update(_distribution_files(distribution))

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(f".{out_path.name}.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name])
    partial.replace(out_path)
    data = out_path.read_bytes()
    return PackageResult(out_path, len(entries), len(data), hashlib.sha256(data).hexdigest(), bundled)


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(names) -> list[metadata.Distribution]:
    """The distributions and everything they require (no extras), minus what the runtime has."""
    found: dict[str, metadata.Distribution] = {}
    pending = list(names)
    while pending:
        name = _normalise(pending.pop())
        if name in found or name in PROVIDED_BY_RUNTIME:
            continue
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise PackageError(f"{name} is not installed: run `make venv` (it is a dependency in setup.py)") from None
        found[name] = distribution
        for requirement in distribution.requires or []:
            if "extra ==" in requirement.replace('"', "").replace("'", ""):
                continue
            pending.append(re.split(r"[\s;<>=!~\[(]", requirement.strip(), maxsplit=1)[0])
    return [found[name] for name in sorted(found)]


def _distribution_files(distribution: metadata.Distribution) -> dict[str, bytes]:
    files = {}
    for file in distribution.files or []:
        path = PurePosixPath(str(file))
        if path.parts[0].endswith(".dist-info") or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        if path.parts[0] in ("..", "bin") or path.is_absolute():
            continue  # scripts and files outside site-packages are no part of an importable package
        if path.suffix in COMPILED_SUFFIXES:
            raise PackageError(f"{distribution.metadata['Name']} has compiled code ({path}): it cannot go into a "
                               f"platform-independent zip")
        files[str(path)] = Path(distribution.locate_file(file)).read_bytes()
    return files
