"""Settings, made once, typed and documented, passed down (never read from os.environ elsewhere).

Sources, highest first: keyword arguments, environment ``KASOKU_*`` (nested with ``__``,
e.g. ``KASOKU_S3__ENDPOINT``), an optional ``kasoku.toml`` (path from ``KASOKU_CONFIG``, else
``./kasoku.toml``), then the defaults below. Unknown keys are rejected, not silently dropped.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, create_model, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from kasoku.errors import ConfigError
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


class LimitSettings(BaseModel):
    """What one request, one key and one server may take (docs/security.md)."""

    model_config = ConfigDict(extra="forbid")
    max_body_bytes: int = Field(1024 * 1024, ge=1, description="largest request body (413 past it)")
    max_header_bytes: int = Field(16 * 1024, ge=1024, description="largest total of request header bytes (431 past it)")
    max_query_bytes: int = Field(4096, ge=64, description="longest query string (414 past it)")
    max_query_params: int = Field(64, ge=1, description="most query parameters in one request (400 past it)")
    keep_alive_timeout: float = Field(5.0, gt=0, description="seconds an idle keep-alive connection stays open")
    header_timeout: float = Field(10.0, gt=0, description="seconds a connection has to send a complete request head, "
                                  "from its start or its previous response's end; past it the connection is closed (408 "
                                  "if part of a head came)")
    body_timeout: float = Field(60.0, gt=0, description="seconds a request body has to arrive once its head is complete; "
                                "past it the connection gets a 408 and is closed (a trickled or missing body)")
    max_connections: int = Field(1000, ge=1, description="connections and in-flight requests at once; past it new ones get 503")
    rate: str = Field("100/second", description="requests per API key, a `limits` string like '100/second' or "
                      "'50/second;2000/minute'; '' = unlimited; past it 429 + Retry-After")
    rate_anonymous: str = Field("", description="requests per client address when no key is given (servers without keys); '' = unlimited")
    streams_per_key: int = Field(2, ge=1, description="streams one key (or address) may run at once (429 past it)")
    streams_total: int = Field(8, ge=1, description="streams the server runs at once (503 past it)")
    stream_workers: int = Field(2, ge=1, description="DuckDB threads of their own for streams, so queries always have workers")
    jobs_per_key: int = Field(4, ge=1, description="racing batch-download jobs one key may have pending or running (429 past it)")
    memo_bytes: int = Field(8 * 1024 * 1024, ge=0, description="bytes the cache-hit fast path's memo of request lines may hold")
    error_excerpt: int = Field(80, ge=8, description="characters of a bad input echoed back in an error body")


class CoreSettings(BaseSettings):
    """The settings every server has; each domain adds its own sections (``Settings`` below)."""

    # populate_by_name: `lake_catalog` (its name) works besides its env alias KASOKU_CATALOG.
    model_config = SettingsConfigDict(env_prefix="KASOKU_", env_nested_delimiter="__", extra="forbid",
                                      populate_by_name=True)

    lake: str = Field("./.kasoku/lake", description="lake location: a directory or s3://bucket/prefix")
    lake_catalog: str | None = Field(
        None, repr=False,  # may hold a password
        # env KASOKU_CATALOG (the name) or KASOKU_LAKE_CATALOG; full names: no bare CATALOG
        validation_alias=AliasChoices("KASOKU_CATALOG"),
        description="DuckLake catalog (env KASOKU_CATALOG or KASOKU_LAKE_CATALOG): a SQLite file path (or sqlite:PATH), "
                    "or PostgreSQL for several machines: postgres://user:password@host:5432/dbname (postgresql:// too) "
                    "or libpq form postgres:dbname=… host=… user=…; None = DIR/catalog.sqlite for a local lake, "
                    "a file under the state directory for an s3:// lake")
    lake_retention_hours: float = Field(24.0, description="lake vacuum expires snapshots older than this and deletes the files only they used")
    s3: S3Settings = Field(default_factory=S3Settings, description="S3 endpoint and credentials for s3:// lakes")
    state: Path = Field(default_factory=default_state_dir, description="directory for secrets and bookkeeping (tokens, API keys), files 0600; default $XDG_STATE_HOME/kasoku")
    collect: bool = Field(False, description="run the Spotify collector's scheduler (poll, maintenance, watched folder) inside the server")
    import_dir: Path | None = Field(None, description="watched folder: export .zip/.json files dropped here are imported once (done/, failed/)")
    import_settle: float = Field(5.0, ge=0, description="seconds a dropped file's size and mtime must stay unchanged before it is imported")
    user_id: str = Field("me", description="default user of per-user answers")

    host: str = Field("127.0.0.1", description="address the server binds")
    port: int = Field(8000, description="port the server binds")
    admin_token: str | None = Field(None, description="bearer token for /admin (admin API keys work too); admin endpoints are disabled when neither exists")
    allow_anonymous: bool = Field(False, description="serve on a non-loopback address although no API key exists (anyone reaching the port reads everything)")
    allowed_hosts: list[str] | None = Field(None, description="Host header values served (DNS-rebinding guard; '*' = any); None = localhost, 127.0.0.1, ::1 and the bound host")
    allowed_origins: list[str] = Field(default_factory=list, description="browser origins (scheme://host[:port]) besides the server's own that may call /mcp and open WebSockets")
    cors_origins: list[str] = Field(default_factory=list, description="origins given CORS access to the API; empty = CORS off")
    session_ttl: float = Field(12 * 3600.0, gt=0, description="seconds a dashboard sign-in cookie stays valid")
    limits: LimitSettings = Field(default_factory=LimitSettings, description="request size, rate and concurrency limits (see below)")

    query_timeout: float = Field(30.0, description="seconds before a lake query is interrupted (504)")
    duckdb_workers: int = Field(4, description="threads running DuckDB queries (one cursor each)")
    duckdb_threads: int | None = Field(None, description="DuckDB's own thread count (None = DuckDB default)")
    duckdb_nice: int = Field(10, ge=0, le=19, description="how many nice steps below the event loop DuckDB's threads run "
                             "(Linux), so a saturated CPU still answers requests promptly; 0 = same priority")
    duckdb_memory_limit: str | None = Field(None, description="DuckDB memory limit, e.g. '2GB'")
    health_interval: float = Field(30.0, description="seconds between background health checks of the DuckDB pool")

    cache_l1_bytes: int = Field(64 * 1024 * 1024, description="memory tier bound in bytes (bodies + encodings)")
    version_poll_interval: float = Field(2.0, gt=0, description="seconds between two reads of a dataset's data version (lake snapshot) by each worker: a change is served everywhere within this")
    redis_url: str | None = Field(None, description="Redis URL for the shared tier; None = memory only")
    redis_cluster: bool = Field(False, description="the Redis URL names any node of a Redis/Valkey Cluster (keys hash-tagged so every multi-key operation stays in one slot)")
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

    @field_validator("lake_catalog")
    @classmethod
    def _catalog(cls, value: str | None) -> str | None:
        # A ConfigError (not a ValueError) passes through pydantic unwrapped: its message names the
        # setting and never echoes the value (pydantic's would print the password).
        from kasoku.lake.catalog import parse_catalog

        if value is not None:
            parse_catalog(value)
        return value

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
            try:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{toml_path.resolve()}: not valid TOML: {exc}",
                                  details={"file": str(toml_path.resolve())}) from None
        return tuple(sources)

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with CLI options applied (None means 'not given')."""
        given = {k: v for k, v in changes.items() if v is not None}
        return self.model_copy(update=given)


    if TYPE_CHECKING:
        # A domain's section (``settings.<section>``) is a field of the
        # composed model, unknown to a type checker reading this class.
        def __getattr__(self, name: str) -> Any: ...


def _with_domain_sections() -> type[CoreSettings]:
    from kasoku.domains import settings_sections

    fields: dict[str, Any] = {
        name: (model, Field(default_factory=model, description=(model.__doc__ or name).strip().splitlines()[0]))
        for name, model in settings_sections().items()}
    return create_model("Settings", __base__=CoreSettings, __module__=__name__, **fields)


if TYPE_CHECKING:
    Settings = CoreSettings
else:
    Settings = _with_domain_sections()


def config_file() -> Path | None:
    """The kasoku.toml in use, if any (error messages name it)."""
    path = Path(os.environ.get("KASOKU_CONFIG", "kasoku.toml"))
    return path.resolve() if path.is_file() else None


def documented_settings() -> dict[str, str]:
    """Name -> help text of every setting (a test fails when one is undocumented)."""
    return {name: (field.description or "") for name, field in Settings.model_fields.items()}
