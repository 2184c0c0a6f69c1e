"""HTTP routes over the racing lake: ``/api/v1/tables``, ``/api/v1/tables/{name}``, ``/api/v1/races/{race_id}``.

Each validates its parameters into one Query of the ``racing.lake`` dataset and hands it to the
shared responder (every wire format, ETag/304, compression, the engine's cache). The same
builders are registered for batch and MCP (api/queries.py), so all ways in share one entry.
An unknown query parameter is a 400 naming it (a typo must not silently widen a filter).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Request
from starlette.responses import Response

from kasoku.api.queries import WIRE_PARAMS, register_query_route
from kasoku.api.respond import serve_query
from kasoku.domains.racing.lake_source import (DATASET, DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET, RACE_Q, TABLE_Q,
                                               TABLES_Q)
from kasoku.domains.racing.lake_tables import FILTER_COLUMNS, TABLES, VIEW_NAMES
from kasoku.engine.types import Query
from kasoku.errors import InvalidParameter

TABLE_PARAMS = frozenset({"start", "end", "columns", "limit", "offset", *FILTER_COLUMNS})
_NAME = re.compile(r"^[a-z0-9_]{2,16}$")
_RACE_ID = re.compile(r"^\d{16}$")
_CODE = re.compile(r"^[0-9A-Za-z]{1,16}$")
_FORMATS_DOC = "json | msgpack | arrow | csv | parquet (or Accept)"


def _unknown(params: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(params) - allowed - WIRE_PARAMS)
    if unknown:
        raise InvalidParameter(f"unknown parameter {', '.join(map(repr, unknown))}",
                               details={"unknown": unknown, "allowed": sorted(allowed)})


def _day(key: str, value: Any) -> str:
    text = str(value)
    if re.fullmatch(r"\d{8}", text):
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise InvalidParameter(f"{key}={value!r} is not a date (YYYY-MM-DD or YYYYMMDD)",
                               details={"parameter": key}) from None


def _int(key: str, value: Any, low: int, high: int) -> int:
    try:
        n = int(str(value))
    except ValueError:
        raise InvalidParameter(f"{key}={value!r} is not an integer", details={"parameter": key}) from None
    if not low <= n <= high:
        raise InvalidParameter(f"{key}={n} is out of range [{low}, {high}]",
                               details={"parameter": key, "min": low, "max": high})
    return n


def tables_query(params: Mapping[str, Any]) -> Query:
    _unknown(params, frozenset())
    return Query(DATASET, TABLES_Q, {})


def table_query(params: Mapping[str, Any]) -> Query:
    """``params``: ``name`` plus the route's query parameters (strings, or lists for ``columns``)."""
    name = str(params.get("name", ""))
    if not _NAME.fullmatch(name):
        raise InvalidParameter(f"bad table name {name!r}", details={"parameter": "name"})
    rest = {k: v for k, v in params.items() if k != "name"}
    _unknown(rest, TABLE_PARAMS)
    out: dict[str, Any] = {"table": name,
                           "limit": _int("limit", rest.get("limit", DEFAULT_LIMIT), 1, MAX_LIMIT),
                           "offset": _int("offset", rest.get("offset", 0), 0, MAX_OFFSET)}
    for key in ("start", "end"):
        if rest.get(key) not in (None, ""):
            out[key] = _day(key, rest[key])
    if "start" in out and "end" in out and out["end"] < out["start"]:
        raise InvalidParameter(f"end {out['end']} is before start {out['start']}", details={"parameter": "end"})
    for key in FILTER_COLUMNS:
        value = rest.get(key)
        if value in (None, ""):
            continue
        value = str(value)
        if key == "race_id" and not _RACE_ID.fullmatch(value):
            raise InvalidParameter(f"race_id={value!r} is not a race key YYYYMMDDJJKKHHRR",
                                   details={"parameter": key})
        if not _CODE.fullmatch(value):
            raise InvalidParameter(f"{key}={value!r} is not a code", details={"parameter": key})
        out[key] = value
    cols = rest.get("columns")
    if cols:
        items = cols if isinstance(cols, list) else [cols]
        names = [c.strip() for item in items for c in str(item).split(",") if c.strip()]
        bad = [c for c in names if not re.fullmatch(r"[A-Za-z0-9_]{1,64}", c)]
        if bad:
            raise InvalidParameter(f"bad column name {bad[0]!r}", details={"parameter": "columns"})
        out["columns"] = list(dict.fromkeys(names))
    return Query(DATASET, TABLE_Q, out)


def race_query(params: Mapping[str, Any]) -> Query:
    race_id = str(params.get("race_id", ""))
    _unknown({k: v for k, v in params.items() if k != "race_id"}, frozenset())
    if not _RACE_ID.fullmatch(race_id):
        raise InvalidParameter(f"race_id {race_id!r} is not a race key YYYYMMDDJJKKHHRR",
                               details={"parameter": "race_id"})
    return Query(DATASET, RACE_Q, {"race_id": race_id})


def _params(request: Request) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key == "columns":
            out.setdefault(key, []).append(value)
        elif key in out:
            raise InvalidParameter(f"parameter {key!r} given twice", details={"parameter": key})
        else:
            out[key] = value
    return out


router = APIRouter(tags=["racing"])


@router.get("/api/v1/tables", summary="Racing lake tables and views: columns, types, row counts")
async def tables(request: Request) -> Response:
    return await serve_query(request, tables_query(_params(request)))


@router.get("/api/v1/tables/{name}", summary="Rows of a racing table or view, filtered and paged",
            description="Filters (only where the table has the column): start, end (race_date, YYYY-MM-DD), race_id, "
                        "racecourse (racecourse_code), horse (pedigree_reg_num), jockey (jockey_code), trainer "
                        f"(trainer_code). columns=a,b; limit (≤ {MAX_LIMIT:,}), offset. Formats: {_FORMATS_DOC}.")
async def table(request: Request, name: Annotated[str, Path(max_length=16, description="a racing table (record type in "
                                                           "lower case: ra, se, o1 …) or view (races, entries, odds …)",
                                                           json_schema_extra={"enum": [*VIEW_NAMES, *TABLES]})]) -> Response:
    return await serve_query(request, table_query({**_params(request), "name": name}))


@router.get("/api/v1/races/{race_id}", summary="A race card: the race, its entries, latest odds and payouts")
async def race(request: Request, race_id: Annotated[str, Path(max_length=16)]) -> Response:
    return await serve_query(request, race_query({**_params(request), "race_id": race_id}))


def register(app: FastAPI) -> None:
    """Routes, and the query routes batch and MCP answer: a table's rows (MCP tool ``racing_tables``,
    its ``name`` enumerates the tables and views) and the race card (``racing_races``). The list of
    tables is GET only: its path would give the rows' MCP tool name too."""
    app.include_router(router)
    register_query_route(app, "/api/v1/tables/{name}", table_query)
    register_query_route(app, "/api/v1/races/{race_id}", race_query)
