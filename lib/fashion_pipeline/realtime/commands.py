"""The `fashion lambda` and `fashion realtime` subcommands, added to the main parser by cli.py
(`add_lambda_commands`, `add_realtime_commands`):

    fashion lambda package [--out PATH]          the deployment zip of the fast path
    fashion lambda create-resources              its DynamoDB tables and on-failure queue, if missing
    fashion lambda run-local [--until-idle | --duration S] [--reset-checkpoints]
                                                 the event source mapping, invoking the handler here
    fashion realtime stream [--until-idle]       the streaming refresh (jobs/stream_recommendations.py)
    fashion realtime evaluate --run-date D       the rule against held-out purchases (jobs/evaluate_realtime.py)
"""
from __future__ import annotations

import argparse
from pathlib import Path

from fashion_pipeline.jobs import add_config_options, config_from_args, job_command

DEFAULT_PACKAGE = Path("dist") / "fashion-realtime-lambda.zip"


def add_lambda_commands(commands) -> None:
    lam = commands.add_parser("lambda", help="the real-time fast path: package it, run it locally")
    actions = lam.add_subparsers(dest="_lambda_action", required=True, metavar="ACTION")

    package = actions.add_parser("package", help="build the Lambda zip (handler, powertools, settings; no pyspark)")
    package.add_argument("--out", type=Path, default=DEFAULT_PACKAGE, help=f"zip to write (default {DEFAULT_PACKAGE})")
    add_config_options(package)
    package.set_defaults(_handler=cmd_lambda_package)

    resources = actions.add_parser("create-resources", help="create the fast path's tables and on-failure queue if missing")
    add_config_options(resources)
    resources.set_defaults(_handler=cmd_lambda_create_resources)

    run = actions.add_parser("run-local", help="poll the clickstream and invoke the handler as the event source mapping does")
    until = run.add_mutually_exclusive_group()
    until.add_argument("--until-idle", action="store_true", help="stop once every shard is read to its end")
    until.add_argument("--duration", type=_positive, metavar="S", help="stop after S seconds (default: run until Ctrl-C)")
    run.add_argument("--reset-checkpoints", action="store_true",
                     help="forget where the last run stopped and start at realtime.starting_position")
    add_config_options(run)
    run.set_defaults(_handler=cmd_lambda_run_local)


def add_realtime_commands(commands) -> None:
    realtime = commands.add_parser("realtime", help="real-time recommendations: the streaming refresh, evaluate the rule")
    actions = realtime.add_subparsers(dest="_realtime_action", required=True, metavar="ACTION")
    job_command(actions, "stream_recommendations",
                "refresh real-time lists and trending articles from the clickstream (jobs/stream_recommendations.py)",
                command="stream")
    job_command(actions, "evaluate_realtime",
                "sessions before held-out purchases: MAP@12 of batch only vs the real-time rule (jobs/evaluate_realtime.py)",
                command="evaluate")


def cmd_lambda_package(args: argparse.Namespace) -> int:
    from fashion_pipeline.realtime.package import build_lambda_package
    from fashion_pipeline.realtime.settings import RealtimeSettings

    config = config_from_args(args)
    result = build_lambda_package(args.out, RealtimeSettings.from_config(config))
    print(result.summary())
    print(f"settings from conf/{config.env}.yaml: region {config.aws.region}, "
          f"endpoint {config.aws.endpoint_url or 'AWS'}, writes {config.names.realtime_recommendations_table}")
    return 0


def cmd_lambda_create_resources(args: argparse.Namespace) -> int:
    for line in ensure_fast_path_resources(config_from_args(args)):
        print(line)
    return 0


def cmd_lambda_run_local(args: argparse.Namespace, **injected) -> int:
    """`injected`: clock or sleep for tests; the command line passes none."""
    from fashion_pipeline.realtime.event_source import checkpoint_path

    config = config_from_args(args)
    ensure_fast_path_resources(config)
    if args.reset_checkpoints:
        checkpoint_path(config).unlink(missing_ok=True)
    mapping, fast_path = local_fast_path(config, **injected)
    print(f"polling {config.names.clickstream_stream} -> {config.names.realtime_function} "
          f"(batch {config.realtime.batch_size}, window {config.realtime.batching_window_s:g} s, "
          f"retries {config.realtime.maximum_retry_attempts}, bisect {config.realtime.bisect_on_error}); "
          f"checkpoints in {checkpoint_path(config)}", flush=True)
    try:
        mapping.run(until_idle=args.until_idle, max_seconds=args.duration)
    except KeyboardInterrupt:
        pass
    print(mapping.report.line())
    print(fast_path.totals_line())
    return 0


def local_fast_path(config, **injected):
    """The handler and the local event source mapping that invokes it, on the configured endpoint."""
    from fashion_pipeline.aws import aws_client
    from fashion_pipeline.realtime.event_source import (
        CheckpointStore,
        LocalEventSourceMapping,
        MappingSettings,
        checkpoint_path,
    )
    from fashion_pipeline.realtime.lambda_handler import FastPath
    from fashion_pipeline.realtime.settings import RealtimeSettings

    settings = RealtimeSettings.from_config(config)
    fast_path = FastPath(settings, aws_client("dynamodb", config))
    mapping = LocalEventSourceMapping(
        aws_client("kinesis", config), aws_client("sqs", config), fast_path, MappingSettings.from_config(config),
        CheckpointStore(checkpoint_path(config)), **injected,
    )
    return mapping.open(), fast_path


def ensure_fast_path_resources(config) -> list[str]:
    """The DynamoDB tables and the on-failure queue of the fast path, created if missing (what a
    deployment's template creates on AWS). The stream is `fashion clicks create-stream`'s."""
    from fashion_pipeline.aws import aws_client
    from fashion_pipeline.realtime.event_source import ensure_failure_queue
    from fashion_pipeline.realtime.settings import RealtimeSettings
    from fashion_pipeline.realtime.store import ensure_realtime_tables

    created = ensure_realtime_tables(aws_client("dynamodb", config), RealtimeSettings.from_config(config))
    ensure_failure_queue(aws_client("sqs", config), config.names.realtime_failure_queue)
    return [f"dynamodb tables created: {', '.join(created) if created else 'none (all exist)'}",
            f"on-failure queue: {config.names.realtime_failure_queue}"]


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be positive")
    return value
