"""What the listening pages show, read from the listening routes (never from the lake).

Each view returns plain data for a template plus, per chart, the exact API URL the page's
script fetches to draw it. Routes added by the local-time work (``tz``, ``top-albums``,
``overview``, ``years/{YYYY}``, ``artists/{id}``, ``tracks/{id}``) are used when the server
has them and left out otherwise: totals then come from ``stats``, a year from the
statistics of its range, an artist or a track page from ``search``.
"""

from __future__ import annotations

import asyncio
import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from kasoku.errors import NotFound
from kasoku.web.periods import Period, today_in, year_period, zone
from kasoku.web.reader import ApiReader, url

L = "/v1/listening"
TOP = 10
RECENT = 15


@dataclass
class Totals:
    """One period's totals; ``None`` = the figure is not known without the overview route."""

    start: str | None
    end: str | None
    plays: int = 0
    minutes: float = 0.0
    tracks: int | None = None
    artists: int | None = None
    albums: int | None = None
    days_listened: int | None = None


@dataclass
class View:
    period: Period
    tz_supported: bool
    totals: Totals
    previous: Totals | None
    stats: list[dict[str, Any]]
    granularity: str
    top_tracks: list[dict[str, Any]]
    top_artists: list[dict[str, Any]]
    top_albums: list[dict[str, Any]] | None
    top_genres: list[dict[str, Any]] | None
    hours: list[dict[str, Any]]
    recent: list[dict[str, Any]]
    src: dict[str, str] = field(default_factory=dict)  # chart name → API URL its script fetches

    @property
    def hours_grid(self) -> list[list[int]]:
        return hours_grid(self.hours)


class ListeningViews:
    def __init__(self, api: ApiReader) -> None:
        self.api = api

    def tz_supported(self) -> bool:
        return self.api.supports(f"{L}/top-tracks", "tz", "UTC")

    async def zone_for(self, tz: str | None) -> str:
        """The zone a page uses: the one asked for, else the one the API answers in by default
        (a user's configured zone), read from an answer's envelope; UTC without zone support."""
        if tz:
            return zone(tz)
        if not self.tz_supported():
            return "UTC"
        today = datetime.now(timezone.utc).date().isoformat()
        body = await self.api.get(f"{L}/stats", {"start": today, "end": today, "granularity": "day"})
        return zone(body.get("tz"))

    def range_params(self, period: Period) -> dict[str, Any]:
        """start/end (and tz when the routes take it) in the order every URL uses."""
        params: dict[str, Any] = {"start": _iso(period.start), "end": _iso(period.end)}
        if self.tz_supported():
            params["tz"] = period.tz
        return params

    def src(self, route: str, params: dict[str, Any]) -> str:
        return url(route, self.api.params(params))

    async def home(self, period: Period) -> View:
        api, rng = self.api, self.range_params(period)
        gran = period.granularity()
        previous = period.previous()
        stats_p = {**rng, "granularity": gran}
        top_p = {**rng, "limit": TOP}
        timeline = asyncio.ensure_future(api.rows(f"{L}/stats", stats_p))

        async def recent() -> list[dict[str, Any]]:  # chained on the timeline, beside the rest
            return await self.recent(period, await timeline, gran)

        tasks = {
            "stats": timeline,
            "recent": recent(),
            "tracks": api.rows(f"{L}/top-tracks", top_p),
            "artists": api.rows(f"{L}/top-artists", top_p),
            "albums": api.optional_rows(f"{L}/top-albums", top_p),
            "genres": api.optional_rows(f"{L}/top-genres", top_p),
            "hours": api.rows(f"{L}/hours", rng),
            "overview": api.optional_rows(f"{L}/overview", rng),
        }
        if previous is not None and not api.has(f"{L}/overview"):
            tasks["prev"] = api.rows(f"{L}/stats", {**self.range_params(previous), "granularity": gran})
        month = self.last_month(period) if gran == "month" else None
        if month is not None:  # recent plays' likely month, asked now: recent() then finds it cached or in flight
            tasks["month_days"] = api.rows(f"{L}/stats", {**self.range_params(month), "granularity": "day"})
        try:
            got = dict(zip(tasks, await asyncio.gather(*tasks.values())))
        except BaseException:
            timeline.cancel()
            raise
        totals, prev = _totals(got["stats"], gran, period), None
        if got["overview"]:
            totals, prev = _from_overview(got["overview"])
        elif previous is not None:
            prev = _totals(got["prev"], gran, previous)
        view = View(period, self.tz_supported(), totals, prev, got["stats"], gran, got["tracks"], got["artists"],
                    got["albums"], got["genres"], got["hours"], got["recent"])
        view.src = {"timeline": self.src(f"{L}/stats", stats_p), "tracks": self.src(f"{L}/top-tracks", top_p),
                    "artists": self.src(f"{L}/top-artists", top_p), "hours": self.src(f"{L}/hours", rng)}
        if got["albums"] is not None:
            view.src["albums"] = self.src(f"{L}/top-albums", top_p)
        if got["genres"] is not None:
            view.src["genres"] = self.src(f"{L}/top-genres", top_p)
        return view

    @staticmethod
    def last_month(period: Period) -> Period | None:
        """The month of the period's last day so far (today, or its end when that is earlier),
        cut to the period: where its most recent plays usually are."""
        last = today_in(period.tz)
        if period.end is not None and period.end < last:
            last = period.end
        if period.start is not None and last < period.start:
            return None
        first = last.replace(day=1)
        return period.clip(first, first.replace(day=calendar.monthrange(first.year, first.month)[1]))

    async def recent(self, period: Period, timeline: list[dict[str, Any]], gran: str) -> list[dict[str, Any]]:
        """The last plays of the period, newest first, from its last day with plays. ``plays``
        is in time order, so the last page is at offset count - n, the count being that day's
        bucket; a month bucket is narrowed to its last day with plays by that month's day
        ``stats`` (answered from day roll-ups). One day keeps the raw sort small."""
        last = next((r for r in reversed(timeline) if r["track_count"]), None)
        if last is None:
            return []
        if gran == "day":
            day, count = last["period"], int(last["track_count"])
        else:
            first = date.fromisoformat(last["period"] + "-01")
            month = period.clip(first, first.replace(day=calendar.monthrange(first.year, first.month)[1]))
            days = await self.api.rows(f"{L}/stats", {**self.range_params(month), "granularity": "day"})
            found = next((r for r in reversed(days) if r["track_count"]), None)
            if found is None:
                return []
            day, count = found["period"], int(found["track_count"])
        params = {**self.range_params(Period("custom", date.fromisoformat(day), date.fromisoformat(day), period.tz)),
                  "limit": RECENT, "offset": max(0, count - RECENT)}
        return list(reversed(await self.api.rows(f"{L}/plays", params)))

    async def year(self, year: int, tz: str) -> dict[str, Any]:
        """The year in review: the ``years/{YYYY}`` route when present, else its statistics."""
        period = year_period(year, tz)
        if self.api.has(f"{L}/years/{year}"):
            params = {"tz": tz} if self.tz_supported() else {}
            months_p = {**self.range_params(period), "granularity": "month"}
            rows, months = await asyncio.gather(self.api.rows(f"{L}/years/{year}", params),
                                                self.api.rows(f"{L}/stats", months_p))
            if rows:
                return {"source": "years", "year": year, "review": rows[0], "period": period, "months": months,
                        "src": {"review": self.src(f"{L}/years/{year}", params),
                                "months": self.src(f"{L}/stats", months_p)}}
        view = await self.home(period)
        months = await self.api.rows(f"{L}/stats", {**self.range_params(period), "granularity": "month"})
        days = await self.api.rows(f"{L}/stats", {**self.range_params(period), "granularity": "day"})
        top_day = max(days, key=lambda r: (r["track_count"], r["period"]), default=None)
        top_month = max(months, key=lambda r: (r["track_count"], r["period"]), default=None)
        return {"source": "stats", "year": year, "view": view, "months": months, "top_day": top_day,
                "top_month": top_month, "period": period,
                "src": {**view.src, "months": self.src(f"{L}/stats", {**self.range_params(period), "granularity": "month"})}}

    async def artist(self, ident: str, name: str | None, tz: str) -> dict[str, Any]:
        params = {"tz": tz} if self.tz_supported() else {}
        if self.api.has(f"{L}/artists/{ident}"):
            rows = await self.api.rows(f"{L}/artists/{ident}", params)
            if not rows:
                raise NotFound(f"no plays of artist {ident!r}")
            return {"source": "artists", "artist": rows[0], "src": self.src(f"{L}/artists/{ident}", params)}
        if not name:
            raise NotFound(f"artist {ident!r}: this server needs the artist's name (?name=) to find it")
        tracks = [r for r in await self.api.rows(f"{L}/search", {**params, "q": name, "limit": 100})
                  if r["artist"] == name]
        top = await self.api.rows(f"{L}/top-artists", {**params, "limit": 100})
        row = next((r for r in top if r["artist"] == name), None)
        if not tracks and row is None:
            raise NotFound(f"no plays of artist {name!r}")
        return {"source": "search", "artist": {"artist": name, "artist_id": ident, "top_tracks": tracks,
                "plays": row["play_count"] if row else sum(t["play_count"] for t in tracks),
                "minutes": row["total_minutes"] if row else None,
                "unique_tracks": row["unique_tracks"] if row else len(tracks),
                "last_play": max((t["last_played"] for t in tracks), default=None)},
                "src": self.src(f"{L}/search", {**params, "q": name, "limit": 100})}

    async def track(self, ident: str | None, track: str | None, artist: str | None, tz: str) -> dict[str, Any]:
        params = {"tz": tz} if self.tz_supported() else {}
        if ident and self.api.has(f"{L}/tracks/{ident}"):
            rows = await self.api.rows(f"{L}/tracks/{ident}", params)
            if not rows:
                raise NotFound(f"no plays of track {ident!r}")
            return {"source": "tracks", "track": rows[0], "src": self.src(f"{L}/tracks/{ident}", params)}
        if not track:
            raise NotFound(f"track {ident!r}: this server finds tracks by name (/tracks/by-name?track=&artist=)")
        found = [r for r in await self.api.rows(f"{L}/search", {**params, "q": track, "limit": 100})
                 if r["track_name"] == track and (artist is None or r["artist"] == artist)]
        if not found:
            raise NotFound(f"no plays of track {track!r}" + (f" by {artist!r}" if artist else ""))
        row = found[0]
        return {"source": "search", "track": {"track_name": row["track_name"], "artist": row["artist"],
                "plays": row["play_count"], "last_play": row["last_played"]},
                "src": self.src(f"{L}/search", {**params, "q": track, "limit": 100})}

    async def search(self, q: str, tz: str) -> tuple[list[dict[str, Any]], str]:
        params = {"tz": tz} if self.tz_supported() else {}
        p = {**params, "q": q, "limit": 50}
        return await self.api.rows(f"{L}/search", p), self.src(f"{L}/search", p)


def hours_grid(rows: list[dict[str, Any]]) -> list[list[int]]:
    """weekday (1-7) x hour (0-23) → plays, zeros where the answer has no row."""
    grid = [[0] * 24 for _ in range(7)]
    for r in rows:
        grid[int(r["weekday"]) - 1][int(r["hour"])] = int(r["play_count"])
    return grid


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _totals(stats: list[dict[str, Any]], gran: str, period: Period) -> Totals:
    """Totals from ``stats`` buckets: plays and minutes add up; listening days only from day buckets."""
    plays = sum(int(r["track_count"]) for r in stats)
    minutes = round(sum(int(r["total_ms"]) for r in stats) / 60000, 2)
    days = sum(1 for r in stats if r["track_count"]) if gran == "day" else None
    return Totals(_iso(period.start), _iso(period.end), plays, minutes, days_listened=days)


def _from_overview(rows: list[dict[str, Any]]) -> tuple[Totals, Totals | None]:
    def totals(r: dict[str, Any]) -> Totals:
        return Totals(r.get("start"), r.get("end"), int(r.get("plays") or 0), float(r.get("minutes") or 0),
                      r.get("tracks"), r.get("artists"), r.get("albums"), r.get("days_listened"))

    by = {r.get("period"): r for r in rows}
    current = by.get("current") or rows[0]
    previous = by.get("previous")
    return totals(current), totals(previous) if previous else None
