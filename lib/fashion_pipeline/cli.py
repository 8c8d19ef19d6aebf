"""`fashion`: the command line of the platform. Each subcommand imports what it needs lazily so
that `fashion services status` answers without starting a JVM."""
from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

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


def _cmd_services(args: argparse.Namespace) -> int:
    from fashion_pipeline.services import ServiceError, after_services_up, local_services

    config = config_from_args(args)
    services = local_services(config)
    try:
        if args.action == "up":
            for service in services:
                print(service.up())
            for line in after_services_up(config, services):
                print(line)
        elif args.action == "down":
            for service in reversed(services):
                print(service.down())
        for service in services:
            if args.action == "status":
                print(service.status().line())
    except ServiceError as error:
        print(f"fashion services: {error}", file=sys.stderr)
        return 1
    return 0


def _cmd_land(args: argparse.Namespace) -> int:
    from fashion_pipeline.landing import LandingError, land_directory
    from fashion_pipeline.storage import storage_for

    config = config_from_args(args)
    try:
        outcomes = land_directory(Path(args.source), config.paths.raw_root, args.ingest_date, storage_for(config))
    except LandingError as error:
        print(f"fashion land: {error}", file=sys.stderr)
        return 1
    for outcome in outcomes:
        print(outcome.line())
    return 0


def _cmd_partition_raw(args: argparse.Namespace) -> int:
    from fashion_pipeline.jobs import run_job_with_args
    from fashion_pipeline.pipelines.partition_raw import run_partition_raw

    return run_job_with_args("partition_raw", run_partition_raw, args)


def _cmd_demo(args: argparse.Namespace) -> int:
    from fashion_pipeline.demo import run_demo

    return run_demo(config_from_args(args), scale=args.scale, seed=args.seed)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fashion", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write synthetic H&M-schema data")
    generate.add_argument("--scale", choices=["tiny", "small", "medium", "hm"], default="small")
    generate.add_argument("--seed", type=int, default=42)
    generate.add_argument("--out", required=True, help="directory for the CSV files")
    generate.add_argument("--quiet", action="store_true", help="no progress bar")
    generate.set_defaults(handler=_cmd_generate)

    services = commands.add_parser("services", help="the embedded local stack (moto, PostgreSQL)")
    services.add_argument("action", choices=["up", "down", "status"])
    add_config_options(services)
    services.set_defaults(handler=_cmd_services)

    land = commands.add_parser("land", help="copy or upload raw H&M files into the raw zone")
    land.add_argument("--from", dest="source", required=True, help="directory holding the H&M CSVs")
    land.add_argument("--ingest-date", type=date.fromisoformat, default=date.today(), help="YYYY-MM-DD (default: today)")
    add_config_options(land)
    land.set_defaults(handler=_cmd_land)

    partition_raw = commands.add_parser("partition-raw", help="run jobs/partition_raw.py in this process")
    add_config_options(partition_raw)
    partition_raw.set_defaults(handler=_cmd_partition_raw)

    demo = commands.add_parser("demo", help="the whole pipeline end to end on the embedded stack")
    demo.add_argument("--scale", choices=["tiny", "small", "medium", "hm"], default="small")
    demo.add_argument("--seed", type=int, default=42)
    add_config_options(demo)
    demo.set_defaults(handler=_cmd_demo)

    from fashion_pipeline.recs.cli import add_recs_commands

    add_recs_commands(commands, add_config_options)
    from fashion_pipeline.store.commands import add_store_commands

    add_store_commands(commands, add_config_options)
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
