"""Pipelines: a job's whole run, from configuration and a session to a report."""
