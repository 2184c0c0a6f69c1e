"""Upstream clients for JV-Link data: the real COM component and the lake's raw records.

Both fit :class:`~kasoku.domains.racing.clients.base.UpstreamClient` and share
JV-Link's semantics (validation codes, -1 → empty), so the rest of the service
cannot tell them apart.
"""

from kasoku.domains.racing.clients.base import ArtificialDelay, JVLinkError, UpstreamClient
from kasoku.domains.racing.clients.com import ComClient
from kasoku.domains.racing.clients.lake import LakeClient
from kasoku.domains.racing.clients.scripted import ScriptedJVLink

__all__ = ["ArtificialDelay", "ComClient", "JVLinkError", "LakeClient", "ScriptedJVLink", "UpstreamClient"]
