"""`/docs` (Swagger UI) and `/redoc`, with every asset served by the service itself.

FastAPI's own pages load Swagger UI and ReDoc from a public CDN: blank in a VPC without
internet access, on an air-gapped laptop or behind a strict Content-Security-Policy. Here
the assets come from the pinned PyPI package `fastapi-standalone-docs` (Swagger UI and
ReDoc dists with their licences), read on first request and kept in memory: INIT never
touches them. The pages hold no inline script, so `script-src 'self'` is enough.
"""

from __future__ import annotations

import hashlib
import html
import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request, Response

from app.problems import NotFound
from app.routes import operation_id

router = APIRouter(include_in_schema=False, generate_unique_id_function=operation_id)

ASSETS_PACKAGE = "fastapi_standalone_docs"

# A URL carries its asset's digest, so a year of caching can never serve stale bytes.
_IMMUTABLE = "public, max-age=31536000, immutable"
# Pages embed the stage prefix and asset digests: always revalidate them.
_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
        "worker-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
}

_JS = "text/javascript; charset=utf-8"
# name in the URL → (path inside the package's static/, media type)
_PACKAGED = {
    "swagger-ui-bundle.js": ("swagger/swagger-ui-bundle.js", _JS),
    "swagger-ui.css": ("swagger/swagger-ui.css", "text/css; charset=utf-8"),
    "redoc.standalone.js": ("redoc/redoc.standalone.js", _JS),
    "favicon.png": ("fastapi/favicon.png", "image/png"),
    # ReDoc's footer asks for `location.pathname + "/logo-mini.svg"`: see redoc_logo.
    "logo-mini.svg": ("redoc/logo-mini.svg", "image/svg+xml"),
}

# Swagger UI's start-up, as a file rather than inline script (see the module docstring).
# validatorUrl null: otherwise Swagger UI asks validator.swagger.io about every public spec.
_SWAGGER_INIT = b"""\
window.ui = SwaggerUIBundle({
  url: document.getElementById("swagger-ui").dataset.openapiUrl,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""
_INIT = "swagger-init.js"


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    digest: str  # of body; part of the asset's URL


def _static_dir() -> Path:
    # find_spec only locates the package: its code never runs, we serve its files.
    spec = importlib.util.find_spec(ASSETS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{ASSETS_PACKAGE} is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


@cache
def asset(name: str) -> Asset:
    """The bytes of one docs asset, read once per execution environment."""
    if name == _INIT:
        body, media_type = _SWAGGER_INIT, _JS
    else:
        path, media_type = _PACKAGED[name]
        body = (_static_dir() / path).read_bytes()
    return Asset(body, media_type, hashlib.sha256(body).hexdigest()[:16])


def _asset_url(root: str, name: str) -> str:
    return f"{root}/docs/assets/{asset(name).digest}/{name}"


def _page(body: str) -> Response:
    return Response(body, media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS)


def _urls(request: Request, *names: str) -> dict[str, str]:
    # root_path is the API Gateway stage (set by app/lambda_handler.py) or "".
    root = request.scope.get("root_path", "")
    urls = {name: _asset_url(root, name) for name in names}
    urls["openapi"] = root + (request.app.openapi_url or "")
    urls["title"] = request.app.title
    return {key: html.escape(value) for key, value in urls.items()}


@router.get("/docs")
async def swagger_ui(request: Request) -> Response:
    """Swagger UI."""
    url = _urls(request, "swagger-ui.css", "favicon.png", "swagger-ui-bundle.js", _INIT)
    return _page(f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{url["title"]} - Swagger UI</title>
<link rel="stylesheet" href="{url["swagger-ui.css"]}">
<link rel="icon" type="image/png" href="{url["favicon.png"]}">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{url["openapi"]}"></div>
<script src="{url["swagger-ui-bundle.js"]}"></script>
<script src="{url[_INIT]}"></script>
</body>
</html>
""")


@router.get("/redoc")
async def redoc(request: Request) -> Response:
    """ReDoc."""
    url = _urls(request, "favicon.png", "redoc.standalone.js")
    return _page(f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{url["title"]} - ReDoc</title>
<link rel="icon" type="image/png" href="{url["favicon.png"]}">
<style>body {{ margin: 0; }}</style>
</head>
<body>
<redoc spec-url="{url["openapi"]}"></redoc>
<script src="{url["redoc.standalone.js"]}"></script>
</body>
</html>
""")


@router.get("/docs/assets/{digest}/{name}")
async def docs_asset(digest: str, name: str) -> Response:
    """One Swagger UI or ReDoc file; only at the digest of the bytes this release serves."""
    if name != _INIT and name not in _PACKAGED:
        raise NotFound(f"No docs asset {name!r}.")
    if digest != asset(name).digest:
        raise NotFound(f"No docs asset {name!r} at {digest!r}; reload the page.")
    return _asset_response(name, _IMMUTABLE)


@router.get("/redoc/logo-mini.svg")
async def redoc_logo() -> Response:
    """The logo ReDoc's footer shows; its URL is fixed by ReDoc, so it is not immutable."""
    return _asset_response("logo-mini.svg", "public, max-age=86400")


def _asset_response(name: str, cache_control: str) -> Response:
    found = asset(name)
    headers = {
        "Cache-Control": cache_control,
        "ETag": f'"{found.digest}"',
        "X-Content-Type-Options": "nosniff",
    }
    return Response(found.body, media_type=found.media_type, headers=headers)
