"""The `fashion` subcommands of the nightly store batch, added to the main parser by cli.py:

    fashion store migrate | simulate --date D
    fashion extract-rds | daily-aggregates | data-quality --run-date D
    fashion catalog sync | ddl
    fashion query FILE.sql
"""
from __future__ import annotations

import argparse

from fashion_pipeline.jobs import (
    add_config_options,
    config_from_args,
    iso_date,
    job_command,
)


def add_store_commands(commands) -> None:
    store = commands.add_parser("store", help="the store's PostgreSQL database (local RDS)")
    store_actions = store.add_subparsers(dest="_store_action", required=True, metavar="ACTION")
    migrate = store_actions.add_parser("migrate", help="apply the versioned DDL in fashion_pipeline/ddl")
    add_config_options(migrate)
    migrate.set_defaults(_handler=_cmd_store_migrate)
    simulate = store_actions.add_parser("simulate", help="write one day of orders and late changes (migrates first)")
    simulate.add_argument("--date", dest="day", type=iso_date, required=True, help="YYYY-MM-DD")
    add_config_options(simulate)
    simulate.set_defaults(_handler=_cmd_store_simulate)

    job_command(commands, "extract_rds", "the day's changed orders from PostgreSQL into the lake (jobs/extract_rds.py)")
    job_command(commands, "daily_aggregates", "marketing aggregates for a run date (jobs/daily_aggregates.py)")
    job_command(commands, "data_quality", "data-quality checks for a run date (jobs/data_quality.py)")

    catalog = commands.add_parser("catalog", help="Glue database and tables from the declared schemas")
    catalog.add_argument("action", choices=["sync", "ddl"], help="sync: create or update through boto3; ddl: print Athena DDL")
    add_config_options(catalog)
    catalog.set_defaults(_handler=_cmd_catalog)

    query = commands.add_parser("query", help="run an Athena SQL file locally over the lake (DuckDB)")
    query.add_argument("sql_file", help="path to a .sql file written for Athena")
    query.add_argument("--param", action="append", default=[], help="value for each ? placeholder, in order")
    query.add_argument("--limit", type=int, default=50, help="rows to print")
    add_config_options(query)
    query.set_defaults(_handler=_cmd_query)


def _cmd_store_migrate(args: argparse.Namespace) -> int:
    from fashion_pipeline.store.credentials import resolve_rds_connection
    from fashion_pipeline.store.database import apply_migrations

    for line in apply_migrations(resolve_rds_connection(config_from_args(args))):
        print(line)
    return 0


def _cmd_store_simulate(args: argparse.Namespace) -> int:
    from fashion_pipeline.store.credentials import resolve_rds_connection
    from fashion_pipeline.store.database import apply_migrations
    from fashion_pipeline.store.simulate import simulate_day

    config = config_from_args(args)
    connection = resolve_rds_connection(config)
    # The simulator needs the schema: migrating is idempotent and cheap, so do it rather than fail.
    for line in apply_migrations(connection):
        if line != "schema is up to date":
            print(line)
    print(simulate_day(config, connection, args.day).summary())
    return 0


def _cmd_catalog(args: argparse.Namespace) -> int:
    from fashion_pipeline.catalog.glue import athena_ddl, sync_catalog

    config = config_from_args(args)
    if args.action == "ddl":
        print(athena_ddl(config))
        return 0
    for line in sync_catalog(config):
        print(line)
    return 0


def _cmd_query(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fashion_pipeline.catalog.local_query import run_athena_file

    result = run_athena_file(config_from_args(args), Path(args.sql_file), args.param)
    print(result.to_string(max_rows=args.limit, index=False))
    return 0
