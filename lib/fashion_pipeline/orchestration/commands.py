"""The `fashion deploy`, `fashion emr` and `fashion airflow` subcommands, added to the main parser
by cli.py (`add_deploy_commands`, `add_emr_commands`, `add_airflow_commands`):

    fashion deploy --bucket B [--env emr] [--no-airflow]
                                                   build, upload what changed, publish the release
                                                   and MWAA's side (s3://B/airflow/)
    fashion emr run --run-date D (--cluster-id ID | --create) [--with-partition-raw | --without-partition-raw]
                                                   the nightly jobs as EMR steps, one at a time
    fashion emr status [--cluster-id ID]           the night's cluster and its steps
    fashion airflow test nightly_batch --run-date D
                                                   the real DAG on this machine (local target), dag.test()

They default to conf/emr.yaml (FASHION_ENV or --env choose another). `--bucket` names the
infrastructure stack's bucket: it fills ${FASHION_BUCKET} and puts the deploy root (and, when the
configuration has none, EMR's logs) in it.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from fashion_pipeline.config import Config, ConfigError
from fashion_pipeline.jobs import add_config_options, add_run_date_option, config_from_args, iso_date

DEFAULT_ENV = "emr"
BUCKET_HELP = ("the deployment bucket (the infrastructure stack's): sets FASHION_BUCKET, the deploy root "
               "s3://BUCKET/deploy, MWAA's root s3://BUCKET/airflow and, if the configuration has none, "
               "the logs root s3://BUCKET/emr-logs")


def _add_options(parser) -> None:
    parser.add_argument("--bucket", help=BUCKET_HELP)
    add_config_options(parser)
    for action in parser._actions:
        if action.dest == "env":
            action.help = f"configuration to load from conf/<env>.yaml (default: FASHION_ENV, else {DEFAULT_ENV})"


def add_deploy_commands(commands) -> None:
    deploy = commands.add_parser("deploy", help="build the wheel, Lambda zip and jobs, upload what changed, publish the release "
                                               "and the Airflow (MWAA) side")
    deploy.add_argument("--no-airflow", dest="airflow", action="store_false",
                        help="publish the release only, not MWAA's DAG files, plugins.zip, requirements.txt "
                             "and startup.sh under paths.airflow_root")
    _add_options(deploy)
    deploy.set_defaults(_handler=cmd_deploy)


def add_emr_commands(commands) -> None:
    emr = commands.add_parser("emr", help="the nightly jobs on EMR without Airflow: run them, watch a cluster")
    actions = emr.add_subparsers(dest="_emr_action", required=True, metavar="ACTION")

    run = actions.add_parser("run", help="submit the deployed release's nightly jobs as steps and wait for them")
    add_run_date_option(run)
    cluster = run.add_mutually_exclusive_group(required=True)
    cluster.add_argument("--cluster-id", help="a running cluster to submit to (left running afterwards)")
    cluster.add_argument("--create", action="store_true",
                         help="create the night's cluster from the release, terminate it when the run ends")
    partition = run.add_mutually_exclusive_group()
    partition.add_argument("--with-partition-raw", dest="partition_raw", action="store_const", const=True,
                           help="run partition_raw even if no new raw files landed")
    partition.add_argument("--without-partition-raw", dest="partition_raw", action="store_const", const=False,
                           help="skip partition_raw even if new raw files landed")
    run.add_argument("--poll-seconds", type=_positive_seconds, metavar="S",
                     help="how often to ask EMR about the running step (default: orchestration.step_poke_interval_s)")
    _add_options(run)
    run.set_defaults(_handler=cmd_emr_run)

    status = actions.add_parser("status", help="a cluster's state and each step's state and duration")
    status.add_argument("--cluster-id", help="default: the newest nightly cluster, preferring an active one")
    _add_options(status)
    status.set_defaults(_handler=cmd_emr_status)


def deployment_config(args: argparse.Namespace) -> Config:
    environ = dict(os.environ)
    if args.env is None:
        args.env = environ.get("FASHION_ENV") or DEFAULT_ENV
    if args.bucket:
        environ["FASHION_BUCKET"] = args.bucket
    try:
        config = config_from_args(args, environ=environ)
    except ConfigError as error:
        if not args.bucket and "FASHION_BUCKET" in str(error):
            raise ConfigError(f"conf/{args.env}.yaml needs the deployment bucket: pass --bucket BUCKET "
                              f"(or set FASHION_BUCKET)") from None
        raise
    if not args.bucket:
        return config
    explicit = {assignment.partition("=")[0] for assignment in args.set}
    defaults = {}
    if "paths.deploy_root" not in explicit:
        defaults["paths.deploy_root"] = f"s3://{args.bucket}/deploy"
    if "paths.airflow_root" not in explicit:
        defaults["paths.airflow_root"] = f"s3://{args.bucket}/airflow"
    if "paths.logs_root" not in explicit and not config.paths.logs_root:
        defaults["paths.logs_root"] = f"s3://{args.bucket}/emr-logs"
    return config.with_overrides(defaults) if defaults else config


def cmd_deploy(args: argparse.Namespace) -> int:
    from fashion_pipeline.orchestration.deploy import deploy
    from fashion_pipeline.storage import storage_for

    config = deployment_config(args)
    started = time.monotonic()
    bucket = args.bucket or os.environ.get("FASHION_BUCKET") or None
    with tempfile.TemporaryDirectory(prefix="fashion-deploy-") as work_dir:
        result = deploy(config, storage_for(config), Path(work_dir), airflow=args.airflow, bucket=bucket)
    for line in result.lines():
        print(line)
    if args.airflow and not config.paths.airflow_root:
        print("airflow side not published: no paths.airflow_root (pass --bucket, or set it in the configuration)")
    print(f"deployed in {time.monotonic() - started:.1f} s ({result.changed_count} of {result.object_count} changed)")
    return 0


def cmd_emr_run(args: argparse.Namespace, **injected) -> int:
    """`injected`: sleep and clock for tests; the command line passes none."""
    from fashion_pipeline.aws import aws_client
    from fashion_pipeline.orchestration.emr_runner import NO_RAW_PENDING, run_nightly
    from fashion_pipeline.orchestration.raw_inputs import raw_files_pending
    from fashion_pipeline.orchestration.release import read_release
    from fashion_pipeline.storage import storage_for

    config = deployment_config(args)
    storage = storage_for(config)
    release = read_release(config, storage)
    run_partition_raw = args.partition_raw
    if run_partition_raw is None:
        run_partition_raw = raw_files_pending(config, storage)
    why_no_partition_raw = NO_RAW_PENDING if args.partition_raw is None else "--without-partition-raw"
    poll_s = args.poll_seconds or config.orchestration.step_poke_interval_s
    try:
        result = run_nightly(aws_client("emr", config), config, release, args.run_date, cluster_id=args.cluster_id,
                             run_partition_raw=run_partition_raw, why_no_partition_raw=why_no_partition_raw,
                             poll_s=poll_s, **injected)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        return 130
    failed = [outcome.job for outcome in result.outcomes if not outcome.lets_dependants_run]
    if result.succeeded:
        print(f"nightly run {args.run_date} on {result.cluster_id}: every job completed")
        return 0
    print(f"nightly run {args.run_date} on {result.cluster_id}: did not complete: {', '.join(failed) or 'cluster left running'}")
    return 1


def cmd_emr_status(args: argparse.Namespace) -> int:
    from fashion_pipeline.aws import aws_client
    from fashion_pipeline.orchestration.emr_runner import cluster_status_lines, find_nightly_cluster

    config = deployment_config(args)
    emr = aws_client("emr", config)
    cluster_id = args.cluster_id or find_nightly_cluster(emr, config)
    for line in cluster_status_lines(emr, config, cluster_id):
        print(line)
    return 0


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return value


def add_airflow_commands(commands) -> None:
    airflow = commands.add_parser("airflow", help="run the Airflow DAGs locally (dag.test on the embedded stack)")
    actions = airflow.add_subparsers(dest="_airflow_action", required=True, metavar="ACTION")
    test = actions.add_parser("test", help="run one DAG for one day with Airflow's dag.test()")
    test.add_argument("dag_id", help="e.g. nightly_batch")
    test.add_argument("--run-date", type=iso_date, required=True, help="YYYY-MM-DD: the day the run is for ({{ ds }})")
    add_config_options(test)
    test.set_defaults(_handler=cmd_airflow_test)


def cmd_airflow_test(args: argparse.Namespace) -> int:
    from fashion_pipeline.orchestration.local_airflow import LocalAirflow

    config = config_from_args(args)
    state = LocalAirflow.for_config(config).test_dag(args.dag_id, args.run_date)
    print(f"{args.dag_id} {args.run_date}: {state}")
    return 0
