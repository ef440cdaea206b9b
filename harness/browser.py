"""Headless Chromium through Playwright: load a page, record every request it makes.

Chromium is Debian's (`/usr/bin/chromium`, Playwright's `executable_path`: no browser is
downloaded), with no network but 127.0.0.1: other host names resolve to nothing and
everything else goes to a proxy that is not there. Every request the page makes is recorded,
so a page that reaches for a CDN shows up as an outside request and a failure, not just as a
blank page.

`python -m harness.browser --screenshot docs/docs-screenshot.png` serves the app under
uvicorn on a fresh SQLite database and regenerates the README's screenshot of /docs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Browser, ConsoleMessage, Request, Response, sync_playwright

from harness.databases import migrate
from harness.servers import Uvicorn

CHROMIUM_ARGS = [
    # No network but 127.0.0.1: names resolve to nothing, and whatever still tries (an IP
    # address) goes to a proxy nobody listens on. Loopback always bypasses the proxy.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
]
# Schemes that never leave the page (CSS images are data: URLs, ReDoc's worker a blob:).
LOCAL_SCHEMES = {"data", "blob", "about"}
# A Swagger UI operation, and a ReDoc one (its middle panel has one section per operation).
SWAGGER_OPERATIONS = ".swagger-ui .opblock"
REDOC_OPERATIONS = '[data-section-id^="operation/"]'
# CSP violations, kept by the page itself from its first script on.
RECORD_CSP = """
window.__cspViolations = [];
addEventListener("securitypolicyviolation", (e) =>
  window.__cspViolations.push(`CSP ${e.effectiveDirective} blocked ${e.blockedURI}`));
"""
PROBE = "s => ({n: document.querySelectorAll(s).length, t: performance.now()})"


def find_chromium() -> str | None:
    return shutil.which("chromium")


@dataclass
class PageLoad:
    """What one page load did: how much rendered, how fast, and every request it made."""

    url: str
    rendered: int = 0  # elements matching the selector once the page settled
    load_ms: float = 0.0  # navigation start → `rendered` reached, by the page's own clock
    requests: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # failed, or status >= 400
    outside: list[str] = field(default_factory=list)  # anything but the page's own host
    errors: list[str] = field(default_factory=list)  # exceptions, console errors, CSP
    screenshot: bytes = b""

    def request(self, request: Request) -> None:
        self.requests.append(request.url)
        parts = urlsplit(request.url)
        if parts.scheme not in LOCAL_SCHEMES and parts.hostname != urlsplit(self.url).hostname:
            self.outside.append(request.url)

    def response(self, response: Response) -> None:
        if response.status >= 400:
            self.failures.append(f"{response.status} {response.url}")

    def failed(self, request: Request) -> None:
        self.failures.append(f"{request.failure} {request.url}")

    def console(self, message: ConsoleMessage) -> None:
        if message.type in {"error", "assert"}:
            self.errors.append(f"console: {message.text}")


@contextmanager
def launch(executable: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def load(browser: Browser, url: str, selector: str, *, timeout: float = 60) -> PageLoad:
    """Open `url` in a fresh context (an empty cache, as on a first visit) and wait until
    the count of `selector` is > 0 and the same on five polls 20 ms apart; then until the
    network is idle, and take a screenshot."""
    result = PageLoad(url)
    with browser.new_context(viewport={"width": 1280, "height": 1000}) as context:
        context.add_init_script(RECORD_CSP)
        context.on("request", result.request)
        context.on("response", result.response)
        context.on("requestfailed", result.failed)
        page = context.new_page()
        page.on("console", result.console)
        page.on("pageerror", lambda error: result.errors.append(f"{error.name}: {error.message}"))
        page.goto(url, timeout=timeout * 1000)
        deadline, steady = time.monotonic() + timeout, 0
        while steady < 5:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{url}: {selector!r} matched {result.rendered} after {timeout} s"
                )
            state = page.evaluate(PROBE, selector)
            if state["n"] > 0 and state["n"] == result.rendered:
                steady += 1
            else:
                steady, result.rendered, result.load_ms = 0, state["n"], state["t"]
            page.wait_for_timeout(20)
        page.wait_for_load_state("networkidle", timeout=timeout * 1000)
        result.errors.extend(page.evaluate("window.__cspViolations ?? []"))
        result.screenshot = page.screenshot()
    return result


def operation_count(base: str) -> int:
    """Operations in the app's OpenAPI document: what /docs should show one entry for."""
    with urllib.request.urlopen(f"{base}/openapi.json", timeout=5) as response:  # noqa: S310
        document = json.load(response)
    return sum(len(operations) for operations in document["paths"].values())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--screenshot", type=Path, required=True, help="PNG of /docs to write")
    args = parser.parse_args()
    chromium = find_chromium()
    if chromium is None:
        sys.exit("chromium not found (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="refdata-screenshot-") as tmp:
        database_url = f"sqlite:///{tmp}/refdata.db"
        migrate(database_url)
        env = {"REFDATA_DATABASE_URL": database_url, "REFDATA_LOG_LEVEL": "WARNING"}
        with Uvicorn(env, Path(tmp) / "uvicorn.log") as server, launch(chromium) as browser:
            page = load(browser, f"{server.base_url}/docs", SWAGGER_OPERATIONS)
    problems = page.failures + page.outside + page.errors
    if problems:
        sys.exit("\n".join(["/docs did not load cleanly:", *problems]))
    args.screenshot.write_bytes(page.screenshot)
    print(f"{args.screenshot}: {page.rendered} operations rendered in {page.load_ms:.0f} ms")


if __name__ == "__main__":
    main()
