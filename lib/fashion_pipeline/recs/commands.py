"""`fashion recs ...`: train, evaluate, sweep, load and show, on the configured lake and AWS; runs
lists and compares the recorded runs (MLflow, no Spark)."""
from __future__ import annotations

import argparse

from fashion_pipeline.jobs import (
    add_config_options,
    add_run_date_option,
    config_from_args,
    job_command,
    positive_int,
)

RUN_DATE_HELP = "YYYY-MM-DD: the last day of sales the run uses (inclusive)"


def _cmd_sweep(args: argparse.Namespace) -> int:
    from fashion_pipeline.recs.evaluation import (
        format_sweep,
        parse_grid,
        run_recs_sweep,
    )
    from fashion_pipeline.spark import build_spark
    from fashion_pipeline.storage import storage_for

    config = config_from_args(args)
    grid = parse_grid(args.grid) if args.grid else None
    spark = build_spark("recs_sweep", config)
    rows = run_recs_sweep(spark, config, storage_for(config), args.run_date, grid)
    print("\nbest served first:")
    print(format_sweep(rows))
    return 0


def _cmd_create_tables(args: argparse.Namespace) -> int:
    from fashion_pipeline.recs.dynamodb import ensure_serving_tables

    created = ensure_serving_tables(config_from_args(args))
    print("created: " + (", ".join(created) if created else "nothing (all tables exist)"))
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from fashion_pipeline.recs.reader import read_recommendations
    from fashion_pipeline.recs.show import article_names, format_recommendations

    config = config_from_args(args)
    served = read_recommendations(config, args.user_id)
    print(format_recommendations(served, article_names(config, [i.article_id for i in served.items])))
    return 0 if served.items else 1


def _cmd_runs(args: argparse.Namespace) -> int:
    from fashion_pipeline.recs.tracking import (
        compare_runs,
        format_comparison,
        format_runs,
        list_runs,
        redact,
        tracking_uri,
    )

    config = config_from_args(args)
    if args.compare:
        print(format_comparison(compare_runs(config, *args.compare)))
    else:
        print(format_runs(list_runs(config, args.limit), where=redact(tracking_uri(config))))
    return 0


def add_recs_commands(commands) -> None:
    """Register `fashion recs <action>` on the top-level subcommands of the CLI."""
    recs = commands.add_parser("recs", help="recommendations: train, evaluate, sweep, runs, load, show")
    actions = recs.add_subparsers(dest="_recs_action", required=True, metavar="ACTION")
    job_command(actions, "train_als", "the nightly ALS recommender (jobs/train_als.py)", command="train")
    job_command(actions, "evaluate_recs", "hold out the last week, compare strategies by MAP@12 (jobs/evaluate_recs.py)",
                command="evaluate")
    job_command(actions, "load_recommendations",
                "load a run date's recommendations and neighbours into DynamoDB (jobs/load_recommendations.py)",
                command="load")

    sweep = actions.add_parser("sweep", help="evaluate a small hyper-parameter grid and print the table")
    add_run_date_option(sweep, RUN_DATE_HELP)
    sweep.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                       help="a recs.* key and its values, e.g. --grid rank=16,32 (default: rank x reg_param x alpha)")
    add_config_options(sweep)
    sweep.set_defaults(_handler=_cmd_sweep)

    runs = actions.add_parser("runs", help="list the recorded train/evaluate/sweep runs, newest first, or compare two")
    runs.add_argument("--limit", type=positive_int, default=20, help="how many runs to list (default: 20)")
    runs.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"),
                      help="parameters that differ and metrics side by side (run ids or their first characters)")
    add_config_options(runs)
    runs.set_defaults(_handler=_cmd_runs)

    tables = actions.add_parser("create-tables", help="create the DynamoDB serving tables if missing")
    add_config_options(tables)
    tables.set_defaults(_handler=_cmd_create_tables)

    show = actions.add_parser("show", help="print a user's recommendations with article names")
    show.add_argument("user_id")
    add_config_options(show)
    show.set_defaults(_handler=_cmd_show)
