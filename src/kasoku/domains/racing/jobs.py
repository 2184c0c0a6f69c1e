"""Batch download jobs: several stored dataspecs over a date range, fetched in the background.

``POST /api/v1/batch/download`` validates everything up front (a bad dataspec or date is a
400 before any job exists), then runs the fetches one dataspec after another — JV-Link has one
session, so parallel fetches would only queue — through the engine, so each fetch is the same
cached, coalesced entry an ordinary ``/api/v1/data/{spec}`` read uses. Results are read back
as pages of those entries (``/api/v1/batch/result/{job}/{spec}``) in any wire format; if an
entry has expired by then it is fetched again (coalesced), never lost.

Jobs live in memory (the newest ``max_jobs``); a restart forgets them, which is acceptable
for a cache in front of an upstream that still holds the data.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from kasoku.domains.racing import catalogue
from kasoku.domains.racing.source import fetch_query
from kasoku.errors import InvalidParameter, KasokuError, NotFound

if TYPE_CHECKING:
    from kasoku.engine.engine import Engine

log = logging.getLogger(__name__)

Status = Literal["pending", "running", "done", "failed"]


@dataclass
class Job:
    id: str
    fetches: dict[str, dict[str, Any]]  # dataspec -> fetch params (fromtime, option)
    created_at: float
    owner: str = ""
    status: Status = "pending"
    finished_at: float | None = None
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"job_id": self.id, "status": self.status, "created_at": self.created_at,
                "finished_at": self.finished_at, "dataspecs": list(self.fetches),
                "parts": self.parts,
                "results": {spec: f"/api/v1/batch/result/{self.id}/{spec}" for spec in self.fetches}}


def job_fromtime(spec: catalogue.DataSpec, from_date: str, to_date: str | None) -> str:
    """``from_date`` (YYYYMMDD) to ``to_date`` as JV-Link's fromtime; a range only where allowed."""
    start = from_date + "000000"
    if to_date and spec.allows_range:
        return f"{start}-{to_date}235959"
    return start


class JobRunner:
    def __init__(self, engine: "Engine", *, max_jobs: int = 100, per_owner: int = 4,
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.max_jobs = max_jobs
        self.per_owner = per_owner
        self.clock = clock
        self._jobs: OrderedDict[str, Job] = OrderedDict()

    def submit(self, dataspecs: list[str], from_date: str, to_date: str | None, option: int, *,
               owner: str = "") -> Job:
        """Start a job for ``owner`` (an API key, or a client address): at most ``per_owner`` of
        theirs pending or running (429), and never more than ``max_jobs`` unfinished in all (503);
        finished jobs are forgotten oldest first, unfinished ones never."""
        active = [j for j in self._jobs.values() if j.status in ("pending", "running")]
        if sum(1 for j in active if j.owner == owner) >= self.per_owner:
            raise KasokuError(f"at most {self.per_owner} batch jobs pending or running per key; wait for one to finish",
                              status=429, code="RATE_LIMITED", details={"limit": self.per_owner},
                              headers={"Retry-After": "5"})
        if len(active) >= self.max_jobs:
            raise KasokuError("the server runs as many batch jobs as it keeps; retry shortly", status=503,
                              code="SERVER_BUSY", details={"limit": self.max_jobs}, headers={"Retry-After": "5"})
        if not dataspecs:
            raise InvalidParameter("give at least one dataspec", details={"jvlink_code": -111})
        fetches: dict[str, dict[str, Any]] = {}
        for name in dict.fromkeys(dataspecs):
            spec = catalogue.get_dataspec(name)
            if spec.kind != "stored":
                raise InvalidParameter(f"{name} is realtime (it needs a race key); batch jobs fetch stored dataspecs",
                                       details={"jvlink_code": -111, "dataspec": name})
            fromtime = job_fromtime(spec, from_date, to_date)
            catalogue.validate_fromtime(spec, fromtime)
            catalogue.validate_option(spec, option)
            fetches[name] = {"fromtime": fromtime, "option": option}
        job = Job(secrets.token_hex(8), fetches, self.clock(), owner=owner)
        self._jobs[job.id] = job
        if len(self._jobs) > self.max_jobs:
            for old in [j.id for j in self._jobs.values() if j.status in ("done", "failed")]:
                if len(self._jobs) <= self.max_jobs:
                    break
                del self._jobs[old]
        self.engine.spawn(self._run(job))
        return job

    async def _run(self, job: Job) -> None:
        job.status = "running"
        for spec, params in job.fetches.items():
            job.parts[spec] = {"status": "running"}
            try:
                served = await self.engine.get(fetch_query(spec, **params))
            except KasokuError as exc:
                job.parts[spec] = {"status": "failed", "error": exc.to_dict()}
            except Exception as exc:  # keep the job's record honest even on a bug
                log.exception("batch job %s: %s failed", job.id, spec)
                job.parts[spec] = {"status": "failed", "error": {"code": "INTERNAL_ERROR", "message": repr(exc)}}
            else:
                job.parts[spec] = {"status": "done", "records": served.entry.rows, **job.fetches[spec]}
        job.status = "done" if all(p["status"] == "done" for p in job.parts.values()) else "failed"
        job.finished_at = self.clock()

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"no batch job {job_id!r} (jobs are kept in memory, the newest {self.max_jobs})",
                           details={"job_id": job_id})
        return job

    def stats(self) -> dict[str, int]:
        counts: dict[str, int] = {"pending": 0, "running": 0, "done": 0, "failed": 0}
        for job in self._jobs.values():
            counts[job.status] += 1
        return counts
