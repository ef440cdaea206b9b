"""The edge's concerns one at a time (app/kit/edge/): each uses only what it is given.

A tiny ASGI app stands in for refdata's, and a stand-in cache and metrics publisher for the
ones app/main.py passes in: what the edge reports comes from them, not from app.init.
"""

from __future__ import annotations

import contextvars
import io
import json
from collections.abc import Callable, Coroutine, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from fastapi import HTTPException

from app.kit.edge import Edge
from app.kit.edge.body_limit import BodyLimit
from app.kit.edge.conditional import not_modified
from app.kit.edge.headers import SECURITY_HEADERS, finish_headers
from app.kit.edge.observation import Observation
from app.kit.runtime import Environment, RequestStats
from app.problems import MEDIA_TYPE, PayloadTooLarge, encode, too_large

Headers = list[tuple[bytes, bytes]]


@dataclass
class StandInSnapshot:
    version: int

    def age_seconds(self) -> float:
        return 12.3


@dataclass
class StandInCache:
    """What Observation reads of a ReferenceCache: its counters and its current snapshot."""

    counters: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("loads", "revalidations", "reloads", "failures", "stale"), 0
        )
    )
    current: StandInSnapshot | None = None


@dataclass
class Published:
    lines: list[tuple[bool, dict[str, int], dict[str, int]]] = field(default_factory=list)

    def __call__(self, cold: bool, before: Mapping[str, int], after: Mapping[str, int]) -> None:
        self.lines.append((cold, dict(before), dict(after)))


@dataclass
class App:
    """Answers 200 with `headers`; reads the whole body first; may move a cache counter."""

    headers: Headers = field(default_factory=lambda: [(b"content-type", b"application/json")])
    cache: StandInCache | None = None
    calls: int = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        while (await receive()).get("more_body"):
            pass
        if self.cache is not None:
            self.cache.counters["reloads"] += 1
        await send({"type": "http.response.start", "status": 200, "headers": list(self.headers)})
        await send({"type": "http.response.body", "body": b'{"ok":true}'})


def complete(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine that never waits (nothing here does) without an event loop of its
    own (the Lambda handler's loop stays the thread's), in a context of its own as a task's
    would be: the request's stats stay in it."""

    def step() -> None:
        with pytest.raises(StopIteration):
            coroutine.send(None)

    contextvars.copy_context().run(step)


def request(
    edge: Edge,
    method: str = "GET",
    path: str = "/countries",
    headers: Headers | None = None,
    chunks: tuple[bytes, ...] = (b"",),
) -> tuple[int, Headers, bytes]:
    sent: list[dict[str, Any]] = []
    pending = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]

    async def receive() -> dict[str, Any]:
        return pending.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {"type": "http", "method": method, "path": path, "headers": headers or []}
    complete(edge(scope, receive, send))
    start, body = sent
    return start["status"], start["headers"], body["body"]


def edge_around(
    app: App, cache: StandInCache | None = None, limit: BodyLimit | None = None
) -> tuple[Edge, Published]:
    published = Published()
    observation = Observation(cache or StandInCache(), published)  # type: ignore[arg-type]
    return Edge(app, body_limit=limit or BodyLimit(1024), observation=observation), published


@pytest.fixture(autouse=True)
def _warm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Environment, "invocations", 10)  # no cold start in these requests


class TestObservation:
    def test_metrics_are_the_given_caches_counters_published_by_the_given_publisher(
        self,
    ) -> None:
        cache = StandInCache()
        edge, published = edge_around(App(cache=cache), cache)
        request(edge)
        zero = dict.fromkeys(cache.counters, 0)
        assert published.lines == [(False, zero, {**zero, "reloads": 1})]
        edge.app.cache = None  # type: ignore[attr-defined]  # nothing moves now
        request(edge)
        assert len(published.lines) == 1  # no EMF line when nothing was counted

    def test_the_log_line_reports_the_given_caches_snapshot(
        self, log_to: Callable[[Any], None]
    ) -> None:
        stream = io.StringIO()
        log_to(stream)
        edge, _ = edge_around(App(), StandInCache(current=StandInSnapshot(version=42)))
        request(edge, path="/vn/provinces")
        [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
        assert (line["path"], line["status"]) == ("/vn/provinces", 200)
        assert (line["cache_version"], line["cache_age_s"]) == (42, 12.3)


class TestBodyLimit:
    def test_each_path_has_its_limit_and_the_default_is_for_the_rest(self) -> None:
        limit = BodyLimit(100, {"/big": 1000})
        assert (limit.of("/big"), limit.of("/small")) == (1000, 100)

    def test_an_announced_body_over_the_limit_is_refused_before_the_app_runs(self) -> None:
        app = App()
        edge, _ = edge_around(app, limit=BodyLimit(100, {"/big": 1000}))
        length = [(b"content-length", b"200")]
        status, headers, body = request(edge, "POST", "/small", length, (b"x" * 200,))
        assert status == PayloadTooLarge.status
        assert body == encode(PayloadTooLarge(too_large(100)), "/small")
        assert (b"content-type", MEDIA_TYPE.encode()) in headers
        assert app.calls == 0
        assert request(edge, "POST", "/big", length, (b"x" * 200,))[0] == 200

    def test_a_body_without_length_is_counted_as_it_arrives(self) -> None:
        edge, _ = edge_around(App(), limit=BodyLimit(100))
        with pytest.raises(HTTPException) as raised:
            request(edge, "POST", "/orders", None, (b"x" * 60, b"x" * 60))
        # The app's exception handler answers it as the catalog's PayloadTooLarge.
        assert (raised.value.status_code, raised.value.detail) == (413, too_large(100))


class TestConditionalGet:
    ETAG: ClassVar[Headers] = [(b"etag", b'"v1"'), (b"content-length", b"11")]

    @pytest.mark.parametrize(
        ("status", "if_none_match", "expected"),
        [
            (200, b'"v1"', True),
            (200, b'W/"v1"', True),
            (200, b'"v0", "v1"', True),
            (200, b"*", True),
            (200, b'"v2"', False),
            (200, None, False),
            (201, b'"v1"', False),
        ],
    )
    def test_only_a_200_whose_etag_the_client_holds_is_not_modified(
        self, status: int, if_none_match: bytes | None, expected: bool
    ) -> None:
        assert not_modified(status, self.ETAG, if_none_match) is expected
        assert not_modified(status, [], if_none_match) is False

    def test_a_304_has_no_body_and_no_length(self) -> None:
        edge, _ = edge_around(App(headers=list(self.ETAG)))
        status, headers, body = request(edge, headers=[(b"if-none-match", b'"v1"')])
        assert (status, body) == (304, b"")
        assert b"content-length" not in {name for name, _ in headers}


class TestResponseHeaders:
    def test_security_headers_request_id_and_timing_on_every_response(self) -> None:
        headers = finish_headers([], RequestStats("abc"), started=0.0)
        names = [name for name, _ in headers]
        assert headers[: len(SECURITY_HEADERS)] == SECURITY_HEADERS
        assert (b"x-request-id", b"abc") in headers
        assert b"server-timing" in names
        assert b"warning" not in names

    def test_a_routes_own_policy_is_kept_and_not_doubled(self) -> None:
        own = (b"content-security-policy", b"default-src 'none'")
        headers = finish_headers([own], RequestStats("abc"), started=0.0)
        assert [h for h in headers if h[0] == b"content-security-policy"] == [own]
        assert (b"x-content-type-options", b"nosniff") in headers

    def test_a_stale_snapshot_is_announced(self) -> None:
        stats = RequestStats("abc", cache_outcome="stale", stale_seconds=61.7)
        headers = finish_headers([], stats, started=0.0)
        assert (b"warning", b'111 - "Revalidation Failed"') in headers
        assert (b"x-refdata-stale-seconds", b"61") in headers
