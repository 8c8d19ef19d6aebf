"""How `make demo` talks: numbered steps with their duration, and indented detail under them."""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

INDENT = "   "


@contextmanager
def demo_step(title: str) -> Iterator[None]:
    print(f"\n== {title}", flush=True)
    started = time.monotonic()
    yield
    print(f"{INDENT}({time.monotonic() - started:.1f} s)", flush=True)


def say(text: object) -> None:
    """Detail under the current step, indented, however many lines it has."""
    print(INDENT + str(text).replace("\n", "\n" + INDENT), flush=True)
