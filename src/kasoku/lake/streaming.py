"""Stream a DuckDB query's result as Arrow record batches, with bounded memory.

The query runs on a pool worker thread (through a *cursor runner*: any ``run(fn)`` that calls
``fn(cursor)`` on a thread with its own cursor — ``DuckDBPool.run`` is one). DuckDB produces
the result lazily (``to_arrow_reader(batch_size)``); each batch is handed to the event
loop through a bounded asyncio queue. When the queue is full the worker thread waits, so at
most ``max_buffered`` batches (plus the one being sent) exist at any time, whatever the size
of the result. When the consumer stops early (client disconnect), the worker sees it within
``_POLL`` seconds, stops reading and returns its cursor to the pool.

This lives beside the pool rather than in it so that the pool stays small and this can be
tested with a plain DuckDB connection.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pyarrow as pa

from kasoku.errors import QueryTimeout

log = logging.getLogger(__name__)

CursorRunner = Callable[[Callable[[Any], None]], Awaitable[None]]
_END = object()
_POLL = 0.1


async def stream_batches(run: CursorRunner, sql: str, params: Sequence[Any] | dict[str, Any] | None = None, *,
                         batch_size: int = 65_536, max_buffered: int = 2,
                         chunk_timeout: float | None = None) -> AsyncIterator[pa.RecordBatch]:
    """Yield the result of ``sql`` batch by batch; raises the query's error if it fails.

    ``chunk_timeout``: the deadline of each batch, both ways — DuckDB must produce the next
    batch within it (else QueryTimeout), and the consumer must take a batch within it (else
    the producer stops and gives its worker back: a stalled reader never holds a worker).
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=max(1, max_buffered))
    stop = threading.Event()

    def put(item: Any) -> bool:
        """Block this worker thread until the loop took ``item``; False once the consumer left."""
        fut = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
        waited = 0.0
        while True:
            try:
                fut.result(timeout=_POLL)
                return True
            except TimeoutError:
                waited += _POLL
                if stop.is_set():
                    fut.cancel()
                    return False
                if chunk_timeout is not None and waited >= chunk_timeout:
                    stop.set()
                    fut.cancel()
                    raise QueryTimeout(f"the reader took no rows for {chunk_timeout:g} s: stream stopped",
                                       details={"timeout_s": chunk_timeout})

    def produce(cursor: Any) -> None:
        reader = cursor.execute(sql, params).to_arrow_reader(batch_size)
        try:
            for batch in reader:
                if stop.is_set() or not put(batch):
                    return
            put(_END)
        finally:
            reader.close()

    task = asyncio.ensure_future(run(produce))
    try:
        while True:
            if task.done() and queue.empty():
                task.result()  # re-raises the query's error
                return
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, task}, timeout=chunk_timeout, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                getter.cancel()
                raise QueryTimeout(f"no rows for {chunk_timeout:g} s: the stream's query was interrupted",
                                   details={"timeout_s": chunk_timeout})
            if not getter.done():
                getter.cancel()
                continue
            item = getter.result()
            if item is _END:
                await task
                return
            yield item
    finally:
        stop.set()
        if not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=5 * _POLL + 1.0)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                task.cancel()
            except Exception:  # the stream already ended for the consumer; nothing to raise to
                log.debug("stream producer ended with an error after the consumer left", exc_info=True)
