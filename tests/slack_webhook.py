"""A Slack incoming webhook on 127.0.0.1 for tests: it records what was posted."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer


@dataclass
class SlackWebhook:
    """Started by the `slack_webhook` fixture (tests/conftest.py)."""

    port: int
    received: list = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/services/T000/B000/test"

    @property
    def connection(self) -> dict:
        """As an Airflow `slackwebhook` connection (host + the token path as password)."""
        return {"conn_type": "slackwebhook", "host": f"http://127.0.0.1:{self.port}/services",
                "password": "T000/B000/test"}


def serve_slack_webhook():
    """Yields a SlackWebhook listening on a free port until the generator is closed."""
    hook = SlackWebhook(0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hook.received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    hook.port = server.server_port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hook
    server.shutdown()
