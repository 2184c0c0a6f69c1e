"""The listening domain's settings sections: ``listening`` (time zone and play rule, per user)
and ``spotify`` (the Web API collector). ``kasoku.config`` finds them through ``SECTIONS``; it
names no domain (docs/settings.md is generated from the same sections)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


def _known_zone(name: str | None) -> str | None:
    import zoneinfo

    if name is not None and name != "UTC" and name not in zoneinfo.available_timezones():
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as 'Asia/Tokyo')")
    return name


class ListeningUserSettings(BaseModel):
    """Per listener: own time zone and play rule; unset fields fall back to the listening section's"""

    model_config = ConfigDict(extra="forbid")
    tz: str | None = Field(None, description="IANA time zone of this user's days, weeks, months and hours")
    min_ms: int | None = Field(None, ge=0, le=86_400_000, description="this user's play rule: streams shorter (ms) are not counted")

    _zone = field_validator("tz")(_known_zone)


class ListeningSettings(BaseModel):
    """Listening time zone and play rule: defaults and per user (docs/listening.md)"""

    model_config = ConfigDict(extra="forbid")
    tz: str = Field("UTC", description="default IANA time zone of listening answers (tz= overrides per request)")
    min_ms: int = Field(0, ge=0, le=86_400_000, description="default play rule: streams shorter than this many ms are not counted (0 = every stream, as the original system; Spotify counts 30000)")
    users: dict[str, ListeningUserSettings] = Field(default_factory=dict, description="per-user tz and min_ms, keyed by user id")

    _zone = field_validator("tz")(_known_zone)

    def tz_for(self, user: str) -> str:
        found = self.users.get(user)
        return found.tz if found is not None and found.tz is not None else self.tz

    def min_ms_for(self, user: str) -> int:
        found = self.users.get(user)
        return found.min_ms if found is not None and found.min_ms is not None else self.min_ms



class SpotifySettings(BaseModel):
    """Spotify Web API collector (`kasoku spotify login`, `kasoku collect`, `serve --collect`)"""

    model_config = ConfigDict(extra="forbid")
    client_id: str | None = Field(None, description="Client ID of your Spotify app (PKCE: no client secret is needed or stored)")
    accounts_url: str = Field("https://accounts.spotify.com", description="Spotify accounts service (authorize, token)")
    api_url: str = Field("https://api.spotify.com", description="Spotify Web API base URL")
    scopes: str = Field("user-read-recently-played", description="scopes asked for at login (space-separated)")
    poll_interval: float = Field(180.0, gt=0, description="seconds between polls of recently-played (it keeps only the last 50 plays)")
    poll_cron: str | None = Field(None, description="cron expression for the poll instead of poll_interval (5 fields, UTC)")
    overlap: float = Field(600.0, ge=0, description="seconds before the cursor re-read by every poll (late plays); re-read plays are deduplicated")
    maintenance_cron: str = Field("30 3 * * *", description="cron (UTC) of the nightly lake maintenance (compaction / vacuum), run by every server (one leader at a time); empty = never")
    rollup_cron: str = Field("0 2,14 * * *", description="cron (UTC) of the roll-up maintenance (rebuild stale months), run by every server; empty = never")
    retry_after_cap: float = Field(300.0, ge=0, description="longest wait (s) honoured for a 429 Retry-After; longer asks end the poll (reported, nothing lost)")
    max_attempts: int = Field(4, ge=1, description="attempts of one request on 429 / 5xx / network errors before the poll fails")
    backoff: float = Field(1.0, ge=0, description="first back-off (s) after a 5xx or network error; doubles each attempt")
    timeout: float = Field(15.0, gt=0, description="seconds before one HTTP request to Spotify fails")
    artist_pace: float = Field(0.5, ge=0, description="seconds between two artist metadata requests")
    artists_per_poll: int = Field(20, ge=0, description="new artists whose metadata one poll fetches at most (the rest wait, queued)")
    lease_seconds: float = Field(60.0, gt=0, description="leader lease of the scheduler when it is held in Redis")


SECTIONS: dict[str, type[BaseModel]] = {"listening": ListeningSettings, "spotify": SpotifySettings}
