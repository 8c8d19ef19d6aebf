"""The `fashion` subcommands of the nightly store batch, added to the main parser by cli.py:

    fashion store migrate | simulate --date D
    fashion extract-rds | daily-aggregates | data-quality --run-date D
    fashion catalog sync | ddl
    fashion query FILE.sql
"""
from __future__ import annotations

import argparse
import sys
from datetime import date

from fashion_pipeline.jobs import add_run_date_option


def add_store_commands(commands, add_config_options) -> None:
    store = commands.add_parser("store", help="the store's PostgreSQL database (local RDS)")
    store_actions = store.add_subparsers(dest="store_action", required=True)
    migrate = store_actions.add_parser("migrate", help="apply the versioned DDL in fashion_pipeline/ddl")
    add_config_options(migrate)
    migrate.set_defaults(handler=_cmd_store_migrate)
    simulate = store_actions.add_parser("simulate", help="write one day of orders and late changes")
    simulate.add_argument("--date", dest="day", type=date.fromisoformat, required=True, help="YYYY-MM-DD")
    add_config_options(simulate)
    simulate.set_defaults(handler=_cmd_store_simulate)

    for name, module, function, about in (
        ("extract-rds", "extract_rds", "run_extract_rds", "run jobs/extract_rds.py in this process"),
        ("daily-aggregates", "daily_aggregates", "run_daily_aggregates", "run jobs/daily_aggregates.py in this process"),
        ("data-quality", "data_quality", "run_data_quality", "run jobs/data_quality.py in this process"),
    ):
        job = commands.add_parser(name, help=about)
        add_run_date_option(job)
        add_config_options(job)
        job.set_defaults(handler=_job_handler(module, function))

    catalog = commands.add_parser("catalog", help="Glue database and tables from the declared schemas")
    catalog.add_argument("action", choices=["sync", "ddl"], help="sync: create or update through boto3; ddl: print Athena DDL")
    add_config_options(catalog)
    catalog.set_defaults(handler=_cmd_catalog)

    query = commands.add_parser("query", help="run an Athena SQL file locally over the lake (DuckDB)")
    query.add_argument("sql_file", help="path to a .sql file written for Athena")
    query.add_argument("--param", action="append", default=[], help="value for each ? placeholder, in order")
    query.add_argument("--limit", type=int, default=50, help="rows to print")
    add_config_options(query)
    query.set_defaults(handler=_cmd_query)


def _job_handler(module: str, function: str):
    def handler(args: argparse.Namespace) -> int:
        import importlib

        from fashion_pipeline.jobs import run_job_with_args

        pipeline = getattr(importlib.import_module(f"fashion_pipeline.pipelines.{module}"), function)
        return run_job_with_args(module, pipeline, args)

    return handler


def _config(args):
    from fashion_pipeline.cli import config_from_args

    return config_from_args(args)


def _cmd_store_migrate(args: argparse.Namespace) -> int:
    from fashion_pipeline.store.credentials import CredentialsError, resolve_rds_connection
    from fashion_pipeline.store.database import StoreUnavailableError, apply_migrations

    try:
        for line in apply_migrations(resolve_rds_connection(_config(args))):
            print(line)
    except (CredentialsError, StoreUnavailableError) as error:
        print(f"fashion store migrate: {error}", file=sys.stderr)
        return 1
    return 0


def _cmd_store_simulate(args: argparse.Namespace) -> int:
    from fashion_pipeline.store.credentials import CredentialsError, resolve_rds_connection
    from fashion_pipeline.store.database import StoreUnavailableError
    from fashion_pipeline.store.simulate import simulate_day

    config = _config(args)
    try:
        print(simulate_day(config, resolve_rds_connection(config), args.day).summary())
    except (CredentialsError, StoreUnavailableError) as error:
        print(f"fashion store simulate: {error}", file=sys.stderr)
        return 1
    return 0


def _cmd_catalog(args: argparse.Namespace) -> int:
    from fashion_pipeline.catalog.glue import athena_ddl, sync_catalog

    config = _config(args)
    if args.action == "ddl":
        print(athena_ddl(config))
        return 0
    for line in sync_catalog(config):
        print(line)
    return 0


def _cmd_query(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fashion_pipeline.catalog.local_query import QueryError, run_athena_file

    try:
        result = run_athena_file(_config(args), Path(args.sql_file), args.param)
    except QueryError as error:
        print(f"fashion query: {error}", file=sys.stderr)
        return 1
    print(result.to_string(max_rows=args.limit, index=False))
    return 0
