"""Answers computed from the in-memory play index (play_index.py) without a SQL statement.

Over the index's small relations the answer SQL of rollup_zones.py still costs DuckDB a plan
and a dozen tiny pipelines (5–70 ms on a busy 2-core box); these functions give the same
Arrow table directly. Each one restates one statement of rollup_zones.py / year_rollup.py /
pages.year_sections, clause for clause, over the per-key sums:

- groups are the SQL's ``GROUP BY`` keys (NULL a group of its own), ranked for ``ORDER BY …
  name`` ascending with NULLs last (DuckDB's default; strings compare by code point);
- sums are integers; minutes are ``round(ms / 60000.0, 2)`` as DuckDB computes it
  (:func:`duck_round`: ``std::round(x * 100) / 100``, half away from zero);
- ``count(DISTINCT …)`` skips NULL values (structs of NULLs are values);
- JSON text is DuckDB's ``to_json`` (:func:`to_json`).

Anything these cannot state exactly (a slot outside the offsets' years, a float DuckDB would
print another way) raises :class:`Fallback`, and the SQL over the index relations answers.
tests/integration/listening/test_zone_rollup_properties.py compares every answer with raw.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from kasoku.domains.listening.play_index import _NEVER, _US_DAY, _US_HOUR, PlayIndex, us, weekday_hour

TOP = 5


class Fallback(Exception):
    """This answer needs the SQL path."""


def duck_round(x: np.ndarray) -> np.ndarray:
    """DuckDB's ``round(x, 2)`` for DOUBLE: ``std::round(x * 100.0) / 100.0`` (ties away from zero)."""
    v = x * 100.0
    tr = np.trunc(v)
    return np.where(np.abs(v - tr) == 0.5, tr + np.sign(v), np.rint(v)) / 100.0


def minutes(ms: np.ndarray | int) -> np.ndarray:
    """``round(sum(ms) / 60000.0, 2)`` of integer sums (exact in float64 below 2**53)."""
    return duck_round(np.asarray(ms, dtype=np.int64).astype(np.float64) / 60000.0)


# ---------------------------------------------------------------------- JSON as DuckDB writes it
_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


_ESCAPED = re.compile(r'[\x00-\x1f"\\]')


def _string(s: str) -> str:
    if not _ESCAPED.search(s):
        return '"' + s + '"'
    out = []
    for c in s:
        if c in _SHORT:
            out.append(_SHORT[c])
        elif ord(c) < 0x20:
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _timestamp(t_us: int) -> str:
    """A TIMESTAMPTZ as DuckDB prints it in UTC: fraction without trailing zeros, ``+00``."""
    t = datetime(1970, 1, 1) + timedelta(microseconds=int(t_us))
    text = t.strftime("%Y-%m-%d %H:%M:%S")
    if t.microsecond:
        text += "." + f"{t.microsecond:06d}".rstrip("0")
    return text + "+00"


@dataclass(frozen=True)
class Instant:
    """A TIMESTAMPTZ value for :func:`to_json` (µs since the epoch)."""

    us: int


def to_json(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        f = float(value)
        # Python's repr is the shortest round trip, as DuckDB's; they differ in notation outside this.
        if not math.isfinite(f) or (f != 0 and not 1e-4 <= abs(f) < 1e16):
            raise Fallback("float notation")
        return repr(f)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Instant):
        return _string(_timestamp(value.us))
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_string(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


# ---------------------------------------------------------------------- groups of keys
def _order_key(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """ORDER BY these ascending, NULLs last."""
    return tuple((v is None, v if v is not None else "") for v in values)


@dataclass
class Groups:
    """A GROUP BY over the index's keys: each key's group id, and per group its values and rank
    in ``ORDER BY`` of those values."""

    of_key: np.ndarray
    values: list[tuple[Any, ...]]
    rank: np.ndarray
    has_null: np.ndarray  # per group: a NULL among its values (never equal in a join)

    @classmethod
    def of(cls, rows: list[tuple[Any, ...]], skip: Any = ()) -> "Groups":
        ids: dict[tuple[Any, ...], int] = {}
        of_key = np.empty(len(rows), dtype=np.int64)
        for i, row in enumerate(rows):
            if skip != () and skip(row):
                of_key[i] = -1
                continue
            of_key[i] = ids.setdefault(row, len(ids))
        values = list(ids)
        order = sorted(range(len(values)), key=lambda g: _order_key(values[g]))
        rank = np.empty(len(values), dtype=np.int64)
        rank[order] = np.arange(len(values))
        return cls(of_key, values, rank, np.array([any(v is None for v in row) for row in values], dtype=bool))

    def __len__(self) -> int:
        return len(self.values)


class KeyGroups:
    """The groupings the answers use, built once per index."""

    def __init__(self, index: PlayIndex) -> None:
        rows = index.key_rows()
        self.track_id = [r["track_id"] for r in rows]
        # Rank of each key's track_id for min(track_id) (NULLs after every id: min skips them).
        ids = sorted({t for t in self.track_id if t is not None})
        position = {t: i for i, t in enumerate(ids)}
        self.ids = ids
        self.id_rank = np.array([position[t] if t is not None else len(ids) for t in self.track_id], dtype=np.int64)
        self.pairs = Groups.of([(r["track_name"], r["artist_name"]) for r in rows])
        self.artists = Groups.of([(r["artist_name"],) for r in rows])
        self.albums = Groups.of([(r["album_name"], r["artist_name"]) for r in rows], skip=lambda v: v[0] is None)
        self.names = Groups.of([(r["track_name"],) for r in rows], skip=lambda v: v[0] is None)
        self.artist_id = [None if a is None else "artist:" + hashlib.md5(a.encode()).hexdigest()[:16]
                          for (a,) in self.artists.values]


def key_groups(index: PlayIndex) -> KeyGroups:
    found = getattr(index, "_groups", None)
    if found is None:
        found = KeyGroups(index)
        index._groups = found  # type: ignore[attr-defined]
    return found


def _per_group(groups: Groups, present: np.ndarray, plays: np.ndarray, ms: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(group ids with counted plays, their plays, their ms) over the present keys."""
    keys = present[groups.of_key[present] >= 0]
    g = groups.of_key[keys]
    gp = np.bincount(g, weights=plays[keys], minlength=len(groups)).astype(np.int64)
    gm = np.bincount(g, weights=ms[keys], minlength=len(groups)).astype(np.int64)
    return distinct(g, len(groups)), gp, gm


def distinct(ids: np.ndarray, n: int) -> np.ndarray:
    """The distinct values of ``ids`` (all in ``[0, n)``), ascending — a count, not a sort."""
    return np.flatnonzero(np.bincount(ids, minlength=n))


def _distinct_names(kg: KeyGroups, groups: Groups, present: np.ndarray) -> np.ndarray:
    """Per group: count(DISTINCT track_name) over its present keys (NULL names not counted)."""
    keys = present[(groups.of_key[present] >= 0) & (kg.names.of_key[present] >= 0)]
    pairs = np.unique(groups.of_key[keys] * (len(kg.names) + 1) + kg.names.of_key[keys])
    return np.bincount(pairs // (len(kg.names) + 1), minlength=len(groups)).astype(np.int64)


def _ranked(used: np.ndarray, gp: np.ndarray, gm: np.ndarray, rank: np.ndarray, limit: int) -> np.ndarray:
    """ORDER BY play_count DESC, ms DESC, names LIMIT n (sorting only the groups that can make
    the first n: play counts at least the n-th largest)."""
    if len(used) > limit:
        floor = np.partition(gp[used], len(used) - limit)[len(used) - limit]
        used = used[gp[used] >= floor]
    return used[np.lexsort((rank[used], -gm[used], -gp[used]))][:limit]


def _strings(values: list[Any]) -> pa.Array:
    return pa.array(values, type=pa.string())


# ---------------------------------------------------------------------- top lists
def _top(kg: Any, groups: Any, names: tuple[str, ...], plays: np.ndarray, ms: np.ndarray, limit: int,
         *, unique_tracks: bool) -> pa.Table:
    """The top ``limit`` of ``groups`` (tracks, artists or albums): their names, play count and
    minutes, and for artists and albums the number of distinct tracks played."""
    present = np.flatnonzero(plays > 0)
    used, gp, gm = _per_group(groups, present, plays, ms)
    top = _ranked(used, gp, gm, groups.rank, limit)
    columns = {name: _strings([groups.values[g][i] for g in top]) for i, name in enumerate(names)}
    columns["play_count"] = pa.array(gp[top], pa.int64())
    columns["total_minutes"] = pa.array(minutes(gm[top]), pa.float64())
    if unique_tracks:
        columns["unique_tracks"] = pa.array(_distinct_names(kg, groups, present)[top], pa.int64())
    return pa.table(columns)


def top_tracks(index: PlayIndex, plays: np.ndarray, ms: np.ndarray, limit: int) -> pa.Table:
    kg = key_groups(index)
    return _top(kg, kg.pairs, ("track_name", "artist"), plays, ms, limit, unique_tracks=False)


def top_artists(index: PlayIndex, plays: np.ndarray, ms: np.ndarray, limit: int) -> pa.Table:
    kg = key_groups(index)
    return _top(kg, kg.artists, ("artist",), plays, ms, limit, unique_tracks=True)


def top_albums(index: PlayIndex, plays: np.ndarray, ms: np.ndarray, limit: int) -> pa.Table:
    kg = key_groups(index)
    return _top(kg, kg.albums, ("album", "artist"), plays, ms, limit, unique_tracks=True)


# ---------------------------------------------------------------------- slots
def _slots(index: PlayIndex, lo: datetime | None, hi: datetime | None, rule: int, tz: str, span: tuple[int, int]
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    found = index.local_slots(lo, hi, rule, tz, span)
    if found is None:
        raise Fallback("slots outside the offsets' years")
    _, local, plays, ms = found
    return local, plays, ms


def hourly(index: PlayIndex, lo: datetime | None, hi: datetime | None, rule: int, tz: str, span: tuple[int, int]) -> pa.Table:
    local, plays, ms = _slots(index, lo, hi, rule, tz, span)
    g = weekday_hour(local)
    n = 8 * 24
    present = np.flatnonzero(np.bincount(g, minlength=n) > 0)
    gp = np.bincount(g, weights=plays, minlength=n).astype(np.int64)
    gm = np.bincount(g, weights=ms, minlength=n).astype(np.int64)
    return pa.table({"weekday": pa.array(present // 24, pa.int32()), "hour": pa.array(present % 24, pa.int32()),
                     "play_count": pa.array(gp[present], pa.int64()), "total_minutes": pa.array(minutes(gm[present]), pa.float64())})


def _days(local: np.ndarray) -> np.ndarray:
    """The distinct local days (days since the epoch), ascending."""
    day = local // _US_DAY
    if not len(day):
        return day
    d0 = int(day.min())
    return distinct(day - d0, int(day.max()) - d0 + 1) + d0


# ---------------------------------------------------------------------- overview
def overview_row(index: PlayIndex, lo: datetime | None, hi: datetime | None, rule: int, tz: str,
                 span: tuple[int, int]) -> dict[str, Any]:
    kg = key_groups(index)
    plays, ms, _ = index.sums(lo, hi, rule)
    present = np.flatnonzero(plays > 0)
    local, _, _ = _slots(index, lo, hi, rule, tz, span)
    return {"plays": int(plays[present].sum()), "minutes": float(minutes(int(ms[present].sum()))),
            **_distinct_counts(kg, present), "days_listened": len(_days(local))}


def _distinct_counts(kg: KeyGroups, present: np.ndarray) -> dict[str, int]:
    """count(DISTINCT (track_name, artist_name)), count(DISTINCT artist_name) (NULL not counted),
    count(DISTINCT (album_name, artist_name)) FILTER (WHERE album_name IS NOT NULL)."""
    artists = distinct(kg.artists.of_key[present], len(kg.artists))
    albums = kg.albums.of_key[present]
    return {"tracks": len(distinct(kg.pairs.of_key[present], len(kg.pairs))),
            "artists": int((~kg.artists.has_null[artists]).sum()),
            "albums": len(distinct(albums[albums >= 0], len(kg.albums)))}


def overview(rows: list[tuple[str, date | None, date | None, dict[str, Any]]]) -> pa.Table:
    rows = sorted(rows, key=lambda r: r[0])
    return pa.table({"period": _strings([r[0] for r in rows]), "start": pa.array([r[1] for r in rows], pa.date32()),
                     "end": pa.array([r[2] for r in rows], pa.date32()),
                     **{c: pa.array([r[3][c] for r in rows], pa.float64() if c == "minutes" else pa.int64())
                        for c in ("plays", "minutes", "tracks", "artists", "albums", "days_listened")}})


# ---------------------------------------------------------------------- year in review
def _day_text(day: int) -> str:
    return str(np.datetime64(int(day), "D"))


def year(index: PlayIndex, year_number: int, lo: datetime, hi: datetime, rule: int, tz: str) -> pa.Table:
    kg = key_groups(index)
    span = (year_number - 1, year_number + 1)
    plays, ms, first = index.sums(lo, hi, rule, times=True)
    assert first is not None
    present = np.flatnonzero(plays > 0)
    local, sp, sm = _slots(index, lo, hi, rule, tz, span)
    day = local // _US_DAY
    days = _days(local)

    totals = {"plays": int(plays[present].sum()), "minutes": float(minutes(int(ms[present].sum()))),
              **_distinct_counts(kg, present), "days_listened": len(days)}

    used, gp, gm = _per_group(kg.pairs, present, plays, ms)
    top = _ranked(used, gp, gm, kg.pairs.rank, TOP)
    track_ids = _min_track_ids(kg, present)
    top_tracks = [{"track_id": track_ids.get(int(g)), "track_name": kg.pairs.values[g][0], "artist": kg.pairs.values[g][1],
                   "play_count": int(gp[g]), "total_minutes": float(minutes(int(gm[g])))} for g in top]
    used, ap, am = _per_group(kg.artists, present, plays, ms)
    top = _ranked(used, ap, am, kg.artists.rank, TOP)
    top_artists = [{"artist_id": kg.artist_id[g], "artist": kg.artists.values[g][0], "play_count": int(ap[g]),
                    "total_minutes": float(minutes(int(am[g])))} for g in top]
    used, bp, bm = _per_group(kg.albums, present, plays, ms)
    top = _ranked(used, bp, bm, kg.albums.rank, TOP)
    top_albums = [{"album": kg.albums.values[g][0], "artist": kg.albums.values[g][1], "play_count": int(bp[g]),
                   "total_minutes": float(minutes(int(bm[g])))} for g in top]

    top_month = top_day = streak = None
    if len(day):
        d0 = int(day.min())
        per_day_p = np.bincount(day - d0, weights=sp).astype(np.int64)
        per_day_m = np.bincount(day - d0, weights=sm).astype(np.int64)
        listened = np.flatnonzero(np.bincount(day - d0) > 0)
        month = (listened + d0).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        months, inverse = np.unique(month, return_inverse=True)
        mp = np.bincount(inverse, weights=per_day_p[listened]).astype(np.int64)
        mm = np.bincount(inverse, weights=per_day_m[listened]).astype(np.int64)
        best = int(np.lexsort((months, -mp, -mm))[0])
        top_month = {"month": str(np.datetime64(int(months[best]), "M")), "plays": int(mp[best]),
                     "minutes": float(minutes(int(mm[best])))}
        best = listened[np.lexsort((listened, -per_day_p[listened], -per_day_m[listened]))[0]]
        top_day = {"day": _day_text(d0 + int(best)), "plays": int(per_day_p[best]), "minutes": float(minutes(int(per_day_m[best])))}
        # Runs of consecutive days: the longest, the earliest among equals.
        breaks = np.flatnonzero(np.diff(days) != 1)
        starts = np.r_[0, breaks + 1]
        ends = np.r_[breaks, len(days) - 1]
        lengths = ends - starts + 1
        run = int(np.lexsort((days[starts], -lengths))[0])
        streak = {"start": _day_text(int(days[starts[run]])), "end": _day_text(int(days[ends[run]])), "days": int(lengths[run])}

    discoveries = _discoveries(index, kg, present, plays, first, lo, rule, track_ids)
    replay = index.replays(lo, hi, rule, tz, span)
    if replay is None:
        raise Fallback("plays outside the offsets' years")
    most = None
    if replay.num_rows:
        rows = replay.to_pylist()
        most = min(rows, key=lambda r: _order_key((r["day"], r["track_name"], r["artist"])))
    hour = (local // _US_HOUR) % 24
    hp = np.bincount(hour, weights=sp, minlength=24).astype(np.int64)
    hm = np.bincount(hour, weights=sm, minlength=24).astype(np.int64)
    hours = [{"hour": h, "play_count": int(hp[h]), "total_minutes": float(minutes(int(hm[h])))} for h in range(24)]

    def text(v: Any) -> str | None:
        return None if v is None else to_json(v)

    return pa.table({"year": pa.array([year_number], pa.int32()), "totals": _strings([to_json(totals)]),
                     "top_tracks": _strings([to_json(top_tracks)]), "top_artists": _strings([to_json(top_artists)]),
                     "top_albums": _strings([to_json(top_albums)]), "top_month": _strings([text(top_month)]),
                     "top_day": _strings([text(top_day)]), "longest_streak": _strings([text(streak)]),
                     "discoveries": _strings([to_json(discoveries)]), "most_replayed": _strings([text(most)]),
                     "hours": _strings([to_json(hours)])})


def _min_track_ids(kg: KeyGroups, present: np.ndarray) -> dict[int, str | None]:
    """min(track_id) per (track, artist) over the present keys (NULL ids skipped)."""
    best = np.full(len(kg.pairs), len(kg.ids), dtype=np.int64)
    np.minimum.at(best, kg.pairs.of_key[present], kg.id_rank[present])
    return _IdLookup(kg.ids, best)


class _IdLookup(dict):  # type: ignore[type-arg]
    """``get(pair)``: the pair's smallest track_id (None when all are NULL), looked up lazily."""

    def __init__(self, ids: list[str], best: np.ndarray) -> None:
        super().__init__()
        self._ids, self._best = ids, best

    def get(self, g: int, default: Any = None) -> str | None:  # type: ignore[override]
        r = int(self._best[g])
        return self._ids[r] if r < len(self._ids) else None


def _discoveries(index: PlayIndex, kg: KeyGroups, present: np.ndarray, plays: np.ndarray, first: np.ndarray,
                 lo: datetime, rule: int, track_ids: dict[int, str | None]) -> dict[str, Any]:
    """Tracks and artists of the range with no counted play before ``lo``. As the SQL's ANTI JOIN
    USING (names): a NULL name never matches, so such a group is always new."""
    before = np.flatnonzero(index.first_ever(rule) < us(lo))
    old_pairs = np.zeros(len(kg.pairs), dtype=bool)
    old_pairs[kg.pairs.of_key[before]] = True
    old_artists = np.zeros(len(kg.artists), dtype=bool)
    old_artists[kg.artists.of_key[before]] = True

    def new(groups: Groups, old: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        g = groups.of_key[present]
        keep = ~old[g] | groups.has_null[g]
        keys = present[keep]
        ids = distinct(groups.of_key[keys], len(groups))
        gp = np.bincount(groups.of_key[keys], weights=plays[keys], minlength=len(groups)).astype(np.int64)
        gf = np.full(len(groups), _NEVER, dtype=np.int64)
        np.minimum.at(gf, groups.of_key[keys], first[keys])
        return ids, gp, gf

    ids, gp, gf = new(kg.pairs, old_pairs)
    top = ids[np.lexsort((kg.pairs.rank[ids], gf[ids], -gp[ids]))][:TOP]
    tracks = [{"track_id": track_ids.get(int(g)), "track_name": kg.pairs.values[g][0], "artist": kg.pairs.values[g][1],
               "first_play": Instant(int(gf[g])), "play_count": int(gp[g])} for g in top]
    aids, ap, af = new(kg.artists, old_artists)
    top = aids[np.lexsort((kg.artists.rank[aids], af[aids], -ap[aids]))][:TOP]
    artists = [{"artist_id": kg.artist_id[g], "artist": kg.artists.values[g][0], "first_play": Instant(int(af[g])),
                "play_count": int(ap[g])} for g in top]
    return {"tracks": len(ids), "artists": len(aids), "top_tracks": tracks, "top_artists": artists}
