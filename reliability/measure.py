"""A sampler that runs beside a load, the checks, and the summary file."""

from __future__ import annotations

import contextlib
import json
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


class Sampler:
    """Calls `sample()` every `interval` seconds in a thread until stopped; keeps the largest
    value. For what only the server can see while a load runs (connections held)."""

    def __init__(self, sample: Callable[[], int], interval: float = 0.25) -> None:
        self._sample = sample
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self.samples = 0
        self.failures = 0  # samples that raised (e.g. the process exited meanwhile)
        self.largest = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.largest = max(self.largest, self._sample())
                self.samples += 1
            except Exception:  # counted, not raised in a background thread
                self.failures += 1
            self._stop.wait(self._interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def failed_checks(summary: dict[str, Any]) -> list[str]:
    """The names of the checks in `summary` that did not hold."""
    return [name for name, held in summary["checks"].items() if not held]


def write_json(summary: dict[str, Any], path: Path | None) -> None:
    """Write the summary to `path` (or stdout), in the order it was built."""
    text = json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
    if path is None:
        print(text, end="")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@contextlib.contextmanager
def workdir(path: str | None, prefix: str) -> Iterator[Path]:
    """Where a run keeps its servers' logs: `path` if given (kept), else a temporary folder."""
    if path:
        Path(path).mkdir(parents=True, exist_ok=True)
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)
