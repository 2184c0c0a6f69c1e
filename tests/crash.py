"""Child processes for crash and concurrency tests: run an ingest or a compaction against a lake,
optionally dying with ``os._exit`` (no cleanup, like kill -9) at a chosen SQL statement.

``python -m tests.crash '<json>'`` with keys ``job`` (ingest | compact), ``lake`` (url, s3, catalog),
``paths`` (ingest), ``kill`` ("before:<sql prefix>", "after:<sql prefix>" or
"during:<sql prefix>:<seconds>"), ``go`` (a file to wait for, so that two children start together)
and ``out`` (where to write the summary as JSON).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from kasoku.lake.ducklake import Lake, S3Options

KILLED = 17


def lake_args(lake: Lake) -> dict[str, Any]:
    return {"url": lake.url, "s3": asdict(lake.s3) if lake.s3 else None, "catalog": lake.catalog}


class _Dying:
    """A connection that dies at one statement; everything else passes through."""

    def __init__(self, con: Any, kill: str) -> None:
        self._con = con
        when, _, rest = kill.partition(":")
        self._when = when
        self._prefix, self._delay = (rest.rsplit(":", 1)[0], float(rest.rsplit(":", 1)[1])) if when == "during" else (rest, 0.0)

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        hit = sql.lstrip().startswith(self._prefix)
        if hit and self._when == "before":
            os._exit(KILLED)
        if hit and self._when == "during":
            threading.Timer(self._delay, lambda: os._exit(KILLED)).start()
        result = self._con.execute(sql, *args, **kwargs)
        if hit and self._when == "after":
            os._exit(KILLED)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def main(raw: str) -> None:
    args = json.loads(raw)
    if args.get("kill"):
        real = Lake.connect

        def connect(self: Lake, **kw: Any) -> Any:
            con = real(self, **kw)
            return con if kw.get("read_only") else _Dying(con, args["kill"])

        Lake.connect = connect  # type: ignore[method-assign]
    spec = args["lake"]
    lake = Lake(spec["url"], S3Options(**spec["s3"]) if spec["s3"] else None, catalog=spec["catalog"])
    if args.get("go"):
        while not os.path.exists(args["go"]):
            time.sleep(0.005)
    if args["job"] == "ingest":
        from kasoku.domains.listening.ingest import ingest

        summary = ingest(lake, [Path(p) for p in args["paths"]], user_id="me")
        out = {"new_plays": summary.new_plays, "attempts": summary.attempts, "snapshot": summary.snapshot}
    else:
        from kasoku.lake.maintenance import compact

        done = compact(lake)
        out = {"files_before": done.files_before, "files_after": done.files_after}
    if args.get("out"):
        Path(args["out"]).write_text(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
