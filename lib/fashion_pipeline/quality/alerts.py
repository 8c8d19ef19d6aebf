"""A Slack alert when data quality fails: the incoming-webhook URL is a secret, read from the
environment (FASHION_SLACK_WEBHOOK_URL) or Secrets Manager (names.slack_webhook_secret_id), never
printed or logged. Without either, alerts are skipped with a log line saying so."""
from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from typing import Mapping

from fashion_pipeline.config import Config

WEBHOOK_VARIABLE = "FASHION_SLACK_WEBHOOK_URL"
POST_TIMEOUT_S = 10
log = logging.getLogger(__name__)


def slack_webhook_url(config: Config, environ: Mapping[str, str] | None = None) -> str | None:
    environ = os.environ if environ is None else environ
    if environ.get(WEBHOOK_VARIABLE):
        return environ[WEBHOOK_VARIABLE]
    from botocore.exceptions import BotoCoreError

    from fashion_pipeline.aws import SecretError, read_secret_string

    try:
        text = read_secret_string(config, config.names.slack_webhook_secret_id)
    except (SecretError, BotoCoreError):  # no alert is better than hiding the failure it reports
        return None
    try:  # a plain URL, or {"url": ...}
        return json.loads(text).get("url")
    except (json.JSONDecodeError, AttributeError):
        return text or None


def post_slack_alert(webhook_url: str | None, text: str) -> bool:
    """Post `text`; True when Slack (or whatever listens) answered 2xx. Never raises: an alert
    that cannot be sent must not hide the failure it reports."""
    if not webhook_url:
        log.warning("data-quality alert not sent: no Slack webhook configured (%s or the secret)", WEBHOOK_VARIABLE)
        return False
    request = urllib.request.Request(
        webhook_url, data=json.dumps({"text": text}).encode("utf-8"),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=POST_TIMEOUT_S) as reply:
            return 200 <= reply.status < 300
    except (urllib.error.URLError, OSError) as error:
        # The reason only: the URL is the secret.
        log.warning("data-quality alert not sent: %s", getattr(error, "reason", type(error).__name__))
        return False
