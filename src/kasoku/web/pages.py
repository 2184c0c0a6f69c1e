"""The dashboard's routes: listener's home, year in review (page + SVG image), artist and
track pages, search, the racing day, admin, and /docs served from the package.

Pages are server-rendered (readable with JavaScript off) and then enhanced by
``static/dash.js``, which fetches the JSON routes each chart names and draws it.
"""

from __future__ import annotations

import urllib.parse
from datetime import date, datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query as Q, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.responses import HTMLResponse, RedirectResponse, Response

from kasoku.api.auth import Forbidden
from kasoku.errors import KasokuError
from kasoku.web import auth
from kasoku.web.admin import collector_view, figures, flowchart_svg, panels
from kasoku.web.assets import Assets
from kasoku.web.assets import router as assets_router
from kasoku.web.listening import ListeningViews
from kasoku.web.periods import KINDS, LABELS, resolve, today_in
from kasoku.web.racing import RacingViews
from kasoku.web.reader import ApiReader
from kasoku.web.render import Pages
from kasoku.web.yearcard import year_card_svg

DateQ = Annotated[date | None, Q(description="ISO date")]
TzQ = Annotated[str | None, Q(max_length=64, description="IANA time zone")]


def _reader(request: Request) -> ApiReader:
    return ApiReader(request.app, user_id=auth.viewer(request), caller=request.scope)


def build_router(pages: Pages) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def common(request: Request, tz: str, **context: Any) -> dict[str, Any]:
        return {"tz": tz, "this_year": today_in(tz).year, **context}

    @router.get("/", response_class=HTMLResponse)
    async def home(request: Request, period: Annotated[str | None, Q(max_length=16)] = None, start: DateQ = None,
                   end: DateQ = None, tz: TzQ = None) -> Response:
        try:
            views = ListeningViews(_reader(request))
            chosen = resolve(period, start, end, await views.zone_for(tz))
            view = await views.home(chosen)
        except KasokuError as exc:
            return pages.error(request, exc)
        return pages.render(request, "home.html", **common(request, chosen.tz, title="Listening", view=view,
                            kinds=KINDS, labels=LABELS, preload=list(view.src.values())))

    @router.get("/years/{year}.svg")
    async def year_image(request: Request, year: int, tz: TzQ = None) -> Response:
        try:
            views = ListeningViews(_reader(request))
            review = await views.year(year, await views.zone_for(tz))
        except KasokuError as exc:
            return pages.error(request, exc)
        return pages.image(request, year_card_svg(review).encode(), "image/svg+xml", f"kasoku-{year}.svg")

    @router.get("/years/{year}", response_class=HTMLResponse)
    async def year_page(request: Request, year: int, tz: TzQ = None) -> Response:
        try:
            views = ListeningViews(_reader(request))
            review = await views.year(year, await views.zone_for(tz))
        except KasokuError as exc:
            return pages.error(request, exc)
        user = request.query_params.get("user")
        return pages.render(request, "year.html", **common(request, review["period"].tz, title=f"{year} in review",
                            review=review, year=year, user_q=f"&user={urllib.parse.quote(user)}" if user else ""))

    @router.get("/artists/{ident}", response_class=HTMLResponse)
    async def artist_page(request: Request, ident: str, name: Annotated[str | None, Q(max_length=300)] = None,
                          tz: TzQ = None) -> Response:
        try:
            views = ListeningViews(_reader(request))
            tz = await views.zone_for(tz)
            data = await views.artist(ident, name, tz)
        except KasokuError as exc:
            return pages.error(request, exc)
        return pages.render(request, "artist.html", **common(request, tz, title=data["artist"]["artist"], data=data))

    @router.get("/tracks/by-name", response_class=HTMLResponse)
    async def track_by_name(request: Request, track: Annotated[str, Q(min_length=1, max_length=300)],
                            artist: Annotated[str | None, Q(max_length=300)] = None, tz: TzQ = None) -> Response:
        return await _track(request, None, track, artist, tz)

    @router.get("/tracks/{ident}", response_class=HTMLResponse)
    async def track_page(request: Request, ident: str, track: Annotated[str | None, Q(max_length=300)] = None,
                         artist: Annotated[str | None, Q(max_length=300)] = None, tz: TzQ = None) -> Response:
        return await _track(request, ident, track, artist, tz)

    async def _track(request: Request, ident: str | None, track: str | None, artist: str | None, tz: str | None) -> Response:
        try:
            views = ListeningViews(_reader(request))
            tz = await views.zone_for(tz)
            data = await views.track(ident, track, artist, tz)
        except KasokuError as exc:
            return pages.error(request, exc)
        return pages.render(request, "track.html", **common(request, tz, title=data["track"]["track_name"], data=data))

    @router.get("/search", response_class=HTMLResponse)
    async def search(request: Request, q: Annotated[str, Q(max_length=200)] = "", tz: TzQ = None) -> Response:
        rows, src = [], None
        try:
            views = ListeningViews(_reader(request))
            tz = await views.zone_for(tz)
            if q.strip():
                rows, src = await views.search(q.strip(), tz)
        except KasokuError as exc:
            return pages.error(request, exc)
        return pages.render(request, "search.html", **common(request, tz, title="Search", q=q, rows=rows, src=src))

    @router.get("/racing", response_class=HTMLResponse)
    async def racing(request: Request, date: DateQ = None,
                     race: Annotated[str | None, Q(pattern=r"^\d{16}$")] = None) -> Response:
        try:
            views = RacingViews(_reader(request))
        except KasokuError as exc:
            return pages.error(request, exc)
        if not views.available():
            return pages.render(request, "racing.html", **common(request, "UTC", title="Racing", day=None))
        try:
            day = await views.day(date, race, datetime.now(timezone.utc).date())
        except KasokuError as exc:
            return pages.error(request, exc)
        return pages.render(request, "racing.html", **common(request, "UTC", title="Racing", day=day))

    @router.get("/signin", response_class=HTMLResponse)
    async def signin_page(request: Request, next: Annotated[str | None, Q(max_length=2000)] = None) -> Response:
        return pages.render(request, "signin.html", title="Sign in", next=auth.safe_next(next), failed=False)

    @router.post("/signin", response_class=HTMLResponse)
    async def signin(request: Request) -> Response:
        """The form's key → the session cookie of ``POST /auth/session``, then back to the page."""
        if not auth.same_origin(request):
            return pages.error(request, Forbidden("sign in from this server's own page"))
        try:
            form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=4)
        except ValueError:  # more fields than the form has
            form = {}
        secret = (form.get("key") or [""])[-1].strip()
        target = auth.safe_next((form.get("next") or ["/"])[-1])
        found = auth.authenticator(request).keys.verify(secret) if secret else None
        if found is None:
            return pages.render(request, "signin.html", status=401, title="Sign in", next=target, failed=True)
        sessions = auth.authenticator(request).sessions
        response = RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
        response.set_cookie(auth.COOKIE, sessions.issue(found), max_age=int(sessions.ttl), path="/", secure=True,
                            httponly=True, samesite="strict")
        return response

    @router.post("/signout")
    async def signout(request: Request) -> Response:
        response = RedirectResponse("/signin", status_code=303, headers={"Cache-Control": "no-store"})
        response.delete_cookie(auth.COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return response

    @router.get("/admin", response_class=HTMLResponse)
    async def admin_page(request: Request) -> Response:
        # The guard in front of the app (api/guard.py) lets only admins reach /admin: an admin
        # key or the admin token as Bearer, or the session cookie of an admin key's sign-in.
        found = figures(request.app.state.engine)
        extra = await panels(request.app)
        collector = extra.get("collector")
        if collector is not None and collector["ok"]:
            collector = {"ok": True, "users": collector_view(collector["data"])}
        return pages.render(request, "admin.html", **common(request, "UTC", title="Admin", figures=found,
                            flow=flowchart_svg(found["advice"]["path"]), collector=collector))

    return router


def docs_router(assets: Assets, openapi_url: str) -> APIRouter:
    """Swagger UI from the vendored swagger-ui-dist: /docs works with no internet."""
    router = APIRouter(include_in_schema=False)

    @router.get("/docs", response_class=HTMLResponse)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=openapi_url, title="kasoku — API",
                                   swagger_js_url=assets.url("vendor/swagger-ui/swagger-ui-bundle.js"),
                                   swagger_css_url=assets.url("vendor/swagger-ui/swagger-ui.css"),
                                   swagger_favicon_url=assets.url("vendor/swagger-ui/favicon-32x32.png"),
                                   oauth2_redirect_url="/docs/oauth2-redirect",
                                   swagger_ui_parameters={"validatorUrl": None})

    @router.get("/docs/oauth2-redirect", response_class=HTMLResponse)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    return router


def install(app: FastAPI) -> None:
    """Register the dashboard on an app built by ``api.app.create_app`` (after its domains)."""
    assets = Assets()
    pages = Pages(assets)
    app.state.web_assets = assets
    app.include_router(assets_router(assets))
    app.include_router(docs_router(assets, app.openapi_url or "/openapi.json"))
    app.include_router(build_router(pages))
    auth.install(app)
