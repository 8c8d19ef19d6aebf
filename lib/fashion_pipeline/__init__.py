"""fashion-pipeline: the importable package behind the jobs, the CLI and the DAGs."""

__version__ = "0.1.0"
