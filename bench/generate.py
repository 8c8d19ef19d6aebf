"""Time the synthetic H&M generator: wall time, rows/s, MB written and peak RSS.

    .venv/bin/python bench/generate.py --scale hm --out /tmp/x [--cleanup]

Peak RSS is `ru_maxrss` of this process plus its children (the generator starts none today).
"""
from __future__ import annotations

import argparse
import platform
import resource
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from fashion_pipeline.generate import SCALES, generate_hm  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "out" / "generate"


def peak_rss_mib() -> float:
    """ru_maxrss is in KiB on Linux; the larger of self and children is the true peak."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="medium")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--progress", action="store_true", help="show the progress bar")
    parser.add_argument("--cleanup", action="store_true", help="delete the output afterwards")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    result = generate_hm(args.scale, args.seed, args.out, progress=args.progress)
    seconds = time.perf_counter() - started
    transactions = result.row_counts["transactions"]
    megabytes = result.bytes_written / 1e6
    print(result.summary())
    print(f"machine: {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}")
    print(f"wall {seconds:.1f} s | {transactions / seconds:,.0f} transaction rows/s | "
          f"{megabytes:,.1f} MB written ({megabytes / seconds:,.1f} MB/s) | "
          f"peak RSS {peak_rss_mib():,.0f} MiB")
    if args.cleanup:
        shutil.rmtree(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
