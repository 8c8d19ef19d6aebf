"""moto's server as the local stand-in for AWS: S3, DynamoDB, Kinesis, Glue, EMR, Secrets Manager,
CloudWatch and Athena on one loopback port."""
from __future__ import annotations

import sys
import urllib.request

from fashion_pipeline.services.base import LOOPBACK, ManagedService


class MotoService(ManagedService):
    """moto's server: S3, DynamoDB, Kinesis, Glue, EMR, Secrets Manager, Athena on one port."""

    name = "moto"
    process_marker = "moto.server"
    port_variable = "FASHION_MOTO_PORT"

    @property
    def address(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def is_healthy(self) -> bool:
        try:
            # The dashboard page is static; data.json would serialise every emulated resource.
            with urllib.request.urlopen(f"{self.address}/moto-api/", timeout=2) as reply:
                return reply.status == 200
        except OSError:
            return False

    def start_process(self) -> int:
        return self._spawn([sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(self.port)])

    def reset(self) -> None:
        """Forget every emulated resource (tests use it between cases)."""
        request = urllib.request.Request(f"{self.address}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=5).close()
