"""The racing source: one upstream fetch per (dataspec, fromtime, option) or (dataspec, key),
and cheap views (pages, master lookups, the schedule) cut from it.

Why two layers: the upstream call (JVOpen/JVRTOpen + the read loop) is the expensive part,
and every page of one fetch reads the same records. So a ``fetch`` query is what the engine
coalesces and caches (one per dataspec+fromtime+option); ``page``/``master``/``schedule``
queries are views whose source asks the engine for that fetch — a page 2 after a page 1 is an
L1 hit on the fetch, never a second JVOpen. Both live in the dataspec's dataset
(``racing.<DATASPEC>``) and so share its TTL policy and its tags.

The fetch table is internal (never sent as is): ``record_type``, ``data`` (orjson of the
parsed record, flagged as a JSON column), ``raw`` (the exact cp932 bytes), ``race_id``,
``day`` (race day, YYYYMMDD), ``course`` (racecourse code) and ``entity_id`` (the master's
code: UM pedigree number, KS jockey code, CH trainer code). Views pick ``record_type``,
``data`` and, on request, ``raw`` as base64 — exact bytes survive JSON, MessagePack and CSV,
where decoded text would hide the fixed widths and shift-JIS byte counts a client may need.

Upstream calls are synchronous (JV-Link is an STA COM object; the lake client runs DuckDB), so
they and the parsing run in a thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from kasoku.domains.racing.catalogue import DATASPECS
from kasoku.domains.racing.clients.base import UpstreamClient
from kasoku.domains.racing.records import RecordError, parse_record
from kasoku.engine.arrow import JSON_COLUMN_FLAG
from kasoku.engine.types import Query, Result
from kasoku.errors import InvalidParameter, NotFound, UpstreamError

if TYPE_CHECKING:
    from kasoku.engine.engine import Engine

log = logging.getLogger(__name__)

PREFIX = "racing."
FETCH, PAGE, MASTER, SCHEDULE = "fetch", "page", "master", "schedule"
EPOCH = "19860101000000"  # JV-Data starts in 1986: "from the beginning" for masters and schedules
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
_DAY_TYPES = frozenset({"RA", "SE", "HR", "H1", "H6", "O1", "O2", "O3", "O4", "O5", "O6", "WH", "JG", "YS"})
_MASTER_ID = {"UM": "pedigree_reg_num", "KS": "jockey_code", "CH": "trainer_code"}
MASTER_KINDS = {"horse": "UM", "jockey": "KS", "trainer": "CH"}
MASTER_SPECS = ("DIFF", "DIFN")  # where UM/KS/CH come from (jvlink.md: not HOSE/HOYU)

DATA_FIELD = pa.field("data", pa.string(), metadata={JSON_COLUMN_FLAG: b"1"})
FETCH_SCHEMA = pa.schema([pa.field("record_type", pa.string()), DATA_FIELD, pa.field("raw", pa.binary()),
                          pa.field("race_id", pa.string()), pa.field("day", pa.string()),
                          pa.field("course", pa.string()), pa.field("entity_id", pa.string())])


def dataset_name(dataspec: str) -> str:
    return PREFIX + dataspec


def dataspec_of(dataset: str) -> str:
    return dataset.removeprefix(PREFIX)


def fetch_params(*, fromtime: str | None = None, option: int = 1, key: str | None = None) -> dict[str, Any]:
    """The upstream call's arguments, exactly: realtime specs take a key, stored ones fromtime+option."""
    return {"key": key} if key is not None else {"fromtime": fromtime or EPOCH, "option": option}


def fetch_query(dataspec: str, **kwargs: Any) -> Query:
    return Query(dataset_name(dataspec), FETCH, fetch_params(**kwargs))


def page_query(dataspec: str, *, limit: int = DEFAULT_LIMIT, offset: int = 0, raw: bool = False,
               **kwargs: Any) -> Query:
    """A page over a fetch. The realtime routes and the prefetcher build this same Query with the
    defaults, so a prefetched race is an L1 hit for the first odds request."""
    return Query(dataset_name(dataspec), PAGE, {**fetch_params(**kwargs), "limit": limit, "offset": offset, "raw": raw})


def records_table(raws: list[bytes]) -> pa.Table:
    """Parse raw records into the fetch table. Runs in a worker thread (CPU-bound)."""
    cols: dict[str, list[Any]] = {name: [] for name in FETCH_SCHEMA.names}
    for i, raw in enumerate(raws):
        try:
            rec = parse_record(raw)
        except RecordError as exc:  # the upstream sent something we cannot read: not the caller's fault
            raise UpstreamError(f"upstream record {i + 1} is malformed: {exc.message}",
                                details={"record": i + 1, **exc.details}) from None
        rtype = rec.record_type
        cols["record_type"].append(rtype)
        cols["data"].append(orjson.dumps(rec.data).decode())
        cols["raw"].append(raw)
        cols["race_id"].append(rec.data.get("race_id"))
        day_course = rtype in _DAY_TYPES and len(raw) >= 21
        cols["day"].append(raw[11:19].decode("ascii", "replace") if day_course else None)
        cols["course"].append(raw[19:21].decode("ascii", "replace") if day_course else None)
        id_field = _MASTER_ID.get(rtype)
        cols["entity_id"].append(str(rec.data.get(id_field, "")) if id_field else None)
    return pa.Table.from_pydict(cols, schema=FETCH_SCHEMA)


def data_tags(dataspec: str, table: pa.Table) -> frozenset[str]:
    """``racing:<SPEC>`` plus one ``race-day:YYYYMMDD`` per race day present, so an import of one
    day can invalidate exactly the answers that contain that day."""
    days = {d for d in table.column("day").to_pylist() if d}
    return frozenset({f"racing:{dataspec}", *(f"race-day:{d}" for d in days)})


def view_table(table: pa.Table, *, raw: bool) -> pa.Table:
    """What a client sees: record_type, data (JSON object) and, when asked, raw as base64."""
    columns = [table.column("record_type"), table.column("data")]
    fields = [pa.field("record_type", pa.string()), DATA_FIELD]
    if raw:
        encoded = [base64.b64encode(b).decode("ascii") for b in table.column("raw").to_pylist()]
        columns.append(pa.array(encoded, pa.string()))
        fields.append(pa.field("raw", pa.string()))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


class RacingSource:
    """Answers every ``racing.*`` dataset. ``upstream_calls`` counts real JVOpen/JVRTOpen calls."""

    def __init__(self, client: UpstreamClient, engine: "Engine", *, upstream_threads: int = 4,
                 keep: Callable[[str, list[bytes]], object] | None = None) -> None:
        self.client = client
        self.engine = engine
        self.keep = keep  # called with each fetch's records once they parsed (the COM client's lake keeper)
        self.upstream_calls = 0
        # Upstream calls block for up to their deadline (COM: queued behind one session); on
        # threads of their own they cannot starve the default pool that parsing and the lake use.
        self._upstream = ThreadPoolExecutor(max_workers=upstream_threads, thread_name_prefix="kasoku-upstream")

    def close(self) -> None:
        self._upstream.shutdown(wait=False, cancel_futures=True)

    async def run(self, query: Query) -> Result:
        dataspec = dataspec_of(query.dataset)
        if dataspec not in DATASPECS:
            raise InvalidParameter(f"unknown dataspec {dataspec!r}", details={"jvlink_code": -111})
        params = dict(query.params)
        if query.name == FETCH:
            return await self._fetch(dataspec, params)
        if query.name == PAGE:
            return await self._page(dataspec, params)
        if query.name == MASTER:
            return await self._master(dataspec, params)
        if query.name == SCHEDULE:
            return await self._schedule(dataspec, params)
        raise InvalidParameter(f"unknown racing query {query.name!r}")

    async def _fetch(self, dataspec: str, params: Mapping[str, Any]) -> Result:
        self.upstream_calls += 1
        loop = asyncio.get_running_loop()
        if "key" in params:
            raws = await loop.run_in_executor(self._upstream, self.client.fetch_realtime, dataspec, params["key"])
        else:
            raws = await loop.run_in_executor(self._upstream, self.client.fetch_stored, dataspec,
                                              params["fromtime"], params["option"])
        table = await asyncio.to_thread(records_table, raws)
        if self.keep is not None and raws:
            self.keep(dataspec, raws)
        log.debug("fetched %s %s: %d records", dataspec, dict(params), table.num_rows)
        return Result(table=table, tags=data_tags(dataspec, table), source=self.client.name,
                      meta={"data_spec": dataspec, "total_count": table.num_rows})

    async def fetched(self, dataspec: str, params: Mapping[str, Any]) -> tuple[pa.Table, frozenset[str], float]:
        """The fetch behind a view, through the engine: cached, coalesced, counted. Returns its
        rows, tags and creation time (a view is as old as its fetch, and expires with it)."""
        keys = ("key",) if "key" in params else ("fromtime", "option")
        served = await self.engine.get(Query(dataset_name(dataspec), FETCH, {k: params[k] for k in keys}))
        tags = frozenset(t for t in served.entry.tags if not t.startswith("dataset:"))
        return served.entry.table(), tags, served.entry.created_at

    async def _page(self, dataspec: str, params: Mapping[str, Any]) -> Result:
        table, tags, made = await self.fetched(dataspec, params)
        limit, offset = int(params["limit"]), int(params["offset"])
        total = table.num_rows
        page = table.slice(offset, limit) if offset < total else table.slice(0, 0)
        end = offset + page.num_rows
        has_more = end < total
        meta = {"data_spec": dataspec, "total_count": total, "offset": offset, "limit": limit,
                "has_more": has_more, "next_offset": end if has_more else None}
        return Result(table=view_table(page, raw=bool(params.get("raw"))), tags=tags, source="view", meta=meta,
                      generated_at=made)

    async def _master(self, dataspec: str, params: Mapping[str, Any]) -> Result:
        kind, entity = params["kind"], params["id"]
        rtype = MASTER_KINDS[kind]
        for spec in MASTER_SPECS:
            table, tags, made = await self.fetched(spec, fetch_params())
            mask = pc.and_(pc.equal(table.column("record_type"), rtype), pc.equal(table.column("entity_id"), entity))
            found = table.filter(mask)
            if found.num_rows:
                latest = found.slice(found.num_rows - 1, 1)  # masters are re-sent on change: the last one wins
                return Result(table=view_table(latest, raw=bool(params.get("raw"))), tags=tags, source="view",
                              meta={"data_spec": spec, "kind": kind, "id": entity, "total_count": 1},
                              generated_at=made)
        raise NotFound(f"no {kind} {entity!r} in {' or '.join(MASTER_SPECS)}",
                       details={"kind": kind, "id": entity, "record_type": rtype})

    async def _schedule(self, dataspec: str, params: Mapping[str, Any]) -> Result:
        table, tags, made = await self.fetched(dataspec, fetch_params())
        mask = pc.equal(table.column("record_type"), "YS")
        if params.get("from_date"):
            mask = pc.and_(mask, pc.greater_equal(table.column("day"), params["from_date"]))
        if params.get("to_date"):
            mask = pc.and_(mask, pc.less_equal(table.column("day"), params["to_date"]))
        if params.get("jyo_cd"):
            mask = pc.and_(mask, pc.equal(table.column("course"), params["jyo_cd"]))
        found = table.filter(mask)
        if found.num_rows:
            found = found.take(pc.sort_indices(found, sort_keys=[("day", "ascending"), ("course", "ascending")]))
        meta = {"data_spec": dataspec, "total_count": found.num_rows, "from_date": params.get("from_date"),
                "to_date": params.get("to_date"), "jyo_cd": params.get("jyo_cd")}
        return Result(table=view_table(found, raw=False), tags=tags, source="view", meta=meta, generated_at=made)
