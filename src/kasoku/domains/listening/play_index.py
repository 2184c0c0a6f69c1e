"""One user's plays at one snapshot, held in memory as integer columns, with month roll-ups.

The any-zone roll-ups on DuckLake answer exactly but slowly: every table reference of a query
costs DuckLake catalog work, a range of local days needs month rows + day rows + raw edge
plays from three tables, and the row sources carry strings (docs/rollups.md, "In memory").
This index holds what those row sources give, for one (snapshot, user), in NumPy:

- every play of the user, sorted by instant: ``t`` (µs since the epoch, UTC), ``ms``, ``key``
  (an integer for the play's (track_id, track_name, artist_name, album_name)); the strings
  live once per key;
- month rows: per (UTC month, key) the plays, ms, first and last instant under both play
  rules (every stream, streams of 30 s or more) — ``rollup_track_months`` as integers;
- quarter-hour slots: per UTC quarter-hour the plays and ms under both rules —
  ``rollup_quarter_hours``.

A range ``[lo, hi)`` of instants is its whole UTC months (month rows) plus the plays outside
them (two slices of the sorted plays: the partial months, edges included). Sums are integer,
per key, so a relation of per-key rows built here equals, row for row after the outer SQL
groups it, the union of month rows, day rows and edge plays the DuckLake plan reads.
index_answers.py computes answers from these sums; for the other tools the answers' SQL
(rollup_zones.py) runs unchanged over small relations built here (Arrow tables).

An index is built on first use per (snapshot, user) from ``plays`` at that snapshot (two
scans: the distinct keys, then the plays as integers) and dropped when a newer snapshot is
seen: a snapshot never changes, so nothing else invalidates it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kasoku.domains.listening.tables import PLAYS, ref
from kasoku.domains.listening.zones import transitions
from kasoku.lake.duckdb_pool import DuckDBPool

log = logging.getLogger(__name__)

RULE_MS = 30_000  # the second play rule the index keeps counts for (min_ms 0 is the first)
_US_DAY = 86_400_000_000
_US_HOUR = 3_600_000_000
_US_SLOT = 900_000_000
_NEVER = np.iinfo(np.int64).max
_KEY_COLUMNS = ("track_id", "track_name", "artist_name", "album_name")
_TS = pa.timestamp("us", tz="UTC")


def us(t: datetime) -> int:
    """A UTC instant as µs since the epoch (exact: integer arithmetic, no float)."""
    delta = t.astimezone(timezone.utc) - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _month_index(t_us: np.ndarray) -> np.ndarray:
    """UTC month of each instant as months since 1970-01."""
    return t_us.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64)


def _month_start_us(month: int) -> int:
    return int(np.datetime64(int(month), "M").astype("datetime64[us]").astype(np.int64))


@dataclass
class _Months:
    """Month rows sorted by (month, key); per rule r (0: every stream, 1: ≥ 30 s) the counts."""

    month: np.ndarray
    key: np.ndarray
    plays: tuple[np.ndarray, np.ndarray]
    ms: tuple[np.ndarray, np.ndarray]
    first: tuple[np.ndarray, np.ndarray]
    last: tuple[np.ndarray, np.ndarray]


class PlayIndex:
    def __init__(self, t: np.ndarray, ms: np.ndarray, key: np.ndarray, keys: pa.Table) -> None:
        order = np.argsort(t, kind="stable")
        self.t, self.ms, self.key = t[order], ms[order], key[order].astype(np.int64)
        self.keys = keys  # one row per key: track_id, track_name, artist_name, album_name
        self.n_keys = keys.num_rows
        self.counted = (np.ones(len(self.t), dtype=bool), self.ms >= RULE_MS)
        self.months = self._month_rows()
        self.slots = self._slots()
        # Pairs (track_name, artist_name) of each key: the grain of "most replays in a day".
        self.pair_of_key = encode([keys["track_name"], keys["artist_name"]])
        self._first: list[np.ndarray | None] = [None, None]
        self._key_rows: list[dict[str, Any]] | None = None

    def key_rows(self) -> list[dict[str, Any]]:
        """The keys as Python dicts (track_id, track_name, artist_name, album_name), made once."""
        if self._key_rows is None:
            self._key_rows = self.keys.to_pylist()
        return self._key_rows

    def first_ever(self, rule: int) -> np.ndarray:
        """Per key: the instant (µs) of its first counted play, ``_NEVER`` without one."""
        r = 1 if rule else 0
        if self._first[r] is None:
            first = np.full(self.n_keys, _NEVER, dtype=np.int64)
            np.minimum.at(first, self.key[self.counted[r]], self.t[self.counted[r]])
            self._first[r] = first
        return self._first[r]  # type: ignore[return-value]

    @property
    def nbytes(self) -> int:
        arrays = [self.t, self.ms, self.key, self.counted[1], self.months.month, self.months.key, *self.months.plays,
                  *self.months.ms, *self.months.first, *self.months.last, *self.slots.values(), self.pair_of_key]
        return sum(a.nbytes for a in arrays) + self.keys.nbytes

    # ------------------------------------------------------------------ build
    def _month_rows(self) -> _Months:
        """Per (UTC month, key) with plays: counts by bincount over dense (month, key) bins when
        those stay small (no sort), else by sorting."""
        n = self.n_keys
        month = _month_index(self.t)
        m0 = int(month.min()) if len(month) else 0
        bins = (int(month.max()) - m0 + 1) * n if len(month) else 0
        if bins > 40_000_000:
            return self._month_rows_sorted(month)
        g = (month - m0) * n + self.key
        rows = np.flatnonzero(np.bincount(g, minlength=bins))  # (month, key) ascending
        plays, msum, first, last = [], [], [], []
        for counted in self.counted:
            gc = g[counted]
            plays.append(np.bincount(gc, minlength=bins)[rows].astype(np.int64))
            msum.append(np.bincount(gc, weights=self.ms[counted], minlength=bins)[rows].astype(np.int64))
            lo = np.full(bins, _NEVER, dtype=np.int64)
            np.minimum.at(lo, gc, self.t[counted])
            hi = np.full(bins, -_NEVER, dtype=np.int64)
            np.maximum.at(hi, gc, self.t[counted])
            first.append(lo[rows])
            last.append(hi[rows])
        return _Months(month=rows // n + m0, key=rows % n, plays=(plays[0], plays[1]), ms=(msum[0], msum[1]),
                       first=(first[0], first[1]), last=(last[0], last[1]))

    def _month_rows_sorted(self, month: np.ndarray) -> _Months:
        combined = month * self.n_keys + self.key
        order = np.argsort(combined, kind="stable")  # by (month, key), time order inside a group
        c = combined[order]
        starts = np.flatnonzero(np.concatenate([[True], c[1:] != c[:-1]]))
        t, ms = self.t[order], self.ms[order]
        plays, msum, first, last = [], [], [], []
        for counted in self.counted:
            k = counted[order]
            plays.append(np.add.reduceat(k.astype(np.int64), starts))
            msum.append(np.add.reduceat(np.where(k, ms, 0), starts))
            first.append(np.minimum.reduceat(np.where(k, t, _NEVER), starts))
            last.append(np.maximum.reduceat(np.where(k, t, -_NEVER), starts))
        return _Months(month=c[starts] // self.n_keys, key=c[starts] % self.n_keys,
                       plays=(plays[0], plays[1]), ms=(msum[0], msum[1]), first=(first[0], first[1]),
                       last=(last[0], last[1]))

    def _slots(self) -> dict[str, np.ndarray]:
        slot = self.t // _US_SLOT
        starts = np.flatnonzero(np.r_[True, slot[1:] != slot[:-1]]) if len(slot) else np.zeros(0, np.int64)
        out = {"slot": slot[starts] if len(slot) else slot}
        for r, counted in enumerate(self.counted):
            out[f"plays{r}"] = np.add.reduceat(counted.astype(np.int64), starts) if len(slot) else slot
            out[f"ms{r}"] = np.add.reduceat(np.where(counted, self.ms, 0), starts) if len(slot) else slot
        return out

    # ------------------------------------------------------------------ track rows
    def _play_slice(self, lo: int | None, hi: int | None) -> slice:
        a = 0 if lo is None else int(np.searchsorted(self.t, lo, side="left"))
        b = len(self.t) if hi is None else int(np.searchsorted(self.t, hi, side="left"))
        return slice(a, max(a, b))

    def sums(self, lo: datetime | None, hi: datetime | None, rule: int, *, times: bool = False
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Per key: counted plays, their ms, and (``times``) the first counted instant (µs;
        ``_NEVER`` without plays) in ``[lo, hi)`` — whole UTC months from the month rows, the
        rest from the plays (all integers; bincount's float sums stay below 2**53, so exact)."""
        r = 1 if rule else 0
        lo_us, hi_us = (us(lo) if lo is not None else None), (us(hi) if hi is not None else None)
        # Whole UTC months inside [lo, hi): [m0, m1).
        m0 = None if lo_us is None else int(_month_index(np.array([lo_us - 1]))[0]) + 1
        m1 = None if hi_us is None else int(_month_index(np.array([hi_us]))[0])
        mo = self.months
        parts: list[slice] = []
        if m0 is not None and m1 is not None and m0 >= m1:
            rows = slice(0, 0)
            parts.append(self._play_slice(lo_us, hi_us))
        else:
            a = 0 if m0 is None else int(np.searchsorted(mo.month, m0, side="left"))
            b = len(mo.month) if m1 is None else int(np.searchsorted(mo.month, m1, side="left"))
            rows = slice(a, b)
            if m0 is not None:
                parts.append(self._play_slice(lo_us, _month_start_us(m0)))
            if m1 is not None:
                parts.append(self._play_slice(_month_start_us(m1), hi_us))
        n = self.n_keys
        plays, ms = np.zeros(n, dtype=np.float64), np.zeros(n, dtype=np.float64)
        if rows.stop > rows.start:
            plays += np.bincount(mo.key[rows], weights=mo.plays[r][rows], minlength=n)
            ms += np.bincount(mo.key[rows], weights=mo.ms[r][rows], minlength=n)
        first = np.full(n, _NEVER, dtype=np.int64) if times else None
        if first is not None and rows.stop > rows.start:
            np.minimum.at(first, mo.key[rows], mo.first[r][rows])
        for s in parts:
            counted = self.counted[r][s]
            keys = self.key[s][counted]
            plays += np.bincount(keys, minlength=n)
            ms += np.bincount(keys, weights=self.ms[s][counted], minlength=n)
            if first is not None and len(keys):
                np.minimum.at(first, keys, self.t[s][counted])
        return plays.astype(np.int64), ms.astype(np.int64), first

    def track_rows(self, lo: datetime | None, hi: datetime | None, rule: int, *, times: bool = False) -> pa.Table:
        """Per key with counted plays in ``[lo, hi)``: (track_id, track_name, artist_name, album_name,
        plays, ms[, first_at]) — the sums the DuckLake pieces give, grouped by key."""
        plays, ms, first = self.sums(lo, hi, rule, times=times)
        present = np.flatnonzero(plays > 0)
        table = self.keys.take(pa.array(present))
        table = table.append_column("plays", pa.array(plays[present]))
        table = table.append_column("ms", pa.array(ms[present]))
        if first is not None:
            table = table.append_column("first_at", pa.array(first[present], type=pa.int64()).cast(_TS))
        return table

    # ------------------------------------------------------------------ slots
    def local_slots(self, lo: datetime | None, hi: datetime | None, rule: int, tz: str, span: tuple[int, int]
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """(slot µs, local wall-clock µs, plays, ms) of the quarter-hours with counted plays in
        ``[lo, hi)``; None when a slot lies outside the years ``span`` (the SQL converts those
        with ICU, not with these offsets)."""
        r = 1 if rule else 0
        s = self.slots
        slot = s["slot"]
        a = 0 if lo is None else int(np.searchsorted(slot, -(-us(lo) // _US_SLOT), side="left"))
        b = len(slot) if hi is None else int(np.searchsorted(slot, -(-us(hi) // _US_SLOT), side="left"))
        plays, ms = s[f"plays{r}"][a:b], s[f"ms{r}"][a:b]
        keep = plays > 0
        slot_us, plays, ms = slot[a:b][keep] * _US_SLOT, plays[keep], ms[keep]
        first, last = span
        if len(slot_us) and (slot_us[0] < us(datetime(first, 1, 1, tzinfo=timezone.utc))
                             or slot_us[-1] >= us(datetime(last + 1, 1, 1, tzinfo=timezone.utc))):
            return None
        return slot_us, slot_us + offsets_us(tz, span, slot_us), plays, ms

    def slot_rows(self, lo: datetime | None, hi: datetime | None, rule: int, tz: str, span: tuple[int, int],
                  grain: str) -> pa.Table | None:
        """Quarter-hours with counted plays in ``[lo, hi)``, summed per local ``grain`` ("hour": day
        and hour, "day", "weekday_hour"); each group's row carries its earliest slot, whose local
        day, hour and weekday are the group's (a quarter-hour lies inside one local hour)."""
        found = self.local_slots(lo, hi, rule, tz, span)
        if found is None:
            return None
        slot_us, local, plays, ms = found
        if grain == "hour":
            group = local // _US_HOUR
        elif grain == "day":
            group = local // _US_DAY
        else:
            group = weekday_hour(local)
        if not len(group):
            return pa.table({"slot": pa.array([], _TS), "plays": pa.array([], pa.int64()), "ms": pa.array([], pa.int64())})
        base = int(group.min())
        group = group - base
        size = int(group.max()) + 1
        sums_p = np.bincount(group, weights=plays, minlength=size)
        sums_m = np.bincount(group, weights=ms, minlength=size)
        rep = np.full(size, len(group), dtype=np.int64)
        np.minimum.at(rep, group, np.arange(len(group)))  # the group's earliest slot (slots are sorted)
        used = np.flatnonzero(rep < len(group))
        order = used[np.argsort(rep[used])]
        return pa.table({"slot": pa.array(slot_us[rep[order]], type=pa.int64()).cast(_TS),
                         "plays": pa.array(sums_p[order].astype(np.int64)), "ms": pa.array(sums_m[order].astype(np.int64))})

    # ------------------------------------------------------------------ replays
    def replays(self, lo: datetime, hi: datetime, rule: int, tz: str, span: tuple[int, int]) -> pa.Table | None:
        """(day, track_id, track_name, artist, play_count): the (local day, track, artist) groups
        with the most counted plays in ``[lo, hi)`` (all that tie); None outside ``span``."""
        r = 1 if rule else 0
        s = self._play_slice(us(lo), us(hi))
        t, key = self.t[s], self.key[s]
        if r:
            counted = self.counted[r][s]
            t, key = t[counted], key[counted]
        empty = pa.table({"day": pa.array([], pa.string()), "track_id": pa.array([], pa.string()),
                          "track_name": pa.array([], pa.string()), "artist": pa.array([], pa.string()),
                          "play_count": pa.array([], pa.int64())})
        if not len(t):
            return empty
        first, last = span
        if t[0] < us(datetime(first, 1, 1, tzinfo=timezone.utc)) or t[-1] >= us(datetime(last + 1, 1, 1, tzinfo=timezone.utc)):
            return None
        day = (t + offsets_us(tz, span, t)) // _US_DAY
        d0 = int(day.min())
        pairs = int(self.pair_of_key.max()) + 1
        pair = self.pair_of_key[key]
        # Counts per (day, pair) by bincount, 16 days at a time when local days never go back
        # in time order (every zone but one whose clock falls back across midnight): small bins.
        spans = [(0, len(day))]
        if bool((day[1:] >= day[:-1]).all()):
            cuts = np.searchsorted(day, np.arange(d0, int(day[-1]) + 17, 16), side="left")
            spans = [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]
        best, winners = 0, np.zeros(0, dtype=np.int64)
        for a, b in spans:
            base = int(day[a:b].min())
            group = (day[a:b] - base) * pairs + pair[a:b]
            counts = np.bincount(group)
            top = int(counts.max())
            found = np.flatnonzero(counts == top) + base * pairs
            if top > best:
                best, winners = top, found
            elif top == best:
                winners = np.concatenate([winners, found])
        group = day * pairs + pair  # (day, pair) of every play, to find the winners' keys
        rows: dict[str, list[Any]] = {"day": [], "track_id": [], "track_name": [], "artist": [], "play_count": []}
        names = self.key_rows()
        for g in winners.tolist():
            in_group = np.unique(key[group == g]).tolist()
            ids = [names[k]["track_id"] for k in in_group if names[k]["track_id"] is not None]
            d = np.datetime64(int(g // pairs), "D")
            rows["day"].append(str(d))
            rows["track_id"].append(min(ids) if ids else None)
            rows["track_name"].append(names[in_group[0]]["track_name"])
            rows["artist"].append(names[in_group[0]]["artist_name"])
            rows["play_count"].append(best)
        return pa.table(rows, schema=empty.schema)


def weekday_hour(local_us: np.ndarray) -> np.ndarray:
    """ISO weekday (1 = Monday) × 24 + hour of local wall-clock instants (1970-01-01 was a Thursday)."""
    return ((local_us // _US_DAY + 3) % 7 + 1) * 24 + (local_us // _US_HOUR) % 24


def offsets_us(tz: str, span: tuple[int, int], t_us: np.ndarray) -> np.ndarray:
    """The zone's UTC offset (µs) at each instant, from the same transitions as zones.local_sql."""
    at, offs = _offset_table(tz, span)
    if not len(at):
        return np.full(len(t_us), offs[0], dtype=np.int64)
    return offs[np.searchsorted(at, t_us, side="right")]


@functools.lru_cache(maxsize=256)
def _offset_table(tz: str, span: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    initial, changes = transitions(tz, *span)
    at = np.array([us(c) for c, _ in changes], dtype=np.int64)
    return at, np.array([initial, *(o for _, o in changes)], dtype=np.int64) * 1_000_000


def encode(columns: list[Any]) -> np.ndarray:
    """One integer per distinct tuple of the string columns (NULL distinct from every string)."""
    codes = np.zeros(len(columns[0]), dtype=np.int64)
    for col in columns:
        encoded = pc.dictionary_encode(col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col)
        part = np.asarray(encoded.indices.fill_null(-1), dtype=np.int64) + 1
        _, codes = np.unique(codes * (len(encoded.dictionary) + 1) + part, return_inverse=True)
    return codes.astype(np.int64)


_KEYS_SQL = """SELECT hash({cols}) AS h, {cols} FROM {plays} WHERE user_id = $1 GROUP BY ALL"""
_PLAYS_SQL = """SELECT epoch_us(p.played_at) AS t, p.ms_played AS ms, k.i AS key
                FROM (SELECT played_at, ms_played, hash({cols}) AS h FROM {plays} WHERE user_id = $1) p
                JOIN {keys} k ON p.h = k.h"""


def build(cur: Any, snapshot: int, user: str) -> PlayIndex | None:
    """The index of ``user``'s plays at ``snapshot``: the distinct keys with a 64-bit hash each,
    then every play's instant, ms and key number (joined on the hash; integers only). None if
    two distinct keys share a hash (then the DuckLake plan answers; never a wrong merge)."""
    cols = ", ".join(_KEY_COLUMNS)
    keys = cur.execute(_KEYS_SQL.format(cols=cols, plays=ref(PLAYS, snapshot)), [user]).to_arrow_table()
    hashes = np.asarray(keys["h"].combine_chunks(), dtype=np.uint64)
    if len(np.unique(hashes)) != len(hashes):
        return None
    numbered = pa.table({"h": keys["h"], "i": pa.array(np.arange(keys.num_rows, dtype=np.int64))})
    name = f"index_keys_{threading.get_ident()}"
    cur.register(name, numbered)
    try:
        data = cur.execute(_PLAYS_SQL.format(plays=ref(PLAYS, snapshot), keys=name, cols=cols), [user]).to_arrow_table()
    finally:
        cur.unregister(name)
    t = np.asarray(data["t"].combine_chunks(), dtype=np.int64)
    ms = np.asarray(data["ms"].combine_chunks().fill_null(0), dtype=np.int64)
    key = np.asarray(data["key"].combine_chunks(), dtype=np.int64)
    return PlayIndex(t, ms, key, keys.select(list(_KEY_COLUMNS)))


class PlayIndexes:
    """Indexes of the newest snapshot seen, for up to ``max_users`` users (least recently used go).

    ``get(..., wait=False)`` (the server) never makes a request wait for a build: it starts the
    build in the background and answers None until it is done, so the request takes the
    DuckLake plan (the same rows, as slowly as before) — the first requests after a new snapshot
    cost what they did without the index. A failed build answers None too (and is retried by
    the next request)."""

    def __init__(self, pool: DuckDBPool, *, max_users: int = 4) -> None:
        self.pool = pool
        self.max_users = max_users
        self._snapshot = -1
        self._indexes: OrderedDict[str, asyncio.Future[PlayIndex | None]] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self, snapshot: int, user: str, *, wait: bool = True) -> PlayIndex | None:
        """The index at ``snapshot``; None for an older snapshot than the newest seen, while it is
        being built (``wait=False``), or when building failed."""
        if snapshot < self._snapshot:
            return None
        if snapshot > self._snapshot:
            self._snapshot, self._indexes = snapshot, OrderedDict()
        fut = self._indexes.get(user)
        if fut is None:
            loop = asyncio.get_running_loop()
            fut = loop.create_future()
            self._indexes[user] = fut
            while len(self._indexes) > self.max_users:
                self._indexes.popitem(last=False)
            task = loop.create_task(self._build(fut, snapshot, user))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._indexes.move_to_end(user)
        if not wait and not fut.done():
            return None
        return await asyncio.shield(fut)

    async def _build(self, fut: asyncio.Future[PlayIndex | None], snapshot: int, user: str) -> None:
        try:
            index = await self.pool.run(lambda cur: build(cur, snapshot, user))
        except asyncio.CancelledError:
            fut.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - the DuckLake plan answers instead; the next request retries
            log.info("play index of %s at snapshot %d not built: %s", user, snapshot, exc)
            if self._indexes.get(user) is fut:
                del self._indexes[user]
            index = None
        if not fut.done():
            fut.set_result(index)
