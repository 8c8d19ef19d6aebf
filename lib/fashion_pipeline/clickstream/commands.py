"""The `fashion clicks` subcommands, added to the main parser by cli.py (`add_clicks_commands`):

    fashion clicks produce [--rate EVENTS_PER_S] [--duration S | --events N] [--seed N]
                           [--model-day D] [--duplicate-share F] [--late-share F] [--late-minutes M]
                           [--malformed-share F] [--ledger PATH]
    fashion clicks stream [--batches N | --until-idle] [--trigger-seconds S]
    fashion clicks compact [--hour YYYY-MM-DDTHH]
    fashion clicks status [--last N]
    fashion clicks create-stream
"""
from __future__ import annotations

import argparse
from pathlib import Path

from fashion_pipeline.jobs import add_config_options, config_from_args, iso_date, job_command, positive_int

DEFAULT_DURATION_S = 60.0


def add_clicks_commands(commands) -> None:
    clicks = commands.add_parser("clicks", help="the website's clickstream on Kinesis")
    actions = clicks.add_subparsers(dest="_clicks_action", required=True, metavar="ACTION")

    produce = actions.add_parser("produce", help="send simulated clicks to the clickstream stream")
    produce.add_argument("--rate", type=_non_negative, metavar="EVENTS_PER_S",
                         help="events per second (default: clickstream.default_rate; 0: as fast as possible)")
    amount = produce.add_mutually_exclusive_group()
    amount.add_argument("--duration", type=_positive, metavar="S",
                        help=f"send for S seconds (the default, {DEFAULT_DURATION_S:.0f} s)")
    amount.add_argument("--events", type=_positive_int, metavar="N", help="send N events (faults come on top)")
    produce.add_argument("--seed", type=int, help="seed of the clicks (default: clickstream.seed)")
    produce.add_argument("--model-day", type=iso_date, metavar="YYYY-MM-DD",
                         help="modelled day whose tastes the clicks follow (default: the model's last day)")
    produce.add_argument("--duplicate-share", type=_share, default=0.0, metavar="F",
                         help="share of events sent twice (same event_id)")
    produce.add_argument("--late-share", type=_share, default=0.0, metavar="F",
                         help="share of events whose event_time is --late-minutes behind")
    produce.add_argument("--late-minutes", type=_positive, metavar="M",
                         help="how late a late event is (default: clickstream.late_minutes)")
    produce.add_argument("--malformed-share", type=_share, default=0.0, metavar="F",
                         help="malformed records per event: bad JSON, a missing field, an unknown article, oversized")
    produce.add_argument("--ledger", type=Path, metavar="PATH",
                         help="write one JSON line per record sent (event_id, sha256, valid or which malformation)")
    add_config_options(produce)
    produce.set_defaults(_handler=cmd_clicks_produce)

    job_command(actions, "stream_clickstream", "land the clickstream in the lake (jobs/stream_clickstream.py)",
                command="stream")

    job_command(actions, "compact_clickstream",
                "rewrite closed hours' small clickstream files as a few large ones (jobs/compact_clickstream.py)",
                command="compact")

    status = actions.add_parser("status", help="the streaming job's latest micro-batches: rates, duration, lag")
    status.add_argument("--last", type=positive_int, default=10, metavar="N", help="how many batches (default 10)")
    add_config_options(status)
    status.set_defaults(_handler=cmd_clicks_status)

    create = actions.add_parser("create-stream", help="create the clickstream stream if it is missing")
    add_config_options(create)
    create.set_defaults(_handler=cmd_clicks_create_stream)


def cmd_clicks_produce(args: argparse.Namespace, **injected) -> int:
    """`injected`: clock, sleep, jitter or client for tests; the command line passes none."""
    from fashion_pipeline.clickstream.faults import FaultShares
    from fashion_pipeline.clickstream.producer import ClickstreamError, produce_clicks

    config = config_from_args(args)
    faults = FaultShares(
        duplicate_share=args.duplicate_share, late_share=args.late_share,
        late_minutes=args.late_minutes or config.clickstream.late_minutes, malformed_share=args.malformed_share,
    )
    duration = args.duration
    if args.events is None and duration is None:
        duration = DEFAULT_DURATION_S
    report = produce_clicks(
        config, rate=args.rate, events=args.events, duration_s=duration, seed=args.seed,
        model_day=args.model_day, faults=faults, ledger_path=args.ledger, **injected,
    )
    print(report.summary())
    if args.ledger:
        print(f"ledger: {args.ledger}")
    if report.failed:
        raise ClickstreamError(f"{report.failed:,} records failed after {config.clickstream.put_max_attempts} "
                               f"attempts (see the ledger or retry later)")
    return 0


def cmd_clicks_status(args: argparse.Namespace) -> int:
    from fashion_pipeline.pipelines.stream_clickstream import JOB
    from fashion_pipeline.storage import storage_for
    from fashion_pipeline.streaming.progress import format_progress, read_recent_progress

    config = config_from_args(args)
    print(format_progress(read_recent_progress(config, storage_for(config), JOB, args.last)))
    return 0


def cmd_clicks_create_stream(args: argparse.Namespace) -> int:
    from fashion_pipeline.clickstream.producer import ensure_clickstream_stream

    print(ensure_clickstream_stream(config_from_args(args)))
    return 0


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a share between 0 and 1")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be positive")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be a positive number of events")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be 0 or more")
    return value
