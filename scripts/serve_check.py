"""`make run`'s path on a given interpreter: migrate a scratch SQLite file, serve under
uvicorn on 127.0.0.1, and check that /health and /countries/VN answer.

    .venv-3.11/bin/python scripts/serve_check.py

`make test-oldest-python` runs it with the oldest Python the README supports for `make run`
(the suite itself runs on the Lambda runtime's). Standard library only, besides what the
interpreter's own environment has installed: alembic and uvicorn.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def get(url: str) -> tuple[int, object]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 -- 127.0.0.1
        return response.status, json.loads(response.read())


def main() -> int:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    with tempfile.TemporaryDirectory(prefix="refdata-serve-check-") as scratch:
        env = {**os.environ, "REFDATA_DATABASE_URL": f"sqlite:///{scratch}/refdata.db"}
        subprocess.run(
            [sys.executable, "-m", "alembic", "upgrade", "head"],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
        )
        port = free_port()
        command = [sys.executable, "-m", "app", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--log-level", "warning"]
        server = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    status, health = get(f"{base}/health")
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        print(f"serve-check: uvicorn did not start on Python {version}")
                        return 1
                    time.sleep(0.2)
            _, country = get(f"{base}/countries/VN")
        finally:
            server.terminate()
            server.wait(10)
    ok = (
        status == 200
        and isinstance(health, dict)
        and health.get("status") == "ok"
        and isinstance(country, dict)
        and country.get("alpha_3") == "VNM"
    )
    print(f"serve-check: Python {version}: /health {status}, /countries/VN {country!r:.60}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
