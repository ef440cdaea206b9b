"""A real browser loads /docs and /redoc from uvicorn, with no network but 127.0.0.1.

Headless Chromium (Debian's, driven by Playwright) renders each page; every request it makes
is recorded (harness/browser.py). A page that needs anything from outside fails here, where
in a VPC it would just be blank.
Without Chromium these tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from harness import ADMIN_KEY, browser
from harness.databases import Database
from harness.servers import Uvicorn


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    executable = browser.find_chromium()
    if executable is None:
        reason = "Debian's chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true requires the browser tests to run: {reason}")
        pytest.skip(f"BROWSER TESTS NOT RUN: {reason}")
    with browser.launch(executable) as running:
        yield running


@pytest.fixture(scope="module")
def server(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # The suite's admin key too: /docs shows the admin operations as well.
    env = {"REFDATA_DATABASE_URL": database.url, "REFDATA_ADMIN_API_KEY": ADMIN_KEY}
    with Uvicorn(env, tmp_path_factory.mktemp("uvicorn") / "stderr.log") as server:
        yield server.base_url


def report(
    capsys: pytest.CaptureFixture[str], load: browser.PageLoad, screenshot: Path, what: str
) -> None:
    screenshot.write_bytes(load.screenshot)
    with capsys.disabled():  # the closing note: shown in every run, not only on failure
        print(
            f"\n{load.url}: {load.rendered} {what} rendered {load.load_ms:.0f} ms after "
            f"navigation start; {len(load.requests)} requests; screenshot {screenshot}"
        )


def test_swagger_ui_renders_every_operation_with_nothing_from_outside(
    chromium: Browser,
    server: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    load = browser.load(chromium, f"{server}/docs", browser.SWAGGER_OPERATIONS)
    report(capsys, load, tmp_path / "docs.png", "operations")
    assert load.outside == []
    assert load.failures == []
    assert load.errors == []  # script errors, console errors, CSP violations
    assert load.rendered == browser.operation_count(server)
    assert any("/docs/assets/" in url and url.endswith(".js") for url in load.requests)
    assert load.screenshot.startswith(b"\x89PNG")


def test_redoc_renders_every_operation_with_nothing_from_outside(
    chromium: Browser,
    server: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    load = browser.load(chromium, f"{server}/redoc", browser.REDOC_OPERATIONS)
    report(capsys, load, tmp_path / "redoc.png", "operations")
    assert load.outside == []
    assert load.failures == []
    assert load.errors == []
    assert load.rendered == browser.operation_count(server)


def test_a_page_that_reaches_outside_is_caught(chromium: Browser) -> None:
    # What FastAPI's stock /docs does, and an address no name lookup would stop.
    cdn = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"
    address = "http://192.0.2.1/pixel.png"  # TEST-NET-1: routed nowhere
    page = f"data:text/html,<script src='{cdn}'></script><img src='{address}'>"
    load = browser.load(chromium, page, "img")
    assert sorted(load.outside) == sorted([cdn, address])
    assert len(load.failures) == 2
