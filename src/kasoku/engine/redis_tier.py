"""L2: the Redis tier shared by every worker. Optional, and never the reason a request fails.

Every call runs under ``timeout`` and through a circuit breaker: a failure or a timeout is
counted (metrics + breaker) and degrades to "miss" / "no-op". Writes go through a bounded
queue drained by one background task, so a slow Redis never delays an answer (a full queue
drops the write and counts it).

Keys carry a generation (see ``constants``): "invalidate everything" is one INCR per
bucket, and tag invalidation reads the tag's member sets — no KEYS or SCAN over the
keyspace. The generation is read inside small Lua scripts, so every get/put is still one
round trip. Every script touches one bucket only (its generation, entries, tag sets: one
hash tag), so the same scripts run on one Redis and on a Redis/Valkey Cluster.

A put never replaces an entry of a newer data version with an older one: the put script reads
the stored header (``GETRANGE``) and compares versions atomically (engine/versions.py). Pub/sub
carries admin invalidations and "dataset X has a new version: check now" — a shortcut only;
no freshness guarantee rests on it.

Cross-worker single-flight: ``SET lock token NX PX lease``; the holder renews the lease while
its source runs (compare-and-PEXPIRE every lease/3), returns to its caller at once, and in
the background writes L2 *then* releases the lease (compare-and-delete), so a waiter that
sees the lease gone finds the value or takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import orjson
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisClusterException, RedisError

from kasoku.engine import codec
from kasoku.engine.breaker import STATE_VALUES, Breaker, State
from kasoku.engine.constants import INVALIDATION_CHANNEL, KeyLayout
from kasoku.engine.entry import Entry
from kasoku.engine.redis_clients import Client, connect
from kasoku.engine.metrics import Metrics
from kasoku.engine.types import Lifetime

log = logging.getLogger(__name__)
T = TypeVar("T")
OnInvalidate = Callable[..., Awaitable[Any]]  # engine.invalidate_local(tags=..., everything=...)
OnVersion = Callable[[str], Awaitable[Any]]  # engine.check_versions(dataset)
Compute = Callable[[], Awaitable[tuple[Entry, Lifetime | None]]]

_GET = """
local gen = redis.call('GET', KEYS[1]) or '0'
return redis.call('GET', ARGV[1] .. gen .. ':' .. ARGV[2])
"""
# The data version of a stored entry, read from its codec header (bytes 16..23, flag bit 0 of
# byte 6 says there is one); nil for no version or a value that is not a current entry.
_DATA_VERSION = """
local function data_version(head)
  if string.len(head) < %(header)d or string.sub(head, 1, 4) ~= '%(magic)s' or string.byte(head, 5) ~= %(codec)d then
    return nil
  end
  if string.byte(head, 6) %% 2 == 0 then return nil end
  local v = 0
  for i = 17, 24 do v = v * 256 + string.byte(head, i) end
  return v
end
""" % {"header": codec.HEADER_SIZE, "magic": codec.MAGIC.decode(), "codec": codec.VERSION}
# Never overwrite an answer of a newer data version with one of an older (a slow worker's
# late put): compared here, atomically, against what is stored. Returns 0 when refused.
_PUT = _DATA_VERSION + """
local gen = redis.call('GET', KEYS[1]) or '0'
local ekey = ARGV[1] .. gen .. ':' .. ARGV[3]
local new = tonumber(ARGV[6])
local old = data_version(redis.call('GETRANGE', ekey, 0, %(last)d))
if old ~= nil and (new == nil or new < old) then return 0 end
local px = tonumber(ARGV[5])
redis.call('SET', ekey, ARGV[4], 'PX', px)
for i = 7, #ARGV do
  local tk = ARGV[2] .. gen .. ':' .. ARGV[i]
  redis.call('SADD', tk, ARGV[3])
  if redis.call('PTTL', tk) < px then redis.call('PEXPIRE', tk, px) end
end
return 1
""" % {"last": codec.HEADER_SIZE - 1}
# Delete an entry found stale, unless a newer one replaced it meanwhile.
_DISCARD = _DATA_VERSION + """
local gen = redis.call('GET', KEYS[1]) or '0'
local ekey = ARGV[1] .. gen .. ':' .. ARGV[2]
local old = data_version(redis.call('GETRANGE', ekey, 0, %(last)d))
if old ~= nil and old <= tonumber(ARGV[3]) then return redis.call('DEL', ekey) end
return 0
""" % {"last": codec.HEADER_SIZE - 1}
_DROP_TAGS = """
local gen = redis.call('GET', KEYS[1]) or '0'
local removed = 0
for i = 3, #ARGV do
  local tk = ARGV[2] .. gen .. ':' .. ARGV[i]
  for _, key in ipairs(redis.call('SMEMBERS', tk)) do
    removed = removed + redis.call('DEL', ARGV[1] .. gen .. ':' .. key)
  end
  redis.call('DEL', tk)
end
return removed
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class Unavailable(Exception):
    """Redis was skipped (breaker open) or failed; the caller degrades."""


class RedisTier:
    name = "l2"

    def __init__(self, client: Client, *, metrics: Metrics, breaker: Breaker, timeout: float, lease: float,
                 clock: Callable[[], float] = time.time, queue_size: int = 1024,
                 subscriber: Callable[[], Redis] | None = None, layout: KeyLayout | None = None,
                 poll: tuple[float, float] = (0.002, 0.05)) -> None:
        self.client = client
        self.layout = layout or KeyLayout()
        self.metrics = metrics
        self.breaker = breaker
        self.timeout = timeout
        self.lease = lease
        self.clock = clock
        self.origin = secrets.token_hex(8)  # this worker's id on the broadcast channel
        self.poll = poll
        self._subscriber = subscriber  # makes the listener's connection; None: share ``client`` (one server)
        # A cluster client's first call learns the topology (CLUSTER SLOTS, COMMAND): several round
        # trips, given more than one call's timeout until it has once succeeded.
        self._first_timeout = max(timeout, 2.0) if isinstance(client, RedisCluster) else timeout
        self._ready = False
        self._queue: asyncio.Queue[tuple[str, Entry, Lifetime]] = asyncio.Queue(maxsize=queue_size)
        self._writer: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.subscribed = asyncio.Event()
        self._on_version: OnVersion | None = None
        self._get = client.register_script(_GET)
        self._put = client.register_script(_PUT)
        self._discard = client.register_script(_DISCARD)
        self._drop_tags = client.register_script(_DROP_TAGS)
        self._release = client.register_script(_RELEASE)
        self._renew_script = client.register_script(_RENEW)

    @classmethod
    def from_url(cls, url: str, *, metrics: Metrics, timeout: float, lease: float, failures: int, reset: float,
                 clock: Callable[[], float] = time.time, queue_size: int = 1024, max_connections: int = 64,
                 cluster: bool = False) -> "RedisTier":
        """A tier on one server, or (``cluster``) on the cluster ``url``'s node belongs to; bounded pools,
        redis-py's retries off (the breaker decides)."""
        conn = connect(url, cluster=cluster, timeout=timeout, max_connections=max_connections)
        breaker = Breaker(failures=failures, reset=reset,
                          on_change=lambda state: metrics.breaker_open.set(STATE_VALUES[state]))
        return cls(conn.client, metrics=metrics, breaker=breaker, timeout=timeout, lease=lease, clock=clock,
                   queue_size=queue_size, subscriber=conn.subscriber, layout=conn.layout)

    # -- plumbing -------------------------------------------------------------------------------
    async def _call(self, op: str, fn: Callable[[], Awaitable[T]]) -> T:
        """One Redis call under the timeout and the breaker; raises Unavailable instead of failing."""
        if not self.breaker.allow():
            raise Unavailable(op)
        try:
            value = await asyncio.wait_for(fn(), self.timeout if self._ready else self._first_timeout)
        except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:
            self.breaker.failure()
            self.metrics.redis_error(op)
            log.debug("redis %s failed: %r", op, exc)
            raise Unavailable(op) from exc
        self.breaker.success()
        self._ready = True
        return value

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- get / put ------------------------------------------------------------------------------
    async def get(self, key: str) -> Entry | None:
        b = self.layout.bucket(key)
        try:
            raw = await self._call("get", lambda: self._get(keys=[self.layout.generation(b)],
                                                             args=[self.layout.entries(b), key]))
        except Unavailable:
            return None
        if raw is None:
            return None
        try:
            entry = codec.decode(raw)
        except codec.CodecError as exc:
            log.warning("ignoring unreadable L2 value for %s: %s", key, exc)
            return None
        return entry if entry.hard_until > self.clock() else None

    async def write(self, key: str, entry: Entry, life: Lifetime) -> bool:
        """Write now (awaited): the single-flight holder uses this before releasing its lease."""
        fresh_until = entry.created_at + life.fresh_for
        hard_until = fresh_until + life.stale_for
        px = int((hard_until - self.clock()) * 1000)
        if px <= 0:
            return False
        try:
            data = codec.encode(entry, fresh_until=fresh_until, hard_until=hard_until)
        except codec.CodecError as exc:
            log.warning("not writing %s to L2: %s", key, exc)
            self.metrics.redis_puts.labels("skipped").inc()
            return False
        b = self.layout.bucket(key)
        version = "" if entry.version is None else str(entry.version)
        args: list[Any] = [self.layout.entries(b), self.layout.tags(b), key, data, px, version, *sorted(entry.tags)]
        try:
            written = await self._call("put", lambda: self._put(keys=[self.layout.generation(b)], args=args))
        except Unavailable:
            self.metrics.redis_puts.labels("failed").inc()
            return False
        if not written:
            self.metrics.redis_puts.labels("superseded").inc()  # a newer version's answer is there
            return False
        self.metrics.redis_puts.labels("written").inc()
        return True

    def discard(self, key: str, version: int) -> None:
        """Delete ``key`` if what is stored is of ``version`` or older (found stale). Best effort, never waits."""
        async def run() -> None:
            with contextlib.suppress(Unavailable):
                b = self.layout.bucket(key)
                await self._call("discard", lambda: self._discard(keys=[self.layout.generation(b)],
                                                                  args=[self.layout.entries(b), key, version]))
        if self.breaker.state != "open":
            self._spawn(run())

    def put(self, key: str, entry: Entry, life: Lifetime) -> None:
        """Queue a write; never waits. Dropped (and counted) when the queue is full or Redis is down."""
        if self.breaker.state == "open":
            self.metrics.redis_puts.labels("skipped").inc()
            return
        try:
            self._queue.put_nowait((key, entry, life))
        except asyncio.QueueFull:
            self.metrics.redis_puts.labels("dropped").inc()
            return
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        while True:
            key, entry, life = await self._queue.get()
            try:
                await self.write(key, entry, life)
            except Exception:  # the writer must outlive any one bad entry
                log.exception("L2 write of %s failed", key)
            finally:
                self._queue.task_done()

    # -- invalidation ---------------------------------------------------------------------------
    async def invalidate(self, *, tags: Iterable[str] | None = None, everything: bool = False,
                         broadcast: bool = True) -> int:
        """Drop L2 entries (by tag, or all via a new generation) and (``broadcast``) tell every other worker.

        Returns the number of L2 entries deleted (0 for "everything": old keys die by TTL).
        Each bucket is one call (one slot on a cluster); the buckets go in parallel.
        """
        wanted = sorted(set(tags or []))
        removed = 0
        if everything or wanted:
            done = await asyncio.gather(*(self._invalidate_bucket(b, wanted, everything) for b in self.layout.all()))
            removed = sum(n for n in done if n is not None)
            if any(n is None for n in done):
                log.warning("L2 invalidation incomplete: redis unavailable for %d of %d buckets",
                            sum(n is None for n in done), self.layout.buckets)
        if not broadcast:
            return removed
        message = orjson.dumps({"origin": self.origin, "tags": wanted, "everything": everything})
        try:
            await self._call("publish", lambda: self.client.publish(INVALIDATION_CHANNEL, message))
            self.metrics.broadcasts.labels("sent").inc()
        except Unavailable:
            log.warning("invalidation broadcast not sent: redis unavailable")
        return removed

    async def _invalidate_bucket(self, b: int, wanted: list[str], everything: bool) -> int | None:
        """One bucket's share of an invalidation: entries removed, or None when Redis was unavailable."""
        gen = self.layout.generation(b)
        try:
            if everything:
                await self._call("invalidate", lambda: self.client.incr(gen))
                return 0
            args: list[Any] = [self.layout.entries(b), self.layout.tags(b), *wanted]
            return int(await self._call("invalidate", lambda: self._drop_tags(keys=[gen], args=args)))
        except Unavailable:
            return None

    def announce(self, dataset: str) -> None:
        """Tell other workers that ``dataset`` has a new data version, so they check now rather
        than at their next poll. Only a shortcut: a lost message costs at most one poll interval."""
        message = orjson.dumps({"origin": self.origin, "check": dataset})

        async def run() -> None:
            with contextlib.suppress(Unavailable):
                await self._call("publish", lambda: self.client.publish(INVALIDATION_CHANNEL, message))
                self.metrics.broadcasts.labels("sent").inc()
        if self.breaker.state != "open":
            self._spawn(run())

    async def start(self, on_invalidate: OnInvalidate, on_version: OnVersion | None = None) -> None:
        """Start listening for other workers' invalidations and version news (retries until Redis is there).

        On a cluster, first learn the topology while the URL's node is up, so that the
        listener and later calls know every node should that one fail (best effort)."""
        self._on_version = on_version
        if isinstance(self.client, RedisCluster):
            cluster = self.client
            with contextlib.suppress(Unavailable):
                await self._call("connect", cluster.initialize)
        if self._listener is None:
            self._listener = asyncio.ensure_future(self._listen(on_invalidate))

    async def _listen(self, on_invalidate: OnInvalidate) -> None:
        lost = False
        backoff = 0.05
        while True:
            # A new connection per attempt: on a cluster, maybe to another node than the one that left.
            client = self._subscriber() if self._subscriber is not None else self.client
            pubsub = client.pubsub()
            try:
                await asyncio.wait_for(pubsub.subscribe(INVALIDATION_CHANNEL), self.timeout * 4)
                if lost:
                    # Broadcasts sent while we were deaf are gone: drop this worker's L1 to be safe.
                    self.metrics.broadcasts.labels("missed").inc()
                    await on_invalidate(tags=None, everything=True)
                    log.info("invalidation channel re-subscribed; local cache dropped")
                lost, backoff = False, 0.05
                self.subscribed.set()
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        await self._received(message["data"], on_invalidate)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection lost or refused: retry with backoff
                if not lost:
                    log.warning("invalidation listener lost redis: %r", exc)
                lost = True
                self.subscribed.clear()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                if client is not self.client:
                    with contextlib.suppress(Exception):
                        await client.aclose()

    async def _received(self, data: bytes, on_invalidate: OnInvalidate) -> None:
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            log.warning("ignoring malformed invalidation message")
            return
        if message.get("origin") == self.origin:
            return  # our own broadcast: already applied locally
        self.metrics.broadcasts.labels("received").inc()
        check = message.get("check")
        if check is not None:
            if self._on_version is not None:
                self._spawn(self._on_version(str(check)))  # the listener never waits on a version read
            return
        await on_invalidate(tags=list(message.get("tags") or []), everything=bool(message.get("everything")))

    # -- cross-worker single-flight ---------------------------------------------------------------
    async def run_once(self, key: str, compute: Compute, wait_for: Callable[[], Awaitable[Entry | None]]) -> Entry:
        """Run ``compute`` in one worker at a time. A waiter waits as long as the lease lives: its
        holder renews it while the source runs (the source's own deadline bounds that)."""
        lock = self.layout.lock(key)
        token = secrets.token_hex(12)
        try:
            if await self._acquire(lock, token):
                return await self._hold(key, lock, token, compute)
        except Unavailable:
            return await self._alone(key, compute)
        delay, ceiling = self.poll
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 2, ceiling)
            entry = await wait_for()
            if entry is not None:
                self.metrics.coalesced_waiter(key.split(":", 1)[0], "cluster")
                return entry
            try:
                if await self._acquire(lock, token):
                    # The holder left no result: it crashed (lease expired), failed, or could not cache.
                    self.metrics.lock_takeovers.inc()
                    return await self._hold(key, lock, token, compute)
            except Unavailable:
                return await self._alone(key, compute)

    async def _acquire(self, lock: str, token: str) -> bool:
        lease_ms = max(1, int(self.lease * 1000))
        return bool(await self._call("lock", lambda: self.client.set(lock, token, nx=True, px=lease_ms)))

    async def _hold(self, key: str, lock: str, token: str, compute: Compute) -> Entry:
        renewing = asyncio.ensure_future(self._renew(lock, token))
        try:
            entry, life = await compute()
        except BaseException:
            renewing.cancel()
            self._spawn(self._unlock(lock, token))
            raise
        renewing.cancel()
        self._spawn(self._share(key, lock, token, entry, life))  # the answer does not wait for Redis
        return entry

    async def _renew(self, lock: str, token: str) -> None:
        """Keep our lease alive while the source runs, so no waiter takes over a live run."""
        lease_ms = max(1, int(self.lease * 1000))
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                kept = await self._call("lock", lambda: self._renew_script(keys=[lock], args=[token, lease_ms]))
            except Unavailable:
                continue  # Redis away: waiters compute on their own meanwhile
            if not kept:
                log.warning("lease %s was lost while its source ran (expired or taken over)", lock)
                return

    async def _share(self, key: str, lock: str, token: str, entry: Entry, life: Lifetime | None) -> None:
        try:
            if life is not None:
                await self.write(key, entry, life)
        finally:
            await self._unlock(lock, token)

    async def _unlock(self, lock: str, token: str) -> None:
        with contextlib.suppress(Unavailable):
            await self._call("unlock", lambda: self._release(keys=[lock], args=[token]))

    async def _alone(self, key: str, compute: Compute) -> Entry:
        """Redis is unavailable: compute here (in-process single-flight still applies)."""
        entry, life = await compute()
        if life is not None:
            self.put(key, entry, life)
        return entry

    # -- figures and shutdown ---------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        state: State = self.breaker.state
        return {"breaker": state, "breaker_opens": self.breaker.opens, "consecutive_failures": self.breaker.failures,
                "write_queue": self._queue.qsize(), "write_queue_max": self._queue.maxsize,
                "subscribed": self.subscribed.is_set(), "origin": self.origin}

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until queued writes and lease releases are done (tests, shutdown)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def close(self) -> None:
        await self.flush(timeout=1.0)
        for task in (self._listener, self._writer, *self._tasks):
            if task is not None:
                task.cancel()
        for task in (self._listener, self._writer, *self._tasks):
            if task is not None:
                with contextlib.suppress(BaseException):
                    await task
        self._listener = self._writer = None
        with contextlib.suppress(Exception):
            await self.client.aclose()
