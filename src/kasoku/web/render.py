"""HTML out: the template environment (autoescaped), number formats and links, and one
response helper that compresses a page with the engine's compressors."""

from __future__ import annotations

import contextvars
import hashlib
import urllib.parse
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Request
from starlette.responses import RedirectResponse, Response

from kasoku import __version__
from kasoku.api.negotiation import choose_encoding
from kasoku.api.queries import resolves
from kasoku.api.compression import compress
from kasoku.api.respond import etag_matches
from kasoku.errors import KasokuError
from kasoku.web import auth
from kasoku.web.assets import Assets

TEMPLATES = Path(__file__).parent / "templates"
_MIN_COMPRESS = 1024


def artist_id(name: str) -> str:
    """The listening domain's stable artist id: ``artist:`` + 16 hex of md5(name as exported)."""
    return "artist:" + hashlib.md5(name.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]


def artist_href(name: str | None, ident: str | None = None) -> str:
    if not name and not ident:
        return "#"
    ident = ident or artist_id(name or "")
    query = f"?{urllib.parse.urlencode({'name': name})}" if name else ""
    return f"/artists/{urllib.parse.quote(ident, safe=':')}{query}"


def track_href(track: str | None, artist: str | None, ident: str | None = None) -> str:
    """A track's page: by id when the answer carries one, else by its names."""
    names = urllib.parse.urlencode({"track": track or "", "artist": artist or ""})
    if ident:  # the names ride along: a server without the track route finds the track by them
        return f"/tracks/{urllib.parse.quote(ident, safe=':')}?{names}"
    return f"/tracks/by-name?{names}"


def with_user(href: str, user: str | None) -> str:
    """``href`` still showing ``user`` (an admin looking at another user's pages: ``?user=``)."""
    if not user:
        return href
    return f"{href}{'&' if '?' in href else '?'}{urllib.parse.urlencode({'user': user})}"


# The user a page being rendered shows when ``?user=`` named one: set around each (synchronous)
# render, read by the link helpers — imported macros see globals but not the page's context.
_VIEWED: contextvars.ContextVar[str | None] = contextvars.ContextVar("kasoku_web_viewed", default=None)


def _artist_link(name: str | None, ident: str | None = None) -> str:
    return with_user(artist_href(name, ident), _VIEWED.get())


def _track_link(track: str | None, artist: str | None, ident: str | None = None) -> str:
    return with_user(track_href(track, artist, ident), _VIEWED.get())


def _keep_user(href: str) -> str:
    return with_user(href, _VIEWED.get())


def num(value: Any, digits: int = 0) -> str:
    """Thousands separated; ``digits`` decimals (the API's own rounding is kept when None)."""
    if value is None:
        return "–"
    if isinstance(value, float) and digits:
        return f"{value:,.{digits}f}"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,}"
    return f"{int(value):,}"


def hours(minutes: float | None) -> str:
    return "–" if minutes is None else f"{minutes / 60:,.1f}"


def local_time(value: str | None, tz: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An API instant (ISO, UTC) shown in the page's zone."""
    if not value:
        return "–"
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return at.astimezone(ZoneInfo(tz)).strftime(fmt)


def change(now: float | None, before: float | None) -> str:
    """'+12 %' against the previous period ('new' when there was nothing)."""
    if now is None or before is None:
        return ""
    if before == 0:
        return "new" if now else "±0 %"
    pct = (now - before) / before * 100
    return f"{pct:+.0f} %"


def environment(assets: Assets) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(asset=assets.url, artist_href=_artist_link, track_href=_track_link, keep_user=_keep_user,
                       version=__version__)
    env.filters.update(num=num, hours=hours, local_time=local_time, change=change)
    return env


class Pages:
    """Renders templates into compressed HTML responses (pages are not cached: they are
    a few cache hits and a template, and they depend on today's date)."""

    def __init__(self, assets: Assets) -> None:
        self.env = environment(assets)

    def render(self, request: Request, template: str, *, status: int = 200, **context: Any) -> Response:
        context.setdefault("tz", "UTC")
        context.setdefault("preload", [])  # API URLs the page's script will fetch: fetched while parsing
        context.setdefault("this_year", datetime.now(ZoneInfo(context["tz"])).year)
        context.setdefault("racing", resolves(request.app, "/api/v1/schedule"))
        context.setdefault("signed_in", auth.caller(request))
        context.setdefault("keys_enabled", auth.keys_enabled(request))
        token = _VIEWED.set(request.query_params.get("user") or None)
        try:
            html = self.env.get_template(template).render(request=request, path=request.url.path, **context).encode()
        finally:
            _VIEWED.reset(token)
        # A reload revalidates (no-cache): the same page again is a 304 without a body.
        etag = f'"p{hashlib.blake2b(html, digest_size=10).hexdigest()}"'
        headers = {"Cache-Control": "no-cache", "Vary": "Accept-Encoding, Cookie", "ETag": etag,
                   "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
        inm = request.headers.get("if-none-match")
        if status == 200 and inm and etag_matches(inm, etag):
            return Response(status_code=304, headers=headers)
        encoding = choose_encoding(request.headers.get("accept-encoding")) if len(html) >= _MIN_COMPRESS else "identity"
        if encoding != "identity":
            html = compress(html, encoding)
            headers["Content-Encoding"] = encoding
        return Response(html, status_code=status, media_type="text/html; charset=utf-8", headers=headers)

    def image(self, request: Request, content: bytes, media_type: str, filename: str) -> Response:
        """A generated image (the year card): revalidated on every use (its figures change with
        the data) — an ETag of its bytes makes an unchanged card a 304. An SVG opened on its
        own runs nothing and loads nothing (CSP), and is never sniffed as something else."""
        etag = f'"i{hashlib.blake2b(content, digest_size=10).hexdigest()}"'
        headers = {"Cache-Control": "no-cache", "Vary": "Accept-Encoding, Cookie", "ETag": etag,
                   "X-Content-Type-Options": "nosniff", "Content-Disposition": f'inline; filename="{filename}"',
                   "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
        inm = request.headers.get("if-none-match")
        if inm and etag_matches(inm, etag):
            return Response(status_code=304, headers=headers)
        encoding = choose_encoding(request.headers.get("accept-encoding")) if len(content) >= _MIN_COMPRESS else "identity"
        if encoding != "identity" and media_type == "image/svg+xml":
            content = compress(content, encoding)
            headers["Content-Encoding"] = encoding
        return Response(content, media_type=media_type, headers=headers)

    def error(self, request: Request, exc: KasokuError) -> Response:
        """A page's bad input: the envelope's code and message, as a page with the same status
        (no session while keys exist: to the sign-in page and back)."""
        if isinstance(exc, auth.SignInRequired):
            return RedirectResponse(auth.sign_in_url(request), status_code=303, headers={"Cache-Control": "no-store"})
        return self.render(request, "error.html", status=exc.status, error=exc.to_dict(), title="Error")
