"""Names of everything kasoku keeps in Redis, in one place (arq's ``constants.py`` habit).

A key is ``<prefix><generation>:<query key>``: bumping the generation counter invalidates
everything at once without KEYS/SCAN (old keys are never read again and die by their TTL).
"""

from __future__ import annotations

NAMESPACE = "kasoku:"
GENERATION_KEY = NAMESPACE + "gen"  # INCR on "invalidate everything"
ENTRY_PREFIX = NAMESPACE + "e:"  # + <gen>:<query key> -> codec bytes, PX = the entry's hard TTL
TAG_PREFIX = NAMESPACE + "t:"  # + <gen>:<tag> -> SET of query keys carrying the tag
LOCK_PREFIX = NAMESPACE + "lock:"  # + <query key> -> holder token, PX = lease (cross-worker single-flight)
INVALIDATION_CHANNEL = NAMESPACE + "invalidate"  # pub/sub: {"origin", "tags", "everything"}
LEADER_PREFIX = NAMESPACE + "leader:"  # + <job group> -> holder token, PX = lease (one scheduler runs the jobs)
