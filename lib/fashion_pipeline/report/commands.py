"""`fashion report --run-date D [--out FILE.html]`: the analyst dashboard, added to the main parser
by cli.py. It reads the local lake through DuckDB; on AWS the same SQL files run in Athena."""
from __future__ import annotations

import argparse
from pathlib import Path

from fashion_pipeline.jobs import add_config_options, add_run_date_option, config_from_args


def add_report_commands(commands) -> None:
    report = commands.add_parser("report", help="the analyst dashboard: one self-contained HTML file of charts")
    add_run_date_option(report, "YYYY-MM-DD: the day the dashboard is as of")
    report.add_argument("--out", type=Path, help="HTML file to write (default: <lake_root>/_reports/dashboard/)")
    add_config_options(report)
    report.set_defaults(_handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from fashion_pipeline.report.dashboard import write_dashboard

    path, dashboard = write_dashboard(config_from_args(args), args.run_date, args.out)
    print(dashboard.summary())
    print(f"dashboard: {path.resolve()}")
    return 0
