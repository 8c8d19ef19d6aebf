"""What every job shares, whether spark-submit runs it (`jobs/<name>.py`, an EMR step) or the
`fashion` command line does (in this process): options, configuration, the session, one-line
failures and the exit code.

A job `<name>` is the module `fashion_pipeline.pipelines.<name>`, which provides
`run_<name>(spark, config, storage, **options)` and, when the job takes options of its own,
`add_arguments(parser)`. The job file, the EMR step, the Airflow task and the pipeline module all
carry that one name.
"""
from __future__ import annotations

import argparse
import importlib
import logging
from datetime import date
from types import ModuleType
from typing import Any, Mapping

from fashion_pipeline.config import Config, ConfigError, load_config
from fashion_pipeline.errors import run_reporting_failures

CONFIG_OPTIONS = ("env", "raw_root", "lake_root", "set")
RUN_DATE_HELP = "YYYY-MM-DD: the day the run is for (Airflow passes {{ ds }})"


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line (argparse prints usage and the error),
    and can add a subcommand's options when that subcommand is first used (`on_first_use`), so
    that building the whole CLI imports no pipeline (and no pyspark)."""

    def __init__(self, *args, on_first_use=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._on_first_use = on_first_use

    def _complete(self) -> None:
        if self._on_first_use is not None:
            complete, self._on_first_use = self._on_first_use, None
            complete(self)

    def parse_known_args(self, args=None, namespace=None):
        self._complete()
        namespace, rest = super().parse_known_args(args, namespace)
        if not hasattr(namespace, "_prog"):  # the innermost subcommand parses first
            namespace._prog = self.prog
        return namespace, rest

    def format_help(self) -> str:
        self._complete()
        return super().format_help()

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", help="configuration to load from conf/<env>.yaml (default: local)")
    parser.add_argument("--raw-root", help="where raw files are landed (path or s3:// URI)")
    parser.add_argument("--lake-root", help="root of the curated lake (path or s3:// URI)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
        help="override any configuration value, e.g. --set spark.shuffle_partitions=4",
    )


def config_from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Config:
    """`environ`: the variables conf/<env>.yaml's placeholders read (default: this process's)."""
    overrides: dict[str, Any] = {"paths.raw_root": args.raw_root, "paths.lake_root": args.lake_root}
    for assignment in args.set:
        key, sep, value = assignment.partition("=")
        if not sep:
            raise ConfigError(f"--set expects SECTION.KEY=VALUE, got {assignment!r}")
        overrides[key] = value
    return load_config(env=args.env, overrides=overrides, environ=environ)


def iso_date(text: str) -> date:
    """argparse type for YYYY-MM-DD, with a message that says what was expected."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def add_run_date_option(parser: argparse.ArgumentParser, help_text: str = RUN_DATE_HELP) -> None:
    """--run-date, as Airflow passes `{{ ds }}` to every nightly job."""
    parser.add_argument("--run-date", type=iso_date, required=True, help=help_text)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a whole number above 0, got {text!r}")
    return value


def add_positive_int_option(parser, flag: str, help_text: str) -> None:
    parser.add_argument(flag, type=positive_int, metavar="N", help=help_text)


def seconds_not_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number of seconds, 0 or more, got {text!r}")
    return value


def add_streaming_run_options(parser, batches_help: str) -> None:
    """How long a streaming job runs, and its trigger: the same for every streaming job."""
    how_long = parser.add_mutually_exclusive_group()
    add_positive_int_option(how_long, "--batches", batches_help)
    how_long.add_argument("--until-idle", action="store_true",
                          help="stop once every record in the stream has been processed")
    parser.add_argument("--trigger-seconds", type=seconds_not_negative, metavar="S",
                        help="micro-batch interval (default: streaming.trigger_seconds)")


def pipeline_module(job_name: str) -> ModuleType:
    return importlib.import_module(f"fashion_pipeline.pipelines.{job_name}")


def add_job_arguments(parser: argparse.ArgumentParser, job_name: str) -> None:
    """The job's own options (if any), then the configuration options every job takes."""
    add_arguments = getattr(pipeline_module(job_name), "add_arguments", None)
    if add_arguments is not None:
        add_arguments(parser)
    add_config_options(parser)


def job_parser(job_name: str) -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog=job_name, description=pipeline_module(job_name).__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    add_job_arguments(parser, job_name)
    return parser


def run_job(job_name: str, argv: list[str] | None = None) -> int:
    """The whole of a spark-submit entry point (jobs/<name>.py): parse, run, report; the exit code."""
    args = job_parser(job_name).parse_args(argv)
    return run_reporting_failures(job_name, lambda: run_job_with_args(job_name, args))


def run_job_with_args(job_name: str, args: argparse.Namespace) -> int:
    """Configure, build the session, run the pipeline and print its summary. Failures propagate
    (the caller reports them as one line)."""
    from fashion_pipeline.spark import build_spark
    from fashion_pipeline.storage import storage_for

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    config = config_from_args(args)
    pipeline = getattr(pipeline_module(job_name), f"run_{job_name}")
    # Dests of the CLI's own levels (subcommand names, handlers) start with "_".
    options = {k: v for k, v in vars(args).items() if k not in CONFIG_OPTIONS and not k.startswith("_")}
    spark = build_spark(job_name, config)
    result = pipeline(spark, config, storage_for(config), **options)
    if hasattr(result, "summary"):
        print(result.summary(), flush=True)
    return 0


def job_command(commands, job_name: str, help_text: str, command: str | None = None) -> None:
    """Register a `fashion` subcommand that runs the job `job_name` in this process."""

    def complete(parser: argparse.ArgumentParser) -> None:
        parser.description = pipeline_module(job_name).__doc__
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        add_job_arguments(parser, job_name)
        parser.set_defaults(_handler=lambda args: run_job_with_args(job_name, args))

    commands.add_parser(command or job_name.replace("_", "-"), help=help_text, on_first_use=complete)
