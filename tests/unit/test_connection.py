"""The bounded uvicorn protocols (api/connection.py) on a real event loop, with a transport
that records what is written: the header deadline never cuts a request that is being
answered, and moves with each response on a keep-alive connection."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from kasoku.api.connection import protocol

HEAD = b"GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n"


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False
        self.protocol: Any = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 5000)}.get(name, default)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.protocol.connection_lost(None)

    def get_protocol(self) -> Any:
        return self.protocol

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def connect(parser: str, app: Any, timeout: float = 0.3, body_timeout: float = 60.0,
            keep_alive: float = 5.0) -> tuple[Any, Transport]:
    config = Config(app=app, log_level="warning", access_log=False, timeout_keep_alive=keep_alive)
    config.load()
    proto = protocol(parser, header_timeout=timeout, max_header_bytes=1024, body_timeout=body_timeout)(
        config=config, server_state=ServerState(), app_state={})
    transport = Transport()
    transport.protocol = proto
    proto.connection_made(transport)
    return proto, transport


async def slow(scope: Any, receive: Any, send: Any) -> None:
    await asyncio.sleep(1.0)  # longer than the 0.3 s header timeout
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.parametrize("parser", ["httptools", "h11"])
async def test_a_slow_answer_is_not_a_slow_client(parser: str) -> None:
    proto, transport = connect(parser, slow)
    proto.data_received(HEAD + b"\r\n")
    await asyncio.sleep(1.1)  # (timers run in deadline order: the answer at 1.0, a close not before 1.3)
    assert transport.written.startswith(b"HTTP/1.1 200 ") and not transport.closed
    await asyncio.sleep(0.5)  # now idle: the deadline runs from the response's end
    assert transport.closed and b"408" not in transport.written


@pytest.mark.parametrize("parser", ["httptools", "h11"])
async def test_each_response_gives_the_next_head_a_full_timeout(parser: str) -> None:
    async def quick(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    proto, transport = connect(parser, quick)
    for _ in range(4):  # 4 x 0.15 s: past the 0.3 s timeout in all, never past it since a response
        await asyncio.sleep(0.15)
        proto.data_received(HEAD + b"\r\n")
        await asyncio.sleep(0.01)
        assert not transport.closed
    assert transport.written.count(b"HTTP/1.1 204 ") == 4
    proto.data_received(HEAD)  # half a head, never finished
    await asyncio.sleep(0.6)
    assert transport.closed and transport.written.endswith(b"}") and b"HTTP/1.1 408 " in transport.written


async def test_header_bytes_are_counted_across_reads_and_refused() -> None:
    proto, transport = connect("httptools", slow, timeout=5)
    proto.data_received(HEAD)
    for _ in range(20):
        if transport.closed:
            break
        proto.data_received(b"X-Pad: " + b"a" * 100 + b"\r\n")
    assert transport.closed and transport.written.startswith(b"HTTP/1.1 431 ")


async def echo_body(scope: Any, receive: Any, send: Any) -> None:
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return  # the client went away (the connection was closed)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


POST = b"POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n"


@pytest.mark.parametrize("parser", ["httptools", "h11"])
async def test_a_body_that_never_completes_is_cut_with_408(parser: str) -> None:
    proto, transport = connect(parser, echo_body, timeout=0.2, body_timeout=0.5)
    proto.data_received(POST + b"abc")  # 3 of the 10 bytes, then nothing
    await asyncio.sleep(0.3)
    assert not transport.closed  # still inside the body's time
    await asyncio.sleep(0.6)
    assert transport.closed and transport.written.startswith(b"HTTP/1.1 408 ") and b"body" in transport.written


@pytest.mark.parametrize("parser", ["httptools", "h11"])
async def test_a_body_that_completes_in_time_is_answered(parser: str) -> None:
    proto, transport = connect(parser, echo_body, timeout=0.2, body_timeout=0.8)
    proto.data_received(POST + b"abc")
    await asyncio.sleep(0.3)  # past the header timeout, inside the body's
    proto.data_received(b"defghij")
    await asyncio.sleep(0.05)
    assert transport.written.startswith(b"HTTP/1.1 200 ") and transport.written.endswith(b"abcdefghij")


async def quick(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@pytest.mark.parametrize("parser", ["httptools", "h11"])
async def test_an_idle_keep_alive_connection_is_closed_after_timeout_keep_alive(parser: str) -> None:
    # httptools: the connection's own timer does it (uvicorn's per-response timer is not armed)
    proto, transport = connect(parser, quick, timeout=5.0, keep_alive=0.3)
    await asyncio.sleep(0.4)  # no request yet: the header timeout applies, not keep-alive (as uvicorn)
    assert not transport.closed
    for _ in range(4):  # 4 x 0.15 s: past keep-alive in all, never since a response
        proto.data_received(HEAD + b"\r\n")
        await asyncio.sleep(0.15)
        assert not transport.closed
    assert transport.written.count(b"HTTP/1.1 204 ") == 4
    await asyncio.sleep(0.3)  # idle past keep-alive: closed silently
    assert transport.closed and b"408" not in transport.written


@pytest.mark.parametrize("parser", ["httptools", "h11"])
async def test_a_byte_of_the_next_head_ends_keep_alive_and_starts_the_head_deadline(parser: str) -> None:
    proto, transport = connect(parser, quick, timeout=0.6, keep_alive=0.2)
    proto.data_received(HEAD + b"\r\n")
    await asyncio.sleep(0.05)
    proto.data_received(b"GET /x HT")  # part of the next head, inside keep-alive
    await asyncio.sleep(0.3)  # past keep-alive, inside the header timeout
    assert not transport.closed
    await asyncio.sleep(0.5)
    assert transport.closed and b"HTTP/1.1 408 " in transport.written


# uvicorn's HttpToolsProtocol methods that BoundedHttpTools carries its own copy of (with the
# bounds written in, to spare the hit path a Python frame per hook): digests of their source
# in the uvicorn they were copied from.
COPIED = {"data_received": "010a7ae59a5d3b1a", "on_message_complete": "1fbad42dc31fc01f",
          "on_response_complete": "64e254f28e389e76"}


def test_the_uvicorn_methods_copied_into_the_bounded_protocol_are_unchanged() -> None:
    for name, digest in COPIED.items():
        source = inspect.getsource(getattr(HttpToolsProtocol, name))
        assert hashlib.sha256(source.encode()).hexdigest()[:16] == digest, (
            f"uvicorn's HttpToolsProtocol.{name} changed: bring BoundedHttpTools.{name} (api/connection.py) "
            "in line with it, then update its digest here")
