"""`fashion`: the command line of the platform. Each subcommand imports what it needs lazily so
that `fashion services status` answers without starting a JVM."""
from __future__ import annotations

import argparse
import sys

from fashion_pipeline.config import ConfigError, load_config


def add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", help="configuration to load from conf/<env>.yaml (default: local)")
    parser.add_argument("--raw-root", help="where raw files are landed (path or s3:// URI)")
    parser.add_argument("--lake-root", help="root of the curated lake (path or s3:// URI)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="override any configuration value, e.g. --set spark.shuffle_partitions=4",
    )


def config_from_args(args: argparse.Namespace):
    overrides = {"paths.raw_root": args.raw_root, "paths.lake_root": args.lake_root}
    for assignment in args.set:
        key, sep, value = assignment.partition("=")
        if not sep:
            raise ConfigError(f"--set expects SECTION.KEY=VALUE, got {assignment!r}")
        overrides[key] = value
    return load_config(env=args.env, overrides=overrides)


def _cmd_generate(args: argparse.Namespace) -> int:
    from fashion_pipeline.generate import generate_hm

    result = generate_hm(scale=args.scale, seed=args.seed, out_dir=args.out, progress=not args.quiet)
    print(result.summary())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fashion", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write synthetic H&M-schema data")
    generate.add_argument("--scale", choices=["tiny", "small", "medium", "hm"], default="small")
    generate.add_argument("--seed", type=int, default=42)
    generate.add_argument("--out", required=True, help="directory for the CSV files")
    generate.add_argument("--quiet", action="store_true", help="no progress bar")
    generate.set_defaults(handler=_cmd_generate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except ConfigError as error:
        print(f"fashion: configuration error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
