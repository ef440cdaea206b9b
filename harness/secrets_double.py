"""A local Secrets Manager and SSM (moto's server, 127.0.0.1), and in front of it a double
of the AWS Parameters and Secrets Lambda Extension's documented HTTP protocol.

    aws = LocalAws().start()
    arn = aws.create_secret("refdata/test/database", '{"username": …}')
    extension = ExtensionDouble(aws, token="…").start()
    env = extension.env()  # PARAMETERS_SECRETS_EXTENSION_HTTP_PORT, AWS_SESSION_TOKEN

The double speaks what the extension's documentation describes: GET
/secretsmanager/get?secretId=ID[&versionId=…|&versionStage=…] and
/systemsmanager/parameters/get?name=NAME[&withDecryption=true] on localhost, refused
without the environment's session token in X-Aws-Parameters-Secrets-Token, answered with
GetSecretValue's or GetParameter's JSON. It caches like the extension, by the request: on
by default with a 300 s TTL (the extension's defaults), off with `cache_enabled=False`, as
PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED=false (what deploy/secrets.js sets) turns it off.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from harness.postgres import free_port

REGION = "eu-west-1"
# moto accepts any credentials; these are what the local clients sign with.
ACCESS_KEY = "AKIAREFDATATESTONLY0"
SECRET_KEY = "refdata-test-secret-access-key-not-real"  # noqa: S105 -- a local fake


class LocalAws:
    """moto's server mode on 127.0.0.1: Secrets Manager and SSM, as their APIs answer."""

    def __init__(self) -> None:
        self.port = free_port()
        self._server: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalAws:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def sdk_env(self) -> dict[str, str]:
        """What a process needs to reach this endpoint with boto3 (REFDATA_SECRETS_CLIENT=sdk)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def create_secret(self, name: str, value: str) -> str:
        """A new secret (its ARN); a name taken by an earlier test gets a new value."""
        client = self.client("secretsmanager")
        try:
            return str(client.create_secret(Name=name, SecretString=value)["ARN"])
        except client.exceptions.ResourceExistsException:
            return self.put_secret(name, value)

    def put_secret(self, secret_id: str, value: str) -> str:
        """A new version, made AWSCURRENT: what a rotation's last step leaves."""
        client = self.client("secretsmanager")
        return str(client.put_secret_value(SecretId=secret_id, SecretString=value)["ARN"])

    def put_parameter(self, name: str, value: str) -> None:
        self.client("ssm").put_parameter(
            Name=name, Value=value, Type="SecureString", Overwrite=True
        )


class ExtensionDouble:
    """The extension's HTTP endpoint, forwarding to a LocalAws; counts what it was asked."""

    def __init__(self, aws: LocalAws, token: str, *, cache_enabled: bool = True) -> None:
        self.aws = aws
        self.token = token
        self.cache_enabled = cache_enabled
        self.ttl_seconds = 300.0
        self.requests: list[str] = []  # the paths asked for, in order
        self.upstream = 0  # calls that reached Secrets Manager / SSM
        self._cache: dict[str, tuple[float, int, bytes]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def env(self) -> dict[str, str]:
        return {
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(self.port),
            "AWS_SESSION_TOKEN": self.token,
        }

    def start(self) -> ExtensionDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                status, body = double.answer(
                    self.path, self.headers.get("X-Aws-Parameters-Secrets-Token")
                )
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def answer(self, path: str, token: str | None) -> tuple[int, bytes]:
        with self._lock:
            self.requests.append(path)
        if token != self.token:
            return 401, b'{"__type": "UnauthorizedException", "message": "missing token"}'
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/secretsmanager/get" and "secretId" in query:
            call = self._get_secret
        elif parts.path == "/systemsmanager/parameters/get" and "name" in query:
            call = self._get_parameter
        else:
            return 400, b'{"__type": "BadRequest", "message": "unknown path"}'
        key = parts.path + "?" + parts.query
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
        if self.cache_enabled and cached is not None and now - cached[0] < self.ttl_seconds:
            return cached[1], cached[2]
        status, body = call(query)
        if status == 200:
            with self._lock:
                self._cache[key] = (now, status, body)
        return status, body

    def _forward(self, service: str, operation: str, **kwargs: Any) -> tuple[int, bytes]:
        from botocore.exceptions import ClientError

        self.upstream += 1
        try:
            document = getattr(self.aws.client(service), operation)(**kwargs)
        except ClientError as error:
            code = error.response["Error"]["Code"]
            return 400, json.dumps({"__type": code, "message": "upstream error"}).encode()
        document.pop("ResponseMetadata", None)
        return 200, json.dumps(document, default=str).encode()

    def _get_secret(self, query: dict[str, str]) -> tuple[int, bytes]:
        kwargs = {"SecretId": query["secretId"]}
        for name, argument in (("versionId", "VersionId"), ("versionStage", "VersionStage")):
            if name in query:
                kwargs[argument] = query[name]
        return self._forward("secretsmanager", "get_secret_value", **kwargs)

    def _get_parameter(self, query: dict[str, str]) -> tuple[int, bytes]:
        decrypt = query.get("withDecryption", "false") == "true"
        return self._forward("ssm", "get_parameter", Name=query["name"], WithDecryption=decrypt)
