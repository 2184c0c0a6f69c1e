"""Content negotiation: which format (Accept, ``?format=``) and which coding (Accept-Encoding)."""

from __future__ import annotations

from collections.abc import Sequence

from kasoku.api.compression import COMPRESSORS
from kasoku.api.encoders import MEDIA_TYPES
from kasoku.errors import KasokuError

_FORMAT_BY_MEDIA = {
    "application/json": "json",
    "application/msgpack": "msgpack",
    "application/x-msgpack": "msgpack",
    "application/vnd.msgpack": "msgpack",
    "application/vnd.apache.arrow.stream": "arrow",
    "application/vnd.apache.arrow.file": "arrow",
    "text/csv": "csv",
    "application/vnd.apache.parquet": "parquet",
    "application/parquet": "parquet",
    "application/x-parquet": "parquet",
}
# Preference when the client is indifferent between several of ours (by q-value).
_SERVER_ORDER = ["json", "msgpack", "arrow", "csv", "parquet"]
FORMATS: tuple[str, ...] = tuple(_SERVER_ORDER)  # what ?format= takes (OpenAPI declares it as an enum)
ENCODING_PREFERENCE = ["br", "zstd", "gzip", "lz4"]
# What a 406 lists: the media types (for Accept) and the names (for ?format=).
_SUPPORTED = {"supported": sorted(MEDIA_TYPES.values()), "formats": sorted(MEDIA_TYPES)}


class NotAcceptable(KasokuError):
    status = 406
    code = "NOT_ACCEPTABLE"


def parse_header(header: str) -> list[tuple[str, float]]:
    """``a;q=0.5, b`` → ``[(a, 0.5), (b, 1.0)]`` (tokens lower-cased; a bad q counts as 0)."""
    items: list[tuple[str, float]] = []
    for part in header.split(","):
        token, _, params = part.strip().partition(";")
        token = token.strip().lower()
        if not token:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        items.append((token, q))
    return items


def choose_format(accept: str | None, format_param: str | None, offered: Sequence[str] | None = None) -> str:
    """``?format=`` wins (browsers, curl); else the Accept header by q-value; default JSON.

    ``offered``: the formats this answer can take, in the server's order (a batch: json,
    msgpack); every format by default. Anything else is a 406 naming what is offered.
    """
    order = list(offered) if offered is not None else _SERVER_ORDER
    supported = _SUPPORTED if offered is None else {"supported": sorted(MEDIA_TYPES[f] for f in order),
                                                    "formats": sorted(order)}
    if format_param:
        fmt = format_param.lower()
        if fmt not in order:
            raise NotAcceptable(f"unsupported format {format_param!r}", details=supported)
        return fmt
    if not accept:
        return order[0]
    # RFC 9110 12.5.1: the most specific range that matches a type decides its q, so
    # "application/json;q=0, */*" refuses JSON even though */* would match it.
    specific: dict[str, float] = {}
    wildcard: dict[str, float] = {}
    for media, q in parse_header(accept):
        if media in _FORMAT_BY_MEDIA:
            fmt = _FORMAT_BY_MEDIA[media]
            specific[fmt] = max(q, specific.get(fmt, 0.0))
        elif media in ("*/*", "application/*", "text/*"):
            for fmt in (["csv"] if media == "text/*" else _SERVER_ORDER):
                wildcard[fmt] = max(q, wildcard.get(fmt, 0.0))
    best: tuple[float, int] | None = None
    chosen = ""
    for rank, fmt in enumerate(order):
        q = specific.get(fmt, wildcard.get(fmt, 0.0))
        if q > 0 and (best is None or (q, -rank) > best):
            best, chosen = (q, -rank), fmt
    if best is None:
        raise NotAcceptable(f"none of the accepted types is supported: {accept}", details=supported)
    return chosen


def choose_encoding(accept_encoding: str | None) -> str:
    """The best coding the client accepts by q-value (ties: br > zstd > gzip > lz4); identity otherwise."""
    if not accept_encoding:
        return "identity"
    offered = parse_header(accept_encoding)
    q_of = dict(offered)
    star = q_of.get("*")
    best, best_q = "identity", 0.0
    for coding in ENCODING_PREFERENCE:
        q = q_of.get(coding, star if star is not None else 0.0)
        if q > best_q:
            best, best_q = coding, q
    return best if best in COMPRESSORS else "identity"
