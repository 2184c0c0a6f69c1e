"""Racing routes on a server without racing data: a 404 that says what to configure.

Without it ``/api/v1/data/RACE`` is a bare "Not Found", which reads like a typo in the path.
"""

from __future__ import annotations

from fastapi import APIRouter

from kasoku.errors import NotFound

MESSAGE = ("racing is not configured on this server: give it a JV-Data archive (kasoku serve --racing-archive DIR, "
           "env KASOKU_RACING_ARCHIVE; kasoku racing import builds one) or racing_client='com' on Windows")

router = APIRouter(include_in_schema=False)


@router.api_route("/api/v1/{rest:path}", methods=["GET", "POST"])
async def not_configured(rest: str) -> None:
    raise NotFound(MESSAGE, details={"setting": "racing_archive"})
