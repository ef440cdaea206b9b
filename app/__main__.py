"""`python -m app`: refdata under uvicorn, as `make run`, the Docker image and the tests serve it.

Quiet on purpose. No `Server` header: it tells every client which server and which version
to aim at. No uvicorn access log: its line carries the query string, where a credential or
a personal detail can be; refdata's own request line (app/kit/edge/) logs the path and
the status, never the query. uvicorn is imported here, never by the app: Lambda does not
ship it.
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn's own messages (startup, errors); the app's log has REFDATA_LOG_LEVEL",
    )
    args = parser.parse_args(argv)

    import uvicorn  # noqa: PLC0415 -- only where the app is served by uvicorn

    # proxy_headers stays uvicorn's default: X-Forwarded-* trusted from FORWARDED_ALLOW_IPS
    # (127.0.0.1 unless set).
    uvicorn.run(
        "app.main:app",
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
