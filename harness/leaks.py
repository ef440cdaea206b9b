"""No secret value in any log line or response, across the whole suite.

Every secret the suite makes or hands the app is registered here (`register`): the admin
keys, database passwords and secret strings, the Lambda environment's credentials. Then:

* every response the app sends in this process passes through `Watch`, wrapped around the
  app's whole middleware stack (tests/conftest.py), headers and body, 500s included;
* every line the app logs in this process, as it is written (conftest's `_CheckedStream`);
* every line a function process writes (harness/lambda_runtime.py) and every reply it
  returns, the output of `run_python` and of the other function processes tests start, and
  every uvicorn server's log and replies (harness/servers.py's Uvicorn and
  HttpClient, checked from conftest);
* every test's captured stdout, stderr and log records, after each phase.

A value found in any of them fails the test that was running (conftest's makereport hook),
naming where it was seen but not the value; one found after the last test fails the session.
Each value is also looked for as it appears inside a JSON string and in a URL.
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import quote, quote_plus

# Shorter values could match by accident (and are not used as secrets here).
_MIN_LENGTH = 8
_lock = threading.Lock()
_secrets: dict[str, str] = {}  # value -> a name to report it by
_found: list[str] = []


def register(name: str, *values: str) -> None:
    """Watch for each value, and for the forms it takes in a JSON string and in a URL."""
    with _lock:
        for value in values:
            if len(value) < _MIN_LENGTH:
                continue
            for form in (value, json.dumps(value)[1:-1], quote(value, safe=""), quote_plus(value)):
                _secrets.setdefault(form, name)


def check(text: str | bytes, where: str) -> list[str]:
    """The names of the registered secrets `text` holds (each also recorded as found)."""
    if not _secrets or not text:
        return []
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    with _lock:
        names = [name for value, name in _secrets.items() if value in text]
        _found.extend(f"{name} in {where}" for name in names)
    return names


def take_found() -> list[str]:
    """What was found since the last call (cleared)."""
    with _lock:
        found = list(dict.fromkeys(_found))
        _found.clear()
    return found


class Watch:
    """ASGI middleware: checks each response's headers and body chunks as they are sent."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        where = f"the response to {scope.get('method')} {scope.get('path')}"

        async def checked(message: Any) -> None:
            if message["type"] == "http.response.start":
                for name, value in message.get("headers", ()):
                    check(name + b": " + value, where)
            elif message["type"] == "http.response.body":
                check(message.get("body", b""), where)
            await send(message)

        await self.app(scope, receive, checked)
