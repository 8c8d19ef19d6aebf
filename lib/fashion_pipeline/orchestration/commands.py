"""`fashion airflow`: the DAGs on this machine.

    fashion airflow test nightly_batch --run-date D   the real DAG, local target, with dag.test()
"""
from __future__ import annotations

import argparse

from fashion_pipeline.jobs import add_config_options, config_from_args, iso_date


def add_airflow_commands(commands) -> None:
    airflow = commands.add_parser("airflow", help="run the Airflow DAGs locally (dag.test on the embedded stack)")
    actions = airflow.add_subparsers(dest="_airflow_action", required=True, metavar="ACTION")
    test = actions.add_parser("test", help="run one DAG for one day with Airflow's dag.test()")
    test.add_argument("dag_id", help="e.g. nightly_batch")
    test.add_argument("--run-date", type=iso_date, required=True, help="YYYY-MM-DD: the day the run is for ({{ ds }})")
    add_config_options(test)
    test.set_defaults(_handler=_cmd_test)


def _cmd_test(args: argparse.Namespace) -> int:
    from fashion_pipeline.orchestration.local_airflow import LocalAirflow

    config = config_from_args(args)
    state = LocalAirflow.for_config(config).test_dag(args.dag_id, args.run_date)
    print(f"{args.dag_id} {args.run_date}: {state}")
    return 0
