"""Blocking work (SQL, a conversion batch) off the event loop under uvicorn; inline on Lambda.

Under uvicorn one event loop serves every request, so SQL and long computations run in
worker threads. Each kind of work has its own `Lanes`: as many threads as it can use at once
(the pool's connections, for SQL). A request waits for a free lane on the event loop, holding
no thread and no connection, and at most `wait_seconds`: then it is answered 503 with
Retry-After (`Busy`). A thread that has a lane has its connection at once, runs its unit of
work and gives both back before the lane is free: nothing it holds waits for a thread that is
itself waiting.

Under Mangum (Lambda) an execution environment serves one request at a time, so the work
runs inline: no thread hop, nothing to wait for. A request that came through Mangum carries
its Lambda event in the ASGI scope (`aws.event`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import anyio
import anyio.to_thread
from starlette.types import Scope

T = TypeVar("T")


class Busy(Exception):
    """No lane was free within the wait: answered 503 with Retry-After."""

    def __init__(self, lanes: str, retry_after: int) -> None:
        super().__init__(f"every {lanes} lane is busy")
        self.lanes = lanes
        self.retry_after = retry_after


def served_alone(scope: Scope) -> bool:
    """Whether this request is its environment's only one (it came through Mangum)."""
    return "aws.event" in scope


class Lanes:
    """At most `count` calls of one kind of work at a time, each in a worker thread."""

    every: ClassVar[dict[str, Lanes]] = {}  # this process's lanes, by name: /health shows them

    def __init__(self, name: str, count: int, wait_seconds: float) -> None:
        self.name = name
        self.count = count
        self.wait_seconds = wait_seconds
        self._admission = anyio.Semaphore(count)
        # The threads' own limiter: never the bottleneck (admission is), and apart from the
        # default one that Starlette's other work and the cache's refresh share.
        self._threads = anyio.CapacityLimiter(count)
        self.threaded = 0  # calls run in a worker thread (never one on Lambda)
        Lanes.every[name] = self

    def state(self) -> dict[str, int]:
        """How many lanes there are, how many are busy now, and how many requests wait."""
        statistics = self._admission.statistics()
        busy = self.count - self._admission.value
        return {"lanes": self.count, "busy": busy, "waiting": statistics.tasks_waiting}

    @property
    def retry_after(self) -> int:
        return max(1, round(self.wait_seconds))

    async def run(self, scope: Scope, work: Callable[..., T], *args: Any) -> T:
        """`work(*args)`: inline when served alone, else in a lane's thread."""
        if served_alone(scope):
            return work(*args)
        try:
            with anyio.fail_after(self.wait_seconds):
                await self._admission.acquire()
        except TimeoutError:
            raise Busy(self.name, self.retry_after) from None
        self.threaded += 1
        try:
            return await anyio.to_thread.run_sync(work, *args, limiter=self._threads)
        finally:
            self._admission.release()
