"""Settings, made once, typed and documented, passed down (never read from os.environ elsewhere).

Sources, highest first: keyword arguments, environment ``KASOKU_*`` (nested with ``__``,
e.g. ``KASOKU_S3__ENDPOINT``), an optional ``kasoku.toml`` (path from ``KASOKU_CONFIG``, else
``./kasoku.toml``), then the defaults below. Unknown keys are rejected, not silently dropped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from kasoku.state import default_state_dir


class S3Settings(BaseModel):
    """Object storage for an ``s3://`` lake (AWS S3, Cloudflare R2, MinIO, moto)."""

    model_config = ConfigDict(extra="forbid")
    endpoint: str | None = Field(None, description="host:port or URL of an S3-compatible endpoint; None = AWS")
    access_key_id: str | None = Field(None, description="access key id")
    secret_access_key: str | None = Field(None, description="secret access key")
    session_token: str | None = Field(None, description="session token, if any")
    region: str = Field("us-east-1", description="region (R2: 'auto')")
    url_style: Literal["path", "vhost"] = Field("path", description="path-style (MinIO, moto) or virtual-host style")
    use_ssl: bool = Field(True, description="https to the endpoint")


class DatasetPolicySettings(BaseModel):
    """Overrides of one dataset's cache policy; unset fields keep the domain's default."""

    model_config = ConfigDict(extra="forbid")
    ttl_l1: float | None = Field(None, description="seconds an entry lives in memory")
    ttl_l2: float | None = Field(None, description="seconds an entry lives in Redis")
    stale_ttl: float | None = Field(None, description="seconds past the TTL a stale entry may still be served while refreshed")
    max_entry_bytes: int | None = Field(None, description="entries larger than this are not cached")
    adaptive: bool | None = Field(None, description="let the TTL grow for hot, unchanging entries")
    adaptive_max_factor: float | None = Field(None, description="adaptive TTL never exceeds this multiple of the base TTLs")
    adaptive_min_reads: int | None = Field(None, description="reads between refreshes before an unchanged entry's TTL doubles")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KASOKU_", env_nested_delimiter="__", extra="forbid")

    lake: str = Field("./.kasoku/lake", description="lake location: a directory or s3://bucket/prefix")
    lake_catalog: str | None = Field(None, description="DuckLake catalog: a SQLite file path (or sqlite:PATH); None = DIR/catalog.sqlite for a local lake, a file under the state directory for an s3:// lake")
    lake_retention_hours: float = Field(24.0, description="lake vacuum expires snapshots older than this and deletes the files only they used")
    s3: S3Settings = Field(default_factory=S3Settings, description="S3 endpoint and credentials for s3:// lakes")
    state: Path = Field(default_factory=default_state_dir, description="directory for secrets and bookkeeping (tokens, API keys), files 0600; default $XDG_STATE_HOME/kasoku")
    user_id: str = Field("me", description="default user of the listening domain")
    racing_archive: str | None = Field(None, description="directory of a JV-Data archive served by the racing domain")
    racing_client: Literal["files", "com"] = Field("files", description="racing upstream: JV-Data files, or JV-Link COM (Windows)")
    racing_sid: str = Field("kasoku", description="JV-Link software id given to JVInit")
    racing_max_fetch_bytes: int = Field(256 * 1024 * 1024, description="largest racing fetch (bytes of records) held in memory; past it 413 asks for a narrower range")
    racing_upstream_delay_ms: tuple[float, float] | None = Field(None, description="artificial upstream delay range (ms) for the files client, to mimic COM")

    host: str = Field("127.0.0.1", description="address the server binds")
    port: int = Field(8000, description="port the server binds")
    admin_token: str | None = Field(None, description="bearer token for /admin; admin endpoints are disabled when unset")

    query_timeout: float = Field(30.0, description="seconds before a lake query is interrupted (504)")
    duckdb_workers: int = Field(4, description="threads running DuckDB queries (one cursor each)")
    duckdb_threads: int | None = Field(None, description="DuckDB's own thread count (None = DuckDB default)")
    duckdb_memory_limit: str | None = Field(None, description="DuckDB memory limit, e.g. '2GB'")
    health_interval: float = Field(30.0, description="seconds between background health checks of the DuckDB pool")

    cache_l1_bytes: int = Field(64 * 1024 * 1024, description="memory tier bound in bytes (bodies + encodings)")
    version_poll_interval: float = Field(2.0, gt=0, description="seconds between two reads of a dataset's data version (lake snapshot) by each worker: a change is served everywhere within this")
    redis_url: str | None = Field(None, description="Redis URL for the shared tier; None = memory only")
    redis_timeout: float = Field(0.25, description="seconds before a Redis call counts as failed")
    breaker_failures: int = Field(3, description="consecutive Redis failures that open the circuit breaker")
    breaker_reset: float = Field(5.0, description="seconds before an open breaker lets one probe through")
    lock_lease: float = Field(30.0, description="seconds a cross-worker single-flight lease lives")
    redis_write_queue: int = Field(1024, description="background Redis writes waiting at most; more are dropped (counted)")
    policies: dict[str, DatasetPolicySettings] = Field(default_factory=dict, description="per-dataset cache policy overrides")

    compress_min_bytes: int = Field(1024, description="bodies smaller than this are sent uncompressed")
    batch_max_items: int = Field(50, description="most queries in one batch request")
    batch_concurrency: int = Field(8, description="misses a batch runs at once")
    rollups: bool = Field(True, description="answer from roll-ups when they give the identical answer")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("KASOKU_CONFIG", "kasoku.toml"))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    def with_overrides(self, **changes: Any) -> "Settings":
        """A copy with CLI options applied (None means 'not given')."""
        given = {k: v for k, v in changes.items() if v is not None}
        return self.model_copy(update=given)


def documented_settings() -> dict[str, str]:
    """Name -> help text of every setting (a test fails when one is undocumented)."""
    return {name: (field.description or "") for name, field in Settings.model_fields.items()}
