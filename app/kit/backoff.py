"""Exponential back-off after failures: the reference cache's revalidation and the secrets'
refetch both wait like this, so a database or a secret that stays broken costs one attempt
per window, not one per invoke."""

from __future__ import annotations

import math
from collections.abc import Callable


class Backoff:
    """`first` seconds after a failure, doubling with each consecutive one, up to `most`;
    a success starts over."""

    __slots__ = ("clock", "failures", "first", "most", "next_attempt")

    def __init__(self, first: float, most: float, clock: Callable[[], float]) -> None:
        self.first = first
        self.most = most
        self.clock = clock  # what "now" is, for this back-off and whoever holds it
        self.failures = 0
        self.next_attempt = 0.0  # clock() before which no new attempt is made

    def ready(self, now: float | None = None) -> bool:
        return (self.clock() if now is None else now) >= self.next_attempt

    def failed(self) -> float:
        """Record a failure; the seconds until the next attempt."""
        self.failures += 1
        # The exponent stops growing long before it could overflow a float (an outage of
        # days is thousands of failures in a row); the delay stops at `most` long before.
        delay: float = min(self.first * 2.0 ** min(self.failures - 1, 64), self.most)
        self.next_attempt = self.clock() + delay
        return delay

    def succeeded(self) -> None:
        self.failures = 0
        self.next_attempt = 0.0

    def retry_after(self) -> int:
        """Whole seconds until the next attempt, at least 1 (for a Retry-After header)."""
        return max(1, math.ceil(self.next_attempt - self.clock()))
