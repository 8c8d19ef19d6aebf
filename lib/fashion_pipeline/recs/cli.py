"""`fashion recs ...`: train, evaluate, sweep, load and show, on the configured lake and AWS."""
from __future__ import annotations

import argparse
import sys


def _run_spark_command(job_name: str, pipeline_path: str, args: argparse.Namespace) -> int:
    from importlib import import_module

    from fashion_pipeline.jobs import run_job_with_args

    module_name, function_name = pipeline_path.rsplit(".", 1)
    pipeline = getattr(import_module(module_name), function_name)
    return run_job_with_args(job_name, pipeline, args)


def _cmd_train(args: argparse.Namespace) -> int:
    return _run_spark_command("train_als", "fashion_pipeline.recs.pipeline.run_train_als", args)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    return _run_spark_command("evaluate_recs", "fashion_pipeline.recs.evaluation.run_recs_evaluation", args)


def _cmd_load(args: argparse.Namespace) -> int:
    return _run_spark_command("load_recommendations", "fashion_pipeline.recs.serving.run_load_recommendations", args)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from fashion_pipeline.cli import config_from_args
    from fashion_pipeline.recs.evaluation import format_sweep, parse_grid, run_recs_sweep
    from fashion_pipeline.spark import build_spark
    from fashion_pipeline.storage import storage_for

    config = config_from_args(args)
    try:
        grid = parse_grid(args.grid) if args.grid else None
    except ValueError as error:
        print(f"fashion recs sweep: {error}", file=sys.stderr)
        return 2
    spark = build_spark("recs_sweep", config)
    rows = run_recs_sweep(spark, config, storage_for(config), args.run_date, grid)
    print("\nbest blend first:")
    print(format_sweep(rows))
    return 0


def _cmd_create_tables(args: argparse.Namespace) -> int:
    from fashion_pipeline.cli import config_from_args
    from fashion_pipeline.recs.serving import ensure_serving_tables

    created = ensure_serving_tables(config_from_args(args))
    print("created: " + (", ".join(created) if created else "nothing (all tables exist)"))
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from fashion_pipeline.cli import config_from_args
    from fashion_pipeline.recs.serving import read_recommendations
    from fashion_pipeline.recs.show import article_names, format_recommendations

    config = config_from_args(args)
    served = read_recommendations(config, args.user_id)
    print(format_recommendations(served, article_names(config, [i.article_id for i in served.items])))
    return 0 if served.items else 1


def add_recs_commands(commands, add_config_options) -> None:
    """Register `fashion recs <action>` on the top-level subcommands of the CLI."""
    from fashion_pipeline.recs.jobs import add_run_date_option

    recs = commands.add_parser("recs", help="recommendations: train, evaluate, sweep, load, show")
    actions = recs.add_subparsers(dest="command", required=True)
    for name, handler, help_text in (
        ("train", _cmd_train, "run jobs/train_als.py in this process"),
        ("evaluate", _cmd_evaluate, "hold out the last week, compare strategies by MAP@12"),
        ("load", _cmd_load, "load a run date's recommendations and neighbours into DynamoDB"),
    ):
        action = actions.add_parser(name, help=help_text)
        add_run_date_option(action)
        add_config_options(action)
        action.set_defaults(handler=handler)

    sweep = actions.add_parser("sweep", help="evaluate a small hyper-parameter grid and print the table")
    add_run_date_option(sweep)
    sweep.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                       help="a recs.* key and its values, e.g. --grid rank=16,32 (default: rank x reg_param x alpha)")
    add_config_options(sweep)
    sweep.set_defaults(handler=_cmd_sweep)

    tables = actions.add_parser("create-tables", help="create the DynamoDB serving tables if missing")
    add_config_options(tables)
    tables.set_defaults(handler=_cmd_create_tables)

    show = actions.add_parser("show", help="print a user's recommendations with article names")
    show.add_argument("user_id")
    add_config_options(show)
    show.set_defaults(handler=_cmd_show)
