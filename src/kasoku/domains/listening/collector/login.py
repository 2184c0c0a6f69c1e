"""``kasoku spotify login``: the browser half of Authorization Code + PKCE.

The authorize URL is printed (and opened unless ``--no-browser``); the code comes back either
to a one-shot HTTP listener on ``http://127.0.0.1:PORT/callback`` or — on a headless box whose
browser runs elsewhere, where the redirect lands on a page that does not load — as the
redirected URL pasted on stdin. Whichever arrives first wins; ``state`` is checked either way.
"""

from __future__ import annotations

import queue
import secrets
import threading
import time
import webbrowser
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import IO, Any
from urllib.parse import parse_qs, urlparse

import httpx

from kasoku.config import Settings
from kasoku.domains.listening.collector.auth import (REDIRECT_PATH, AuthError, TokenStore, Tokens, authorize_url,
                                                     exchange_code, new_verifier, redirect_uri)

PAGE = (b"<!doctype html><meta charset=utf-8><title>kasoku</title>"
        b"<p>kasoku: Spotify login received. You can close this tab.</p>")


def _listener(port: int, answers: "queue.Queue[str]") -> HTTPServer:
    class Callback(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            if urlparse(self.path).path != REDIRECT_PATH:
                self.send_error(404)
                return
            answers.put(f"http://127.0.0.1:{port}{self.path}")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

    return HTTPServer(("127.0.0.1", port), Callback)


def _read_pasted(stream: IO[str], answers: "queue.Queue[str]") -> None:
    for line in stream:
        text = line.strip()
        if "code=" in text or "error=" in text:
            answers.put(text)
            return


def parse_redirect(url: str, expected_state: str) -> str:
    """The ``code`` of a redirected URL; a refusal or a foreign ``state`` is an AuthError."""
    query = {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
    if "error" in query:
        raise AuthError(f"Spotify login was not granted: {query['error']}")
    if query.get("state") != expected_state:
        raise AuthError("the redirected URL belongs to another login attempt (state does not match): try again")
    if not query.get("code"):
        raise AuthError("the redirected URL has no code")
    return query["code"]


def login(settings: Settings, user_id: str, *, port: int = 8888, open_browser: bool = True,
          stdin: IO[str] | None = None, show: Callable[[str], None] = print, timeout: float = 300.0,
          client: httpx.Client | None = None) -> Tokens:
    """Run the login; store and return the tokens (refresh token in the state directory, 0600)."""
    answers: "queue.Queue[str]" = queue.Queue()
    try:
        server = _listener(port, answers)
    except OSError as exc:
        raise AuthError(f"cannot listen on 127.0.0.1:{port} for the callback ({exc}); pick another --port "
                        "(and register http://127.0.0.1:<port>/callback in your Spotify app)") from None
    port = server.server_address[1]
    verifier, state = new_verifier(), secrets.token_urlsafe(16)
    redirect = redirect_uri(port)
    url = authorize_url(settings.spotify, redirect=redirect, verifier=verifier, state=state)
    threading.Thread(target=server.serve_forever, name="spotify-login", daemon=True).start()
    if stdin is not None:
        threading.Thread(target=_read_pasted, args=(stdin, answers), name="spotify-login-paste", daemon=True).start()
    try:
        show(f"Open this URL and allow access (redirect URI to register in your Spotify app: {redirect}):\n{url}")
        if stdin is not None:
            show("Headless? After allowing, paste the URL your browser was redirected to here and press Enter.")
        if open_browser:
            webbrowser.open(url)
        try:
            answer = answers.get(timeout=timeout)
        except queue.Empty:
            raise AuthError(f"no login within {timeout:.0f} s") from None
    finally:
        server.shutdown()
        server.server_close()
    code = parse_redirect(answer, state)
    own = client is None
    http = client or httpx.Client(timeout=settings.spotify.timeout)
    try:
        tokens = exchange_code(http, settings.spotify, code=code, redirect=redirect, verifier=verifier)
        try:
            me = http.get(settings.spotify.api_url.rstrip("/") + "/v1/me",
                          headers={"Authorization": f"Bearer {tokens.access_token}"}, timeout=settings.spotify.timeout)
            if me.status_code == 200:
                tokens.spotify_user, tokens.display_name = me.json().get("id"), me.json().get("display_name")
        except httpx.HTTPError:
            pass  # who is logged in is nice to show, not needed to collect
    finally:
        if own:
            http.close()
    tokens.logged_in_at = time.time()
    TokenStore(settings.state, user_id).save(tokens)
    return tokens
