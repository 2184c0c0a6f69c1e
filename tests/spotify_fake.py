"""A local server speaking Spotify's documented accounts service and Web API (the way moto speaks S3).

Tests start it on a loopback port and point ``spotify.accounts_url`` / ``spotify.api_url`` at it;
the real Spotify is never contacted. What it does, from reference/spotify-web-api.md:

- ``GET /authorize`` (PKCE, S256): redirects to ``redirect_uri?code=..&state=..``; loopback IP
  redirects only (``localhost`` is refused, as Spotify does since Nov 2025);
- ``POST /api/token``: ``authorization_code`` (checks the verifier against the challenge) and
  ``refresh_token`` (rotates: the old refresh token then fails with ``invalid_grant``);
- ``GET /v1/me``, ``GET /v1/me/player/recently-played`` (``limit`` 1-50, ``after``/``before`` in ms,
  exclusive; only the last 50 plays are kept; newest first; ``cursors``), ``GET /v1/artists/{id}``;
- faults on demand: ``fail(path_prefix, status, headers, times)`` (429 + Retry-After, 5xx, 403),
  ``expire_tokens()`` (the next API call gets 401), ``delay`` (seconds before answering plays).

``played_at`` is the play's start or its end (``played_at_mode``), as Spotify's own clients do.
``export_rows()`` gives the same plays as extended-history export rows (``ts`` = end).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

WINDOW = 50  # recently-played keeps the last 50 plays


@dataclass
class FakePlay:
    start: datetime
    ms_played: int
    track_id: str
    track_name: str
    artist_id: str
    artist_name: str
    duration_ms: int
    album_name: str = "Album"

    @property
    def end(self) -> datetime:
        return self.start + timedelta(milliseconds=self.ms_played)


@dataclass
class Fault:
    prefix: str
    status: int
    headers: dict[str, str]
    times: int
    body: dict[str, Any] = field(default_factory=dict)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


class FakeSpotify:
    def __init__(self, *, client_id: str = "test-client", played_at_mode: str = "start") -> None:
        self.client_id = client_id
        self.played_at_mode = played_at_mode
        self.plays: list[FakePlay] = []
        self.requests: list[tuple[str, str]] = []  # (method, path?query)
        self.faults: list[Fault] = []
        self.delay = 0.0
        self.codes: dict[str, dict[str, str]] = {}
        self.access: dict[str, float] = {}  # token -> expiry (epoch s)
        self.refresh_tokens: set[str] = set()
        self.artists: dict[str, dict[str, Any]] = {}
        self.user = {"id": "fake-user", "display_name": "Fake User"}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> "FakeSpotify":
        handler = _handler(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-spotify", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- scripting ------------------------------------------------------------------------
    def add_plays(self, n: int, *, start: datetime, gap_s: float = 200.0, seed: int = 0, tracks: int = 12) -> list[FakePlay]:
        """``n`` plays one after another from ``start`` (each lasts its track, then a pause)."""
        added = []
        at = start
        for i in range(n):
            k = (seed * 7919 + i) % tracks
            duration = 150_000 + 7_000 * k
            play = FakePlay(start=at, ms_played=duration, track_id=f"trk{k:04d}", track_name=f"Song {k}",
                            artist_id=f"art{k % 5:03d}", artist_name=f"Artist {k % 5}", duration_ms=duration)
            added.append(play)
            at = play.end + timedelta(seconds=gap_s) + timedelta(milliseconds=137 * (i % 7))
        with self._lock:
            self.plays.extend(added)
            self.plays.sort(key=lambda p: p.start)
        for play in added:
            self.artists.setdefault(play.artist_id, {"id": play.artist_id, "name": play.artist_name, "type": "artist",
                                                     "genres": [f"genre {play.artist_id[-1]}", "j-pop"],
                                                     "images": [{"url": f"https://i.example/{play.artist_id}.jpg",
                                                                 "height": 640, "width": 640}]})
        return added

    def fail(self, prefix: str, status: int, *, times: int = 1, headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self.faults.append(Fault(prefix, status, headers or {}, times))

    def expire_tokens(self) -> None:
        with self._lock:
            self.access.clear()

    def count(self, prefix: str) -> int:
        return sum(1 for _, path in self.requests if path.startswith(prefix))

    def played_at(self, play: FakePlay) -> datetime:
        return play.start if self.played_at_mode == "start" else play.end

    def export_rows(self, plays: list[FakePlay] | None = None) -> list[dict[str, Any]]:
        """The plays as extended streaming history rows (``ts`` = when the stream ended, to the second)."""
        return [{"ts": p.end.strftime("%Y-%m-%dT%H:%M:%SZ"), "platform": "linux", "ms_played": p.ms_played,
                 "conn_country": "JP", "master_metadata_track_name": p.track_name,
                 "master_metadata_album_artist_name": p.artist_name, "master_metadata_album_album_name": p.album_name,
                 "spotify_track_uri": f"spotify:track:{p.track_id}", "episode_name": None, "episode_show_name": None,
                 "spotify_episode_uri": None, "reason_start": "trackdone", "reason_end": "trackdone",
                 "shuffle": False, "skipped": False, "offline": False, "offline_timestamp": None, "incognito_mode": False}
                for p in (self.plays if plays is None else plays)]

    # -- endpoints --------------------------------------------------------------------------
    def _fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if path.startswith(fault.prefix) and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def authorize(self, q: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        redirect = q.get("redirect_uri", "")
        host = urlparse(redirect).hostname
        if q.get("client_id") != self.client_id:
            return 400, {}, {"error": "invalid_client", "error_description": "Invalid client"}
        if host not in ("127.0.0.1", "::1") or not redirect.startswith(("http://127.0.0.1:", "http://[::1]:")):
            return 400, {}, {"error": "invalid_request", "error_description": "Invalid redirect URI"}
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge") or q.get("response_type") != "code":
            return 400, {}, {"error": "invalid_request", "error_description": "code_challenge required"}
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"challenge": q["code_challenge"], "redirect_uri": redirect, "scope": q.get("scope", "")}
        return 302, {"Location": f"{redirect}?{urlencode({'code': code, 'state': q.get('state', '')})}"}, None

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if form.get("client_id") != self.client_id:
            return 400, {}, {"error": "invalid_client", "error_description": "Invalid client"}
        grant = form.get("grant_type")
        if grant == "authorization_code":
            issued = self.codes.pop(form.get("code", ""), None)
            if issued is None or issued["redirect_uri"] != form.get("redirect_uri"):
                return 400, {}, {"error": "invalid_grant", "error_description": "Invalid authorization code"}
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if challenge != issued["challenge"]:
                return 400, {}, {"error": "invalid_grant", "error_description": "code_verifier was incorrect"}
            scope = issued["scope"]
        elif grant == "refresh_token":
            old = form.get("refresh_token", "")
            with self._lock:
                if old not in self.refresh_tokens:
                    return 400, {}, {"error": "invalid_grant", "error_description": "Invalid refresh token"}
                self.refresh_tokens.discard(old)  # rotation: the old one is spent
            scope = "user-read-recently-played"
        else:
            return 400, {}, {"error": "unsupported_grant_type"}
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        with self._lock:
            self.access[access] = time.time() + 3600
            self.refresh_tokens.add(refresh)
        return 200, {}, {"access_token": access, "token_type": "Bearer", "expires_in": 3600,
                         "refresh_token": refresh, "scope": scope}

    def authorised(self, header: str | None) -> bool:
        token = (header or "").removeprefix("Bearer ")
        with self._lock:
            return self.access.get(token, 0) > time.time()

    def recently_played(self, q: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        try:
            limit = int(q.get("limit", "20"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 50 or ("after" in q and "before" in q):
            return 400, {}, {"error": {"status": 400, "message": "Invalid limit / cursors"}}
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            window = sorted(self.plays, key=self.played_at)[-WINDOW:]
        if "after" in q:
            window = [p for p in window if _ms(self.played_at(p)) > int(q["after"])]
        elif "before" in q:
            window = [p for p in window if _ms(self.played_at(p)) < int(q["before"])]
        page = list(reversed(window))[:limit]  # newest first
        items = [{"track": {"id": p.track_id, "name": p.track_name, "type": "track", "duration_ms": p.duration_ms,
                            "explicit": False, "popularity": 50, "uri": f"spotify:track:{p.track_id}",
                            "artists": [{"id": p.artist_id, "name": p.artist_name, "type": "artist"}],
                            "album": {"id": f"alb{p.track_id}", "name": p.album_name}},
                  "played_at": _iso(self.played_at(p)), "context": None} for p in page]
        cursors = ({"after": str(_ms(self.played_at(page[0]))), "before": str(_ms(self.played_at(page[-1])))}
                   if page else None)
        return 200, {}, {"items": items, "next": None, "cursors": cursors, "limit": limit,
                         "href": f"{self.url}/v1/me/player/recently-played?{urlencode(q)}"}


def _handler(fake: FakeSpotify) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def setup(self) -> None:
            super().setup()
            # headers and body go out in two writes: without NODELAY, Nagle + delayed ACK add ~40 ms
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _send(self, status: int, headers: dict[str, str], body: Any) -> None:
            raw = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _route(self, method: str) -> None:
            url = urlparse(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            fake.requests.append((method, self.path))
            fault = fake._fault(url.path)
            if fault is not None:
                self._send(fault.status, fault.headers, {"error": {"status": fault.status, "message": "fault"}})
                return
            if method == "GET" and url.path == "/authorize":
                self._send(*fake.authorize(q))
                return
            if method == "POST" and url.path == "/api/token":
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                self._send(*fake.token(form))
                return
            if not url.path.startswith("/v1/"):
                self._send(404, {}, {"error": {"status": 404, "message": "Service not found"}})
                return
            if not fake.authorised(self.headers.get("Authorization")):
                self._send(401, {}, {"error": {"status": 401, "message": "The access token expired"}})
                return
            if url.path == "/v1/me":
                self._send(200, {}, fake.user)
            elif url.path == "/v1/me/player/recently-played":
                self._send(*fake.recently_played(q))
            elif url.path.startswith("/v1/artists/"):
                artist = fake.artists.get(url.path.rsplit("/", 1)[-1])
                self._send(200 if artist else 404, {}, artist or {"error": {"status": 404, "message": "not found"}})
            else:
                self._send(404, {}, {"error": {"status": 404, "message": "Service not found"}})

        def do_GET(self) -> None:  # noqa: N802
            self._route("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._route("POST")

    return Handler
