"""Headless Chromium over the DevTools protocol: load a page, record every request it makes.

Chromium is Debian's (`/usr/bin/chromium`), started with no network but 127.0.0.1: other
host names resolve to nothing and everything else goes to a proxy that is not there. Every
request the page makes is recorded from the protocol's Network events, so a page that
reaches for a CDN shows up as an outside request and a failure, not just as a blank page.

`python -m tests.browser --screenshot docs/docs-screenshot.png` serves the app under
uvicorn on a fresh SQLite database and regenerates the README's screenshot of /docs.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import websocket

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--remote-debugging-port=0",  # any free port, written to DevToolsActivePort
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
    "--hide-scrollbars",
    # No network but 127.0.0.1: names resolve to nothing, and whatever still tries (an IP
    # address) goes to a proxy nobody listens on. Loopback always bypasses the proxy.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
)
# Schemes that never leave the page (CSS images are data: URLs, ReDoc's worker a blob:).
LOCAL_SCHEMES = {"data", "blob", "about"}
# A Swagger UI operation, and a ReDoc one (its middle panel has one section per operation).
SWAGGER_OPERATIONS = ".swagger-ui .opblock"
REDOC_OPERATIONS = '[data-section-id^="operation/"]'


def find_chromium() -> str | None:
    return shutil.which("chromium")


def count(selector: str) -> str:
    """A JS expression: how many elements match `selector`."""
    return f"document.querySelectorAll({json.dumps(selector)}).length"


@dataclass
class PageLoad:
    """What one page load did: how much rendered, how fast, and every request it made."""

    url: str
    rendered: int  # elements matching the selector once the page settled
    load_ms: float  # navigation start → `rendered` reached, by the page's own clock
    requests: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # failed, or status >= 400
    outside: list[str] = field(default_factory=list)  # anything but the page's own host
    errors: list[str] = field(default_factory=list)  # exceptions, console errors, CSP
    screenshot: bytes = b""


class CDPError(RuntimeError):
    pass


class Recorder:
    """Turns the DevTools events of one page load into its PageLoad."""

    def __init__(self, load: PageLoad) -> None:
        self.load = load
        self.host = urlsplit(load.url).hostname
        self.in_flight: dict[str, str] = {}  # requestId → URL

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], None]]:
        return {
            "Network.requestWillBeSent": self.sent,
            "Network.responseReceived": self.received,
            "Network.loadingFinished": self.finished,
            "Network.loadingFailed": self.failed,
            "Runtime.exceptionThrown": self.exception,
            "Runtime.consoleAPICalled": self.console,
            "Log.entryAdded": self.log,  # CSP violations and failed loads are logged here
        }

    def sent(self, params: dict[str, Any]) -> None:
        url = params["request"]["url"]
        self.load.requests.append(url)
        parts = urlsplit(url)
        if parts.scheme not in LOCAL_SCHEMES:
            self.in_flight[params["requestId"]] = url
            if parts.hostname != self.host:
                self.load.outside.append(url)

    def received(self, params: dict[str, Any]) -> None:
        response = params["response"]
        if response["status"] >= 400:
            self.load.failures.append(f"{response['status']} {response['url']}")

    def finished(self, params: dict[str, Any]) -> None:
        self.in_flight.pop(params["requestId"], None)

    def failed(self, params: dict[str, Any]) -> None:
        url = self.in_flight.pop(params["requestId"], params["requestId"])
        self.load.failures.append(f"{params.get('blockedReason') or params['errorText']} {url}")

    def exception(self, params: dict[str, Any]) -> None:
        details = params["exceptionDetails"]
        self.load.errors.append(details.get("exception", {}).get("description") or details["text"])

    def console(self, params: dict[str, Any]) -> None:
        if params["type"] in {"error", "assert"}:
            args = [str(a.get("value", a.get("description", ""))) for a in params["args"]]
            self.load.errors.append("console: " + " ".join(args))

    def log(self, params: dict[str, Any]) -> None:
        entry = params["entry"]
        if entry["level"] == "error":
            self.load.errors.append(f"{entry['source']}: {entry['text']} {entry.get('url', '')}")


class Page:
    """One page target, driven over its DevTools websocket."""

    def __init__(self, ws_url: str, timeout: float) -> None:
        # suppress_origin: Chromium refuses DevTools connections that send an Origin.
        self._ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
        self._timeout = timeout
        self._ids = itertools.count(1)
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {}

    def close(self) -> None:
        self._ws.close()

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command; events that arrive before its answer go to their handlers."""
        call_id = next(self._ids)
        self._ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        deadline = time.monotonic() + self._timeout
        while True:
            message = self._receive(deadline - time.monotonic())
            if message is None:
                raise CDPError(f"{method}: no answer in {self._timeout} s")
            if message.get("id") == call_id:
                if "error" in message:
                    raise CDPError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def pump(self, seconds: float) -> None:
        """Handle events for `seconds`."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._receive(left)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise CDPError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def _receive(self, seconds: float) -> dict[str, Any] | None:
        self._ws.settimeout(max(seconds, 0.001))
        try:
            message: dict[str, Any] = json.loads(self._ws.recv())
        except websocket.WebSocketTimeoutException:
            return None
        handler = self._handlers.get(message.get("method", ""))
        if handler is not None:
            handler(message["params"])
        return message

    def load(
        self, url: str, rendered: str, *, timeout: float = 60, settle: float = 0.3
    ) -> PageLoad:
        """Navigate to `url` and wait until the JS expression `rendered` is > 0 and steady.

        Then wait until no request has been in flight for `settle` seconds, and take a
        screenshot. The cache is off: every load fetches everything, as a first visit does.
        """
        load = PageLoad(url, rendered=0, load_ms=0.0)
        recorder = Recorder(load)
        self._handlers = recorder.handlers()
        for domain in ("Network", "Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call("Network.setCacheDisabled", cacheDisabled=True)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=1000,
            deviceScaleFactor=1,
            mobile=False,
        )

        navigation = self.call("Page.navigate", url=url)
        if navigation.get("errorText"):
            raise CDPError(f"{url}: {navigation['errorText']}")
        deadline = time.monotonic() + timeout
        # performance.now() counts from the document's navigation start.
        probe = f"({{n: ({rendered}), t: performance.now()}})"
        steady = 0
        while steady < 5:  # the same count on five polls, 20 ms apart
            if time.monotonic() > deadline:
                raise CDPError(f"{url}: `{rendered}` was {load.rendered} after {timeout} s")
            state = self.evaluate(probe)
            if state["n"] > 0 and state["n"] == load.rendered:
                steady += 1
            else:
                steady = 0
                load.rendered, load.load_ms = state["n"], state["t"]
            self.pump(0.02)

        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < settle and time.monotonic() < deadline:
            if recorder.in_flight:
                quiet_since = time.monotonic()
            self.pump(0.05)
        load.failures.extend(f"unfinished {pending}" for pending in recorder.in_flight.values())
        shot = self.call("Page.captureScreenshot", format="png")
        load.screenshot = base64.b64decode(shot["data"])
        return load


class Chromium:
    """A headless Chromium in its own process group, with a throwaway profile."""

    def __init__(self, executable: str, timeout: float = 30) -> None:
        self.executable = executable
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="refdata-chromium-")
        self._process: subprocess.Popen[bytes] | None = None
        self._pages: list[Page] = []

    def __enter__(self) -> Chromium:
        profile = Path(self._profile.name)
        self.log = profile / "chromium.log"
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                [self.executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its zygote and renderers go down with it
            )
        try:
            self.port = self._devtools_port(profile / "DevToolsActivePort")
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for page in self._pages:
            page.close()
        self._stop()

    def _devtools_port(self, active_port: Path) -> int:
        assert self._process is not None
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise CDPError(f"chromium exited: {self.log.read_text(errors='replace')}")
            lines = active_port.read_text().splitlines() if active_port.exists() else []
            if lines and lines[0].isdigit():
                return int(lines[0])
            time.sleep(0.05)
        raise CDPError(f"chromium gave no DevTools port in {self.timeout} s")

    def new_page(self) -> Page:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/json/new?about:blank", method="PUT"
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
            target = json.load(response)
        page = Page(target["webSocketDebuggerUrl"], self.timeout)
        self._pages.append(page)
        return page

    def _stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)  # the group this object started
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(timeout=10)
        self._profile.cleanup()


def operation_count(base: str) -> int:
    """Operations in the app's OpenAPI document: what /docs should show one entry for."""
    with urllib.request.urlopen(f"{base}/openapi.json", timeout=5) as response:  # noqa: S310
        document = json.load(response)
    return sum(len(operations) for operations in document["paths"].values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--screenshot", type=Path, required=True, help="PNG of /docs to write")
    args = parser.parse_args()
    chromium = find_chromium()
    if chromium is None:
        sys.exit("chromium not found (apt-get install chromium)")
    os.environ.setdefault("REFDATA_LOG_LEVEL", "WARNING")
    from reliability.environments import Uvicorn
    from tests.support import migrate

    with tempfile.TemporaryDirectory(prefix="refdata-screenshot-") as tmp:
        database_url = f"sqlite:///{tmp}/refdata.db"
        migrate(database_url)
        env = {"REFDATA_DATABASE_URL": database_url, "REFDATA_LOG_LEVEL": "WARNING"}
        server = Uvicorn(env, Path(tmp) / "uvicorn.log")
        with server, Chromium(chromium) as browser:
            load = browser.new_page().load(f"{server.base_url}/docs", count(SWAGGER_OPERATIONS))
    problems = load.failures + load.outside + load.errors
    if problems:
        sys.exit("\n".join(["/docs did not load cleanly:", *problems]))
    args.screenshot.write_bytes(load.screenshot)
    print(f"{args.screenshot}: {load.rendered} operations rendered in {load.load_ms:.0f} ms")


if __name__ == "__main__":
    main()
