"""The tooling the tests, the benchmark, the reliability runs and the scripts share.

Throwaway databases (`databases`, `postgres`), Lambda events and the Runtime API emulator
(`events`, `lambda_runtime`), servers run as subprocesses (`servers`, `processes`), the HTTP
and load clients (`http`, `load`), SQL counting (`sql`), statistics (`stats`), the INIT
probe, the secrets doubles and the leak watch. It imports nothing from tests/, bench/,
reliability/ or scripts/: they import it.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The admin API key of the test session and of the servers the tooling starts.
ADMIN_KEY = "test-admin-key-0123456789abcdef"
# The orders key of the test session and of the servers the tooling starts: the HTTP helpers
# (harness/http.py) send it with every request to /orders unless told not to.
ORDERS_KEY = "test-orders-key-0123456789abcdef"
