"""``POST /mcp``: the Model Context Protocol for LLM clients, over its Streamable HTTP transport.

Every query route a domain registered (``api.queries``) is one MCP tool: its name comes from
the path (``/v1/listening/top-tracks`` → ``listening_top_tracks``), its description from the
route's summary and its ``inputSchema`` from the route's query parameters in the app's own
OpenAPI document. A call goes through the same builder as ``GET`` and ``/v1/batch`` and then
``engine.get``, so an MCP call and a GET share one cache entry, one coalesced source run and
one JSON body (the text content *is* the GET's cached JSON bytes).

Why no MCP SDK: the surface a tool server needs is five JSON-RPC methods (``initialize``,
``notifications/initialized``, ``ping``, ``tools/list``, ``tools/call``) answered with single
JSON responses. The SDK would bring its own ASGI app, session manager, SSE machinery and
pydantic models for the whole protocol, and a second way to validate parameters; ~250 lines
here keep one request path and no new dependency.

Transport choices (spec 2025-06-18, "Streamable HTTP"): every POST is answered with one
``application/json`` body (the spec lets a server choose JSON over SSE), notifications and
responses with ``202`` and no body, ``GET /mcp`` with ``405`` (no server-initiated stream).
The server is stateless: no ``Mcp-Session-Id`` is issued, so any worker can answer any call.
An ``Origin`` other than the server's own (or ``allowed_origins``) is refused by the guard
(api/guard.py), ``null`` included — the spec's DNS-rebinding rule.
JSON-RPC batches (arrays, protocol 2025-03-26) are accepted too.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request
from starlette.responses import Response

from kasoku import __version__
from kasoku.api.queries import WIRE_PARAMS, build_query, query_routes
from kasoku.api.respond import answer, engine_of
from kasoku.errors import KasokuError

log = logging.getLogger(__name__)
router = APIRouter(tags=["mcp"])

PROTOCOL_VERSIONS = ("2025-06-18", "2025-03-26", "2024-11-05")  # newest first
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = -32700, -32600, -32601, -32602, -32603
_VERSION_SEGMENT = re.compile(r"^v\d+$")


class RpcError(Exception):
    """A JSON-RPC error object (not an HTTP error: it travels inside a 200 answer)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data

    def to_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def tool_name(path: str, tag: str | None = None) -> str:
    """``/v1/listening/top-tracks`` → ``listening_top_tracks``: no version, no ``api``, no ``{param}``
    segments, prefixed with the route's OpenAPI tag (its domain) when the path does not say it:
    ``/api/v1/realtime/odds/{race_id}`` tagged ``racing`` → ``racing_realtime_odds``."""
    parts = [p for p in path.strip("/").split("/")
             if p and p != "api" and not _VERSION_SEGMENT.match(p) and not p.startswith("{")]
    name = re.sub(r"[^A-Za-z0-9_]", "_", "_".join(parts))
    if tag and not name.startswith(tag):
        name = f"{tag}_{name}" if name else tag
    return re.sub(r"[^A-Za-z0-9_]", "_", name) or "root"


def _resolve(schema: Any, components: dict[str, Any], depth: int = 0) -> Any:
    """Inline ``$ref``s into ``#/components/schemas`` so every tool schema stands alone."""
    if depth > 20:
        return schema
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            return _resolve(components.get(ref.rsplit("/", 1)[1], {}), components, depth + 1)
        return {k: _resolve(v, components, depth + 1) for k, v in schema.items() if k != "title"}
    if isinstance(schema, list):
        return [_resolve(v, components, depth + 1) for v in schema]
    return schema


def input_schema(operation: dict[str, Any] | None, components: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema of a GET's path and query parameters (minus wire-only ones like ``format``).
    Path parameters become required arguments: the route's builder takes them with the rest."""
    if operation is None:  # registered without a GET route: say nothing rather than guess
        return {"type": "object", "additionalProperties": True}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in operation.get("parameters", []):
        name = param.get("name")
        if param.get("in") not in ("query", "path") or name in WIRE_PARAMS:
            continue
        schema = _resolve(param.get("schema", {}), components)
        if param.get("description") and "description" not in schema:
            schema["description"] = param["description"]
        properties[name] = schema
        if param.get("required"):
            required.append(name)
    out: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        out["required"] = required
    return out


def tools_of(app: FastAPI) -> dict[str, dict[str, Any]]:
    """Tool name → {tool definition, route}. Built once per app: routes do not change after startup."""
    cached: dict[str, dict[str, Any]] | None = getattr(app.state, "mcp_tools", None)
    if cached is not None and len(cached) == len(query_routes(app)):
        return cached
    spec = app.openapi()
    components = spec.get("components", {}).get("schemas", {})
    tools: dict[str, dict[str, Any]] = {}
    for path in sorted(query_routes(app)):
        operation = spec.get("paths", {}).get(path, {}).get("get")
        name = tool_name(path, ((operation or {}).get("tags") or [None])[0])
        if name in tools:
            raise ValueError(f"query routes {tools[name]['route']!r} and {path!r} make one MCP tool name {name!r}")
        summary = (operation or {}).get("summary") or f"GET {path}"
        description = f"{summary} (GET {path}). Returns the JSON answer: rows plus metadata."
        tools[name] = {"route": path, "tool": {"name": name, "title": summary, "description": description,
                                                "inputSchema": input_schema(operation, components),
                                                "annotations": {"readOnlyHint": True, "idempotentHint": True,
                                                                "openWorldHint": False}}}
    app.state.mcp_tools = tools
    return tools


def _initialize(params: dict[str, Any]) -> dict[str, Any]:
    asked = params.get("protocolVersion")
    version = asked if asked in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[0]
    return {"protocolVersion": version, "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": "kasoku", "title": "kasoku", "version": __version__},
            "instructions": "Read-only data queries. tools/list names each query; answers are JSON rows "
                            "with metadata, served from kasoku's cache when fresh."}


async def _call_tool(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    name = params.get("name")
    arguments = params.get("arguments") or {}
    tools = tools_of(request.app)
    if not isinstance(name, str) or name not in tools:
        raise RpcError(INVALID_PARAMS, f"unknown tool {name!r}", {"tools": sorted(tools)})
    if not isinstance(arguments, dict):
        raise RpcError(INVALID_PARAMS, "tools/call arguments must be an object")
    route = tools[name]["route"]
    engine = engine_of(request)
    try:
        query = build_query(request.app, route, arguments, request.scope)
        found = await answer(engine, query, "json", "identity",
                             min_compress=request.app.state.settings.compress_min_bytes)
    except KasokuError as exc:  # a tool execution error: the model sees it and may retry
        envelope = {"error": exc.to_dict()}
        return {"content": [{"type": "text", "text": f"{exc.code}: {exc.message}"}],
                "structuredContent": envelope, "isError": True}
    served, body = found.served, found.body
    now = engine.clock()
    meta = {"route": route, "cache": served.outcome, "tier": served.tier, "etag": body.etag,
            "source": served.entry.source, "age": served.age(now), "max_age": served.remaining(now)}
    return {"content": [{"type": "text", "text": body.content.decode("utf-8")}],
            "structuredContent": orjson.loads(body.content), "isError": False, "_meta": {"kasoku": meta}}


async def _dispatch(request: Request, method: str, params: dict[str, Any]) -> Any:
    if method == "initialize":
        return _initialize(params)
    if method == "ping":
        return {}
    if method == "tools/list":
        return {"tools": [t["tool"] for t in tools_of(request.app).values()]}
    if method == "tools/call":
        return await _call_tool(request, params)
    raise RpcError(METHOD_NOT_FOUND, f"method not found: {method}")


async def _answer(request: Request, message: Any) -> dict[str, Any] | None:
    """One JSON-RPC message in, its response out (None for notifications and client responses)."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return _error(None, RpcError(INVALID_REQUEST, "not a JSON-RPC 2.0 message"))
    if "method" not in message:
        return None  # a response to something we never ask: nothing to say
    msg_id, method, params = message.get("id"), message.get("method"), message.get("params", {})
    is_notification = "id" not in message
    if not isinstance(method, str) or not isinstance(params, dict) or not isinstance(msg_id, (str, int, type(None))):
        return None if is_notification else _error(msg_id, RpcError(INVALID_REQUEST, "bad method, params or id"))
    if is_notification:
        return None  # notifications/initialized, notifications/cancelled, ...: accepted, nothing to do
    try:
        return {"jsonrpc": "2.0", "id": msg_id, "result": await _dispatch(request, method, params)}
    except RpcError as exc:
        return _error(msg_id, exc)
    except Exception:  # a bug answers a JSON-RPC error, never a stack trace
        log.exception("MCP %s failed", method)
        return _error(msg_id, RpcError(INTERNAL_ERROR, "internal error; see the server log"))


def _error(msg_id: Any, exc: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": msg_id, "error": exc.to_dict()}


def _json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


@router.post("/mcp", summary="Model Context Protocol (JSON-RPC 2.0, Streamable HTTP, JSON responses)",
             responses={200: {"description": "a JSON-RPC response (or an array, for a batch)"},
                        202: {"description": "only notifications were sent"},
                        400: {"description": "body is not JSON (-32700) or not JSON-RPC (-32600)"}})
async def mcp(request: Request) -> Response:
    version = request.headers.get("mcp-protocol-version")
    if version is not None and version not in PROTOCOL_VERSIONS:
        return _json(_error(None, RpcError(INVALID_REQUEST, f"unsupported MCP-Protocol-Version {version!r}",
                                           {"supported": list(PROTOCOL_VERSIONS)})), status=400)
    try:
        payload = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        return _json(_error(None, RpcError(PARSE_ERROR, f"parse error: {exc}")), status=400)
    if isinstance(payload, list):
        if not payload:
            return _json(_error(None, RpcError(INVALID_REQUEST, "empty batch")), status=400)
        limit = request.app.state.settings.batch_max_items  # the same bound as POST /v1/batch
        if len(payload) > limit:
            return _json(_error(None, RpcError(INVALID_REQUEST, f"batch of {len(payload)} messages; at most {limit}",
                                               {"max_items": limit})), status=413)
        answers = [a for a in [await _answer(request, m) for m in payload] if a is not None]
        return _json(answers) if answers else Response(status_code=202)
    answer = await _answer(request, payload)
    if answer is None:
        return Response(status_code=202)
    bad_message = "error" in answer and answer["error"]["code"] == INVALID_REQUEST
    return _json(answer, status=400 if bad_message else 200)


@router.get("/mcp", include_in_schema=False)
async def mcp_stream() -> Response:
    """No server-initiated SSE stream: the transport says to answer 405."""
    return Response(status_code=405, headers={"Allow": "POST"})
