"""HTTP routes of the racing domain (the original racing API's routes, corrected by JV-Link's documentation).

Every GET turns its parameters into one Query and hands it to the shared responder, so
content negotiation, ETag/304, compression and ``X-Cache`` are the same as everywhere; bad
parameters are rejected here, before the engine, with JV-Link's own codes in ``details``
(``jvlink_code``: -111 dataspec, -112/-113 times, -114 key, -115/-116 option).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
import pyarrow as pa
from fastapi import APIRouter, Body, FastAPI, Path, Query as Q, Request, WebSocket
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response, StreamingResponse

from kasoku.api.limits import caller_of, stream_slot
from kasoku.api.negotiation import FORMATS
from kasoku.api.queries import register_query_route
from kasoku.api.respond import serve_query
from kasoku.domains.racing import catalogue
from kasoku.domains.racing.push import POLICY_VIOLATION, close_reason, parse_interval
from kasoku.domains.racing.source import (
    DEFAULT_LIMIT,
    EPOCH,
    MASTER,
    MAX_LIMIT,
    SCHEDULE,
    dataset_name,
    fetch_params,
    fetch_query,
    page_query,
    view_table,
)
from kasoku.engine.arrow import json_columns
from kasoku.engine.keys import query_key
from kasoku.engine.types import Query
from kasoku.errors import InvalidParameter

if TYPE_CHECKING:
    from kasoku.domains.racing.domain import RacingDomain

ODDS_FEEDS: dict[str, str] = {
    "win": "0B31", "place": "0B31", "bracket_quinella": "0B31",  # one O1 record carries all three
    "quinella": "0B32", "wide": "0B33", "exacta": "0B34", "trio": "0B35", "trifecta": "0B36", "all": "0B30",
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "`{data_spec, total_count, has_more, next_offset, records: [{record_type, data, raw?}]}`; "
                         "other formats by Accept or ?format=",
          "content": {"application/json": {}, "application/msgpack": {}, "application/vnd.apache.arrow.stream": {},
                      "text/csv": {}, "application/vnd.apache.parquet": {}}},
    400: {"description": "INVALID_PARAMETER; `details.jvlink_code` is JV-Link's code"},
    406: {"description": "no acceptable format (Accept or ?format=)"},
    502: {"description": "UPSTREAM_ERROR: JV-Link auth/key/server failure (`details.jvlink_code`)"},
    503: {"description": "UPSTREAM_UNAVAILABLE: maintenance (-504) or busy; see Retry-After"},
}
Format = Annotated[str | None, Q(min_length=1, description="json | msgpack | arrow | csv | parquet (overrides Accept)",
                                 json_schema_extra={"enum": list(FORMATS)})]
Limit = Annotated[int, Q(ge=1, le=MAX_LIMIT, description="records per page")]
MAX_OFFSET = 10**9
Offset = Annotated[int, Q(ge=0, le=MAX_OFFSET, description="records to skip (next_offset of the previous page)")]
# OpenAPI declares the valid values; the server checks them itself so that a wrong one gets
# JV-Link's own code in details (-111 dataspec, -115 option), still a 400.
OPTION_SCHEMA = {"enum": [1, 2, 3, 4]}
Dataspec = Annotated[str, Path(max_length=8, description="dataspec, e.g. RACE, YSCH, 0B31",
                               json_schema_extra={"enum": sorted(catalogue.DATASPECS)})]
Raw = Annotated[bool, Q(description="also return each record's exact bytes (cp932) as base64")]


def _instant(value: str, *, end: bool) -> str:
    """Accept ``YYYYMMDD`` as a day (start 00:00:00, end 23:59:59); anything else goes to JV-Link's check."""
    if len(value) == 8 and value.isdigit():
        return value + ("235959" if end else "000000")
    return value


OddsType = Literal["win", "place", "bracket_quinella", "quinella", "wide", "exacta", "trio", "trifecta", "all"]


def odds_query(race_id: str, odds_type: str) -> Query:
    """The Query of a race's odds, shared by the GET route, the WebSocket push and the prefetcher's
    page (same defaults): 400 for a bad race key or bet type."""
    spec = ODDS_FEEDS.get(odds_type)
    if spec is None:
        raise InvalidParameter(f"unknown odds type {odds_type!r}", details={"types": list(ODDS_FEEDS)})
    return page_query(spec, **fetch_args(spec, None, None, 1, race_id))


def schedule_query(from_date: str | None, to_date: str | None, jyo_cd: str | None) -> Query:
    if from_date and to_date and to_date < from_date:
        raise InvalidParameter(f"to_date {to_date} is before from_date {from_date}", details={"jvlink_code": -113})
    return Query(dataset_name("YSCH"), SCHEDULE, {"from_date": from_date, "to_date": to_date, "jyo_cd": jyo_cd})


def master_query(kind: str, entity_id: str, raw: bool) -> Query:
    return Query(dataset_name("DIFF"), MASTER, {"kind": kind, "id": entity_id, "raw": raw})


def stored_fromtime(spec: catalogue.DataSpec, from_time: str | None, to_time: str | None) -> str:
    start = _instant(from_time or EPOCH, end=False)
    fromtime = f"{start}-{_instant(to_time, end=True)}" if to_time else start
    catalogue.validate_fromtime(spec, fromtime)
    return fromtime


def fetch_args(dataspec: str, from_time: str | None, to_time: str | None, option: int,
               key: str | None) -> dict[str, Any]:
    """Validated upstream arguments for ``dataspec`` (stored: fromtime+option; realtime: key)."""
    spec = catalogue.get_dataspec(dataspec)
    if spec.kind == "realtime":
        if not key:
            raise InvalidParameter(f"{dataspec} is realtime: give key=YYYYMMDD or a race key YYYYMMDDJJKKHHRR",
                                   details={"jvlink_code": -114, "dataspec": dataspec})
        catalogue.validate_realtime_key(spec, key)
        return {"key": key}
    fromtime = stored_fromtime(spec, from_time, to_time)
    catalogue.validate_option(spec, option)
    return {"fromtime": fromtime, "option": option}


class StreamRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data_spec: str = Field(..., description="dataspec, e.g. RACE or 0B31", max_length=8)
    from_time: str | None = Field(None, description="YYYYMMDD[hhmmss]; default: from the beginning")
    to_time: str | None = Field(None, description="YYYYMMDD[hhmmss]; range end (not for DIFF, TOKU, ...)")
    option: int = Field(1, description="JVOpen option 1-4", json_schema_extra=OPTION_SCHEMA)
    key: str | None = Field(None, description="realtime key: YYYYMMDD or a race key")
    raw: bool = Field(False, description="include raw record bytes as base64")
    batch_size: int = Field(500, ge=1, le=MAX_LIMIT, description="records per `data` event")


class DownloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataspecs: list[str] = Field(..., min_length=1, max_length=20, description="stored dataspecs, e.g. [RACE, YSCH]")
    from_date: str = Field(..., pattern=r"^\d{8}$", description="YYYYMMDD")
    to_date: str | None = Field(None, pattern=r"^\d{8}$", description="YYYYMMDD (where the dataspec allows a range)")
    option: int = Field(1, description="JVOpen option 1-4", json_schema_extra=OPTION_SCHEMA)


async def _sse(table: pa.Table, dataspec: str, batch_size: int) -> AsyncIterator[bytes]:
    """``event: data`` with a JSON array of records per batch, then ``event: complete`` with the total.
    ``data`` is already JSON: embedded as-is (orjson.Fragment), never parsed and re-serialised."""
    flagged = set(json_columns(table.schema))
    sent = 0
    for batch in table.to_batches(max_chunksize=batch_size):
        rows = batch.to_pylist()
        for row in rows:
            for name in flagged:
                row[name] = orjson.Fragment(row[name])
        sent += len(rows)
        yield b"event: data\nid: " + str(sent).encode() + b"\ndata: " + orjson.dumps(rows) + b"\n\n"
    yield b"event: complete\ndata: " + orjson.dumps({"total": sent, "data_spec": dataspec}) + b"\n\n"


def build_router(domain: "RacingDomain") -> APIRouter:
    router = APIRouter(tags=["racing"])

    async def serve(request: Request, query: Query) -> Response:
        domain.prefetch.note_served(query_key(query))
        return await serve_query(request, query)

    @router.get("/api/v1/data/{dataspec}", summary="Records of a dataspec, paged", responses=_RESPONSES)
    async def data(request: Request, dataspec: Dataspec,
                   from_time: Annotated[str | None, Q(description="YYYYMMDD[hhmmss] (data-file time, not race date)")] = None,
                   to_time: Annotated[str | None, Q(description="YYYYMMDD[hhmmss]: range end")] = None,
                   option: Annotated[int, Q(description="1 normal, 2 this week, 3/4 setup",
                                            json_schema_extra=OPTION_SCHEMA)] = 1,
                   key: Annotated[str | None, Q(description="realtime dataspecs: YYYYMMDD or race key")] = None,
                   limit: Limit = DEFAULT_LIMIT, offset: Offset = 0, raw: Raw = False,
                   format: Format = None) -> Response:
        args = fetch_args(dataspec, from_time, to_time, option, key)
        return await serve(request, page_query(dataspec, limit=limit, offset=offset, raw=raw, **args))

    @router.post("/api/v1/data/stream", summary="All records of a fetch as Server-Sent Events",
                 responses={200: {"content": {"text/event-stream": {}}}, 400: _RESPONSES[400]})
    async def stream(request: Request, body: Annotated[StreamRequest, Body()]) -> StreamingResponse:
        args = fetch_args(body.data_spec, body.from_time, body.to_time, body.option, body.key)

        async def respond() -> StreamingResponse:
            served = await request.app.state.engine.get(fetch_query(body.data_spec, **args))
            table = view_table(served.entry.table(), raw=body.raw)
            headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no", "X-Cache": served.outcome}
            return StreamingResponse(_sse(table, body.data_spec, body.batch_size), media_type="text/event-stream",
                                     headers=headers)

        return await stream_slot(request, respond)

    @router.get("/api/v1/realtime/odds/{race_id}", summary="Realtime odds of a race (0B31/0B32/0B30...)",
                responses=_RESPONSES)
    async def odds(request: Request, race_id: Annotated[str, Path(description="YYYYMMDDJJKKHHRR")],
                   type: Annotated[OddsType, Q(description="bet type; win/place/bracket share O1")] = "win",
                   format: Format = None) -> Response:
        return await serve(request, odds_query(race_id, type))

    @router.websocket("/api/v1/realtime/ws/odds/{race_id}")
    async def odds_push(websocket: WebSocket, race_id: str) -> None:
        """The odds now, then each change (see push.py). Query: ``type`` (as the GET), ``interval``
        (seconds between polls, default 1, clamped to [0.5, 60]). Bad input: close 1008 + reason."""
        await websocket.accept()  # accept first: a close before accept is an HTTP 403 without a reason
        odds_type = websocket.query_params.get("type", "win")
        try:
            query = odds_query(race_id, odds_type)
            interval = parse_interval(websocket.query_params.get("interval"), domain.push.min_interval)
        except (InvalidParameter, ValueError) as exc:
            message = exc.message if isinstance(exc, InvalidParameter) else f"bad interval: {exc}"
            await websocket.close(code=POLICY_VIOLATION, reason=close_reason(message))
            return
        await domain.push.serve(websocket, race_id, odds_type, query, interval)

    @router.get("/api/v1/realtime/weight/{race_id}", summary="Horse weights (0B11, WH)", responses=_RESPONSES)
    async def weight(request: Request, race_id: Annotated[str, Path(description="race key or YYYYMMDD")],
                     format: Format = None) -> Response:
        return await serve(request, page_query("0B11", **fetch_args("0B11", None, None, 1, race_id)))

    @router.get("/api/v1/master/{kind}/{entity_id}", summary="Horse (UM), jockey (KS) or trainer (CH) from DIFF/DIFN",
                responses={**_RESPONSES, 404: {"description": "no such horse/jockey/trainer"}})
    async def master(request: Request, kind: Literal["horse", "jockey", "trainer"],
                     entity_id: Annotated[str, Path(min_length=1, max_length=10, pattern=r"^[0-9A-Za-z]+$")],
                     raw: Raw = False, format: Format = None) -> Response:
        return await serve(request, master_query(kind, entity_id, raw))

    @router.get("/api/v1/schedule", summary="Meeting schedule (YS from YSCH)", responses=_RESPONSES)
    async def schedule(request: Request,
                       from_date: Annotated[str | None, Q(pattern=r"^\d{8}$", description="YYYYMMDD")] = None,
                       to_date: Annotated[str | None, Q(pattern=r"^\d{8}$", description="YYYYMMDD")] = None,
                       jyo_cd: Annotated[str | None, Q(pattern=r"^\d{2}$", description="racecourse code, e.g. 05 Tokyo")] = None,
                       format: Format = None) -> Response:
        return await serve(request, schedule_query(from_date, to_date, jyo_cd))

    @router.get("/status", summary="Upstream client, prefetch and batch-job status")
    async def status() -> dict[str, Any]:
        return await domain.status()

    @router.post("/api/v1/batch/download", status_code=202, summary="Start a background download of dataspecs",
                 responses={202: {"description": "`{job_id, status, ...}`"}, 400: _RESPONSES[400]})
    async def download(request: Request, body: Annotated[DownloadRequest, Body()]) -> dict[str, Any]:
        job = domain.jobs.submit(body.dataspecs, body.from_date, body.to_date, body.option,
                                 owner=caller_of(request.scope))
        return job.to_dict()

    @router.get("/api/v1/batch/status/{job_id}", summary="A batch job's progress")
    async def job_status(job_id: Annotated[str, Path(max_length=32)]) -> dict[str, Any]:
        return domain.jobs.get(job_id).to_dict()

    @router.get("/api/v1/batch/result/{job_id}/{dataspec}", summary="One dataspec of a job, paged, any wire format",
                responses=_RESPONSES)
    async def job_result(request: Request, job_id: Annotated[str, Path(max_length=32)],
                         dataspec: Dataspec, limit: Limit = DEFAULT_LIMIT,
                         offset: Offset = 0, raw: Raw = False, format: Format = None) -> Response:
        job = domain.jobs.get(job_id)
        params = job.fetches.get(dataspec)
        if params is None:
            raise InvalidParameter(f"job {job_id} did not fetch {dataspec}", details={"dataspecs": list(job.fetches)})
        return await serve(request, page_query(dataspec, limit=limit, offset=offset, raw=raw, **fetch_params(**params)))

    return router


# -- the query registry (batch, MCP): the same Queries as the GET routes, from plain params --------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataParams(_Strict):
    dataspec: str = Field(..., max_length=8, description="dataspec, e.g. RACE, YSCH, 0B31")
    from_time: str | None = Field(None, description="YYYYMMDD[hhmmss] (data-file time, not race date)")
    to_time: str | None = Field(None, description="YYYYMMDD[hhmmss]: range end")
    option: int = Field(1, description="1 normal, 2 this week, 3/4 setup", json_schema_extra=OPTION_SCHEMA)
    key: str | None = Field(None, description="realtime dataspecs: YYYYMMDD or race key")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="records per page")
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="records to skip")
    raw: bool = Field(False, description="also return each record's exact bytes as base64")


class OddsParams(_Strict):
    race_id: str = Field(..., max_length=16, description="YYYYMMDDJJKKHHRR")
    type: OddsType = "win"


class WeightParams(_Strict):
    race_id: str = Field(..., max_length=16, description="race key or YYYYMMDD")


class MasterParams(_Strict):
    kind: Literal["horse", "jockey", "trainer"]
    entity_id: str = Field(..., min_length=1, max_length=10, pattern=r"^[0-9A-Za-z]+$")
    raw: bool = False


class ScheduleParams(_Strict):
    from_date: str | None = Field(None, pattern=r"^\d{8}$")
    to_date: str | None = Field(None, pattern=r"^\d{8}$")
    jyo_cd: str | None = Field(None, pattern=r"^\d{2}$")


def _data(params: Mapping[str, Any]) -> Query:
    p = DataParams.model_validate(params)
    args = fetch_args(p.dataspec, p.from_time, p.to_time, p.option, p.key)
    return page_query(p.dataspec, limit=p.limit, offset=p.offset, raw=p.raw, **args)


def _odds(params: Mapping[str, Any]) -> Query:
    p = OddsParams.model_validate(params)
    return odds_query(p.race_id, p.type)


def _weight(params: Mapping[str, Any]) -> Query:
    p = WeightParams.model_validate(params)
    return page_query("0B11", **fetch_args("0B11", None, None, 1, p.race_id))


def _master(params: Mapping[str, Any]) -> Query:
    p = MasterParams.model_validate(params)
    return master_query(p.kind, p.entity_id, p.raw)


def _schedule(params: Mapping[str, Any]) -> Query:
    p = ScheduleParams.model_validate(params)
    return schedule_query(p.from_date, p.to_date, p.jyo_cd)


def register_query_routes(app: FastAPI) -> None:
    """What /v1/batch items and MCP tools may name (the paths are the GET routes' own)."""
    register_query_route(app, "/api/v1/data/{dataspec}", _data)
    register_query_route(app, "/api/v1/realtime/odds/{race_id}", _odds)
    register_query_route(app, "/api/v1/realtime/weight/{race_id}", _weight)
    register_query_route(app, "/api/v1/master/{kind}/{entity_id}", _master)
    register_query_route(app, "/api/v1/schedule", _schedule)
