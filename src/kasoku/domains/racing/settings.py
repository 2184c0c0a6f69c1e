"""The racing domain's settings section, ``racing`` (env ``KASOKU_RACING__*``); ``kasoku.config``
finds it through ``SECTIONS`` (docs/settings.md is generated from it)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RacingSettings(BaseModel):
    """Racing: the JV-Link replay's upstream (docs/racing.md)"""

    model_config = ConfigDict(extra="forbid")
    client: Literal["lake", "com"] = Field("lake", description="racing upstream of the JV-Link replay: the lake's raw records (kasoku racing import), or JV-Link over COM (Windows; what it fetches is imported into the lake too)")
    sid: str = Field("kasoku", description="JV-Link software id given to JVInit")
    max_fetch_bytes: int = Field(256 * 1024 * 1024, description="largest racing fetch (bytes of records) held in memory; past it 413 asks for a narrower range")
    upstream_delay_ms: tuple[float, float] | None = Field(None, description="artificial upstream delay range (ms) for the lake client, to mimic COM")


SECTIONS: dict[str, type[BaseModel]] = {"racing": RacingSettings}
