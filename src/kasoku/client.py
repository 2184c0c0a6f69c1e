"""A small Python client for a kasoku server: sync (:class:`KasokuClient`) and async
(:class:`AsyncKasokuClient`), both over one pooled httpx connection.

Why it exists: a data-science caller wants a ``pyarrow.Table`` (or rows) in one call, without
knowing the wire — so the client asks for Arrow IPC by default (``Accept:
application/vnd.apache.arrow.stream``: typed columns, no JSON parsing), advertises the codings
httpx can decode (``zstd, br, gzip``), reuses its connection, and turns the server's error
envelope into :class:`KasokuHTTPError` with the envelope's ``code`` and ``details``.
Optionally it remembers ETags and revalidates (``If-None-Match`` → ``304``: no body sent).

It imports nothing of the server: httpx, orjson and pyarrow only.

    >>> with KasokuClient("http://127.0.0.1:8000") as kasoku:
    ...     table = kasoku.top_tracks(start="2024-01-01", end="2024-03-31", limit=5)
    ...     rows = kasoku.stats(granularity="month", format="json")
    ...     se = kasoku.table("se", start="2024-06-01", end="2024-06-30", columns=["race_id", "horse_name"])
    ...     df = se.to_pandas()      # or kasoku.table_polars("se", ...) when polars is installed
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import httpx
import orjson
import pyarrow as pa
import pyarrow.ipc as ipc


Format = Literal["arrow", "json"]
Rows = pa.Table | list[dict[str, Any]]
R = TypeVar("R")
MEDIA = {"arrow": "application/vnd.apache.arrow.stream", "json": "application/json"}
NDJSON = "application/x-ndjson"


def _can_decode(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# Only codings httpx can decode here (br needs brotli, zstd needs zstandard): never ask for one we can't read.
ACCEPT_ENCODING = ", ".join([*(["zstd"] if _can_decode("zstandard") else []),
                             *(["br"] if _can_decode("brotli") or _can_decode("brotlicffi") else []), "gzip"])
ODDS_TYPES = ("win", "place", "bracket_quinella", "quinella", "wide", "exacta", "trio", "trifecta", "all")


class KasokuHTTPError(Exception):
    """The server answered an error envelope ``{"error": {"code", "message", "details"}}``."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details or {}


@dataclass
class Answer:
    """One answer: the rows (a Table for Arrow, dicts for JSON), the metadata and the cache headers."""

    rows: Rows
    meta: dict[str, Any] = field(default_factory=dict)
    cache: str | None = None  # hit | miss | stale (X-Cache), "revalidated" after a 304
    etag: str | None = None


def _param(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def clean_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """None means "not given" (the server's default applies); dates as ISO, bools as true/false."""
    return {k: _param(v) for k, v in params.items() if v is not None}


def error_from(response: httpx.Response) -> KasokuHTTPError:
    try:
        envelope = orjson.loads(response.content)["error"]
        return KasokuHTTPError(response.status_code, envelope["code"], envelope["message"], envelope.get("details"))
    except (orjson.JSONDecodeError, KeyError, TypeError):
        text = response.text[:200] if response.content else response.reason_phrase
        return KasokuHTTPError(response.status_code, "HTTP_ERROR", text)


def rows_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A JSON answer is ``{...meta, <rows key>: [...]}``: ``data`` (listening) or ``records`` (racing)."""
    for key in ("data", "records"):
        if isinstance(body.get(key), list):
            return body[key]  # type: ignore[no-any-return]
    lists = [v for v in body.values() if isinstance(v, list)]
    return lists[0] if len(lists) == 1 else []


def decode(response: httpx.Response, fmt: str) -> Answer:
    cache, etag = response.headers.get("x-cache"), response.headers.get("etag")
    if fmt == "arrow":
        table = ipc.open_stream(pa.py_buffer(response.content)).read_all()
        raw_meta = (table.schema.metadata or {}).get(b"kasoku.meta")
        return Answer(table, orjson.loads(raw_meta) if raw_meta else {}, cache, etag)
    body = orjson.loads(response.content)
    rows = rows_of(body)
    return Answer(rows, {k: v for k, v in body.items() if v is not rows}, cache, etag)


def _stream_line(line: str) -> dict[str, Any] | None:
    if not line.strip():
        return None
    row: dict[str, Any] = orjson.loads(line)
    if set(row) == {"error"}:  # the server failed after the first byte (docs/wire.md)
        err = row["error"]
        raise KasokuHTTPError(500, err.get("code", "STREAM_ERROR"), err.get("message", ""), err.get("details"))
    return row


TABLE_PAGE = 100_000  # rows per request when a table is read whole (the server allows up to 1,000,000)


def table_params(start: Any, end: Any, race_id: str | None, racecourse: str | None, horse: str | None,
                 jockey: str | None, trainer: str | None, columns: Sequence[str] | None) -> dict[str, Any]:
    return {"start": start, "end": end, "race_id": race_id, "racecourse": racecourse, "horse": horse,
            "jockey": jockey, "trainer": trainer, "columns": ",".join(columns) if columns else None}


def joined(pages: list[pa.Table]) -> pa.Table:
    """Pages of one table as one (each page carries its own meta; the joined table keeps none)."""
    return pa.concat_tables([p.replace_schema_metadata(None) for p in pages])


def table_pages(params: dict[str, Any], limit: int | None, page_size: int) -> Generator[dict[str, Any], Any, pa.Table]:
    """The paging of a whole-table read, for the sync and the async client alike: yields the
    arguments of each ``answer`` call, is sent its result, returns the joined table."""
    pages: list[pa.Table] = []
    offset, left = 0, limit
    while True:
        size = page_size if left is None else min(page_size, left)
        got = yield {"format": "arrow", "limit": size, "offset": offset, **params}
        assert isinstance(got.rows, pa.Table)
        pages.append(got.rows)
        if left is not None:
            left -= got.rows.num_rows
        if not got.meta.get("has_more") or (left is not None and left <= 0):
            return joined(pages)
        offset = int(got.meta["next_offset"])


def to_polars(table: pa.Table) -> Any:
    try:
        import polars as pl
    except ImportError:
        raise ImportError("polars is not installed: pip install polars (or use .to_pandas() / the pyarrow.Table)") \
            from None
    return pl.from_arrow(table)


class _Queries(Generic[R]):
    """The named calls, written once: each builds (route, params) for ``query`` (sync or async)."""

    def query(self, route: str, *, format: Format | None = None, **params: Any) -> R:
        raise NotImplementedError

    def top_tracks(self, start: Any = None, end: Any = None, limit: int | None = None, *, user_id: str | None = None,
                   format: Format | None = None) -> R:
        return self.query("/v1/listening/top-tracks", start=start, end=end, limit=limit, user_id=user_id, format=format)

    def top_artists(self, start: Any = None, end: Any = None, limit: int | None = None, *,
                    user_id: str | None = None, format: Format | None = None) -> R:
        return self.query("/v1/listening/top-artists", start=start, end=end, limit=limit, user_id=user_id, format=format)

    def stats(self, granularity: Literal["day", "week", "month"] | None = None, start: Any = None, end: Any = None, *,
              user_id: str | None = None, format: Format | None = None) -> R:
        return self.query("/v1/listening/stats", granularity=granularity, start=start, end=end, user_id=user_id,
                          format=format)

    def hours(self, start: Any = None, end: Any = None, *, user_id: str | None = None,
              format: Format | None = None) -> R:
        return self.query("/v1/listening/hours", start=start, end=end, user_id=user_id, format=format)

    def search(self, q: str, start: Any = None, end: Any = None, limit: int | None = None, *,
               user_id: str | None = None, format: Format | None = None) -> R:
        return self.query("/v1/listening/search", q=q, start=start, end=end, limit=limit, user_id=user_id, format=format)

    def plays(self, start: Any = None, end: Any = None, limit: int | None = None, offset: int | None = None, *,
              user_id: str | None = None, format: Format | None = None) -> R:
        return self.query("/v1/listening/plays", start=start, end=end, limit=limit, offset=offset, user_id=user_id,
                          format=format)

    def racing_data(self, dataspec: str, *, from_time: str | None = None, to_time: str | None = None,
                    option: int | None = None, key: str | None = None, limit: int | None = None,
                    offset: int | None = None, raw: bool | None = None, format: Format | None = None) -> R:
        """One page of ``GET /api/v1/data/{dataspec}`` (``meta['next_offset']`` for the next)."""
        return self.query(f"/api/v1/data/{dataspec}", from_time=from_time, to_time=to_time, option=option, key=key,
                          limit=limit, offset=offset, raw=raw, format=format)

    def racing_odds(self, race_id: str, type: str = "win", *, format: Format | None = None) -> R:
        return self.query(f"/api/v1/realtime/odds/{race_id}", type=type, format=format)


class _Base:
    def __init__(self, base_url: str, *, token: str | None, format: Format, etag_cache: int) -> None:
        if format not in MEDIA:
            raise ValueError(f"format must be one of {sorted(MEDIA)}, not {format!r}")
        self.base_url = base_url.rstrip("/")
        self.format: Format = format
        self.headers = {"Accept-Encoding": ACCEPT_ENCODING, "User-Agent": "kasoku-client"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self._etags: OrderedDict[tuple[str, str], Answer] = OrderedDict()
        self._etag_cache = etag_cache

    def _request(self, route: str, fmt: Format | None, params: Mapping[str, Any]) -> tuple[str, dict[str, Any],
                                                                                          dict[str, str], Format]:
        chosen: Format = fmt or self.format
        if chosen not in MEDIA:
            raise ValueError(f"format must be one of {sorted(MEDIA)}, not {chosen!r}")
        headers = {"Accept": MEDIA[chosen]}
        cleaned = clean_params(params)
        remembered = self._etags.get(self._memo_key(route, cleaned, chosen))
        if remembered is not None and remembered.etag:
            headers["If-None-Match"] = remembered.etag
        return route, cleaned, headers, chosen

    @staticmethod
    def _memo_key(route: str, params: Mapping[str, Any], fmt: str) -> tuple[str, str]:
        return route + "?" + orjson.dumps(params, option=orjson.OPT_SORT_KEYS).decode(), fmt

    def _finish(self, response: httpx.Response, route: str, params: Mapping[str, Any], fmt: Format) -> Answer:
        key = self._memo_key(route, params, fmt)
        if response.status_code == 304 and key in self._etags:
            self._etags.move_to_end(key)
            old = self._etags[key]
            return Answer(old.rows, old.meta, "revalidated", old.etag)
        if response.status_code >= 400:
            raise error_from(response)
        answer = decode(response, fmt)
        if self._etag_cache > 0 and answer.etag:
            self._etags[key] = answer
            self._etags.move_to_end(key)
            while len(self._etags) > self._etag_cache:
                self._etags.popitem(last=False)
        return answer

    @staticmethod
    def _batch_body(items: Sequence[tuple[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
        return [{"route": route, "params": clean_params(params)} for route, params in items]

    @staticmethod
    def _invalidate_body(tags: Sequence[str] | None, dataset: str | None, everything: bool) -> dict[str, Any]:
        # Nothing named means everything, said explicitly (the server refuses an empty request).
        everything = everything or (not tags and dataset is None)
        return {"tags": list(tags) if tags else None, "dataset": dataset, "everything": everything}


class KasokuClient(_Base, _Queries[Rows]):
    """Synchronous client. ``format``: ``arrow`` (a ``pyarrow.Table``) or ``json`` (a list of dicts).
    ``etag_cache``: how many answers to remember for ``If-None-Match`` revalidation (0 = off)."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 30, format: Format = "arrow",
                 etag_cache: int = 0, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(base_url, token=token, format=format, etag_cache=etag_cache)
        self._http = httpx.Client(base_url=self.base_url, headers=self.headers, timeout=timeout, transport=transport)

    def answer(self, route: str, *, format: Format | None = None, **params: Any) -> Answer:
        """GET a query route: rows, metadata and cache headers."""
        route, cleaned, headers, fmt = self._request(route, format, params)
        return self._finish(self._http.get(route, params=cleaned, headers=headers), route, cleaned, fmt)

    def query(self, route: str, *, format: Format | None = None, **params: Any) -> Rows:
        """GET a query route; just the rows."""
        return self.answer(route, format=format, **params).rows

    def table(self, name: str, *, start: Any = None, end: Any = None, race_id: str | None = None,
              racecourse: str | None = None, horse: str | None = None, jockey: str | None = None,
              trainer: str | None = None, columns: Sequence[str] | None = None, limit: int | None = None,
              page_size: int = TABLE_PAGE) -> pa.Table:
        """A racing lake table or view (``se``, ``ra``, ``entries``, ``odds`` …) as one ``pyarrow.Table``,
        every page followed: ``client.table("se", start="2024-01-01", end="2024-12-31", columns=[...])``.
        ``.to_pandas()`` on the result gives pandas; :meth:`table_polars` gives polars."""
        paging = table_pages(table_params(start, end, race_id, racecourse, horse, jockey, trainer, columns), limit,
                             page_size)
        call = next(paging)
        while True:
            try:
                call = paging.send(self.answer(f"/api/v1/tables/{name}", **call))
            except StopIteration as done:
                return done.value

    def table_pandas(self, name: str, **filters: Any) -> Any:
        """:meth:`table` as a pandas DataFrame (needs pandas installed)."""
        table = self.table(name, **filters)
        try:
            import pandas  # noqa: F401  (to_pandas imports it; say what to install when it is missing)
        except ImportError:
            raise ImportError("pandas is not installed: pip install pandas (or use the pyarrow.Table)") from None
        return table.to_pandas()

    def table_polars(self, name: str, **filters: Any) -> Any:
        """:meth:`table` as a polars DataFrame (needs polars installed)."""
        return to_polars(self.table(name, **filters))

    def tables(self) -> list[dict[str, Any]]:
        """``GET /api/v1/tables``: every racing table and view, its columns and row count."""
        rows = self.query("/api/v1/tables", format="json")
        assert isinstance(rows, list)
        return rows

    def race_card(self, race_id: str) -> dict[str, Any]:
        """``GET /api/v1/races/{race_id}``: ``{race, entries, odds, payouts}``."""
        rows = self.query(f"/api/v1/races/{race_id}", format="json")
        assert isinstance(rows, list)
        return rows[0]  # type: ignore[no-any-return]

    def stream_plays(self, start: Any = None, end: Any = None, *, user_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Every play of a range, one dict at a time (NDJSON; the server's memory stays bounded)."""
        params = clean_params({"start": start, "end": end, "user_id": user_id})
        with self._http.stream("GET", "/v1/listening/plays/stream", params=params, headers={"Accept": NDJSON}) as resp:
            if resp.status_code >= 400:
                resp.read()
                raise error_from(resp)
            for line in resp.iter_lines():
                row = _stream_line(line)
                if row is not None:
                    yield row

    def batch(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
        """``POST /v1/batch``: one result per item, ``{route, status, cache, data}`` or ``{route, status, error}``."""
        response = self._http.post("/v1/batch", content=orjson.dumps(self._batch_body(items)),
                                   headers={"Accept": "application/json", "Content-Type": "application/json"})
        if response.status_code >= 400:
            raise error_from(response)
        return orjson.loads(response.content)["results"]  # type: ignore[no-any-return]

    def invalidate(self, *, tags: Sequence[str] | None = None, dataset: str | None = None,
                   everything: bool = False) -> dict[str, Any]:
        """``POST /admin/invalidate`` (needs ``token``). No tags and no dataset drops everything."""
        response = self._http.post("/admin/invalidate", json=self._invalidate_body(tags, dataset, everything))
        if response.status_code >= 400:
            raise error_from(response)
        return response.json()  # type: ignore[no-any-return]

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "KasokuClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncKasokuClient(_Base, _Queries[Awaitable[Rows]]):
    """The same calls, awaited: ``await client.top_tracks(limit=5)``, ``async for play in client.stream_plays()``."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 30, format: Format = "arrow",
                 etag_cache: int = 0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(base_url, token=token, format=format, etag_cache=etag_cache)
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=self.headers, timeout=timeout,
                                       transport=transport)

    async def answer(self, route: str, *, format: Format | None = None, **params: Any) -> Answer:
        route, cleaned, headers, fmt = self._request(route, format, params)
        return self._finish(await self._http.get(route, params=cleaned, headers=headers), route, cleaned, fmt)

    async def query(self, route: str, *, format: Format | None = None, **params: Any) -> Rows:
        return (await self.answer(route, format=format, **params)).rows

    async def table(self, name: str, *, start: Any = None, end: Any = None, race_id: str | None = None,
                    racecourse: str | None = None, horse: str | None = None, jockey: str | None = None,
                    trainer: str | None = None, columns: Sequence[str] | None = None, limit: int | None = None,
                    page_size: int = TABLE_PAGE) -> pa.Table:
        """:meth:`KasokuClient.table`, awaited."""
        paging = table_pages(table_params(start, end, race_id, racecourse, horse, jockey, trainer, columns), limit,
                             page_size)
        call = next(paging)
        while True:
            try:
                call = paging.send(await self.answer(f"/api/v1/tables/{name}", **call))
            except StopIteration as done:
                return done.value

    async def stream_plays(self, start: Any = None, end: Any = None, *,
                           user_id: str | None = None) -> AsyncIterator[dict[str, Any]]:
        params = clean_params({"start": start, "end": end, "user_id": user_id})
        async with self._http.stream("GET", "/v1/listening/plays/stream", params=params,
                                     headers={"Accept": NDJSON}) as resp:
            if resp.status_code >= 400:
                await resp.aread()
                raise error_from(resp)
            async for line in resp.aiter_lines():
                row = _stream_line(line)
                if row is not None:
                    yield row

    async def batch(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
        response = await self._http.post("/v1/batch", content=orjson.dumps(self._batch_body(items)),
                                         headers={"Accept": "application/json", "Content-Type": "application/json"})
        if response.status_code >= 400:
            raise error_from(response)
        return orjson.loads(response.content)["results"]  # type: ignore[no-any-return]

    async def invalidate(self, *, tags: Sequence[str] | None = None, dataset: str | None = None,
                         everything: bool = False) -> dict[str, Any]:
        response = await self._http.post("/admin/invalidate", json=self._invalidate_body(tags, dataset, everything))
        if response.status_code >= 400:
            raise error_from(response)
        return response.json()  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncKasokuClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
