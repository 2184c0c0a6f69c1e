"""The dashboard's static files, shipped in the package and served by kasoku itself.

Nothing is fetched from elsewhere (no CDN, no web font). Every file is read once, named by
a digest in its URL (``/static/dash.js?v=1a2b3c4d``) so a browser keeps it for a year
(``immutable``), and compressed once per coding with the engine's own compressors — the same
br/zstd/gzip a cached answer gets, so a page costs one negotiation and a dictionary lookup.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.responses import Response

from kasoku.api.negotiation import choose_encoding
from kasoku.api.respond import etag_matches
from kasoku.api.compression import compress
from kasoku.errors import NotFound

STATIC = Path(__file__).parent / "static"
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml",
          ".png": "image/png", ".txt": "text/plain; charset=utf-8", ".html": "text/html; charset=utf-8"}
_COMPRESSIBLE = (".js", ".css", ".svg", ".txt", ".html", "LICENSE", "NOTICE")
YEAR = 365 * 24 * 3600


@dataclass
class Asset:
    path: str
    content: bytes
    media_type: str
    digest: str
    bodies: dict[str, bytes] = field(default_factory=dict)

    def body(self, encoding: str) -> tuple[bytes, str]:
        """The content in ``encoding`` (made once), or identity when that is not smaller."""
        if encoding == "identity" or not self.path.endswith(_COMPRESSIBLE):
            return self.content, "identity"
        found = self.bodies.get(encoding)
        if found is None:
            found = self.bodies[encoding] = compress(self.content, encoding)
        if len(found) >= len(self.content):
            return self.content, "identity"
        return found, encoding


class Assets:
    """Every file under ``static/``, keyed by its path relative to it."""

    def __init__(self, root: Path = STATIC) -> None:
        self.files: dict[str, Asset] = {}
        for file in sorted(root.rglob("*")):
            if file.is_file():
                rel = file.relative_to(root).as_posix()
                content = file.read_bytes()
                media = _TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0] or "text/plain; charset=utf-8"
                self.files[rel] = Asset(rel, content, media, hashlib.blake2b(content, digest_size=6).hexdigest())

    def url(self, path: str) -> str:
        """The versioned URL of a file (a template helper); unknown names fail loudly."""
        return f"/static/{path}?v={self.files[path].digest}"

    def response(self, request: Request, path: str) -> Response:
        asset = self.files.get(path)
        if asset is None:
            raise NotFound(f"no static file {path!r}")
        etag = f'"{asset.digest}"'
        # A URL naming this digest never changes; anything else is revalidated.
        cache = f"public, max-age={YEAR}, immutable" if request.query_params.get("v") == asset.digest else "no-cache"
        headers = {"ETag": etag, "Cache-Control": cache, "Vary": "Accept-Encoding"}
        inm = request.headers.get("if-none-match")
        if inm and etag_matches(inm, etag):
            return Response(status_code=304, headers=headers)
        content, encoding = asset.body(choose_encoding(request.headers.get("accept-encoding")))
        if encoding != "identity":
            headers["Content-Encoding"] = encoding
        return Response(content, media_type=asset.media_type, headers=headers)


def router(assets: Assets) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.get("/static/{path:path}")
    async def static(request: Request, path: str) -> Response:
        return assets.response(request, path)

    return routes
