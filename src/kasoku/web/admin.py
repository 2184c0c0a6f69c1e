"""The engine at work, for the admin page: the figures of ``/admin/cache``, ``/admin/routes``
and ``/admin/advise`` (the same functions those routes call), the original design's adoption
flowchart drawn with the path the measured figures take through it, and the panels domains add
(``app.state.admin_panels``: the collector's last polls and gaps)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from fastapi import FastAPI

from kasoku.engine.advisor import advise
from kasoku.engine.engine import Engine
from kasoku.engine.metrics import route_latency


def figures(engine: Engine) -> dict[str, Any]:
    stats = engine.stats()
    tiers = []
    for name, tally in sorted(stats["tiers"].items()):
        tier, _, dataset = name.partition(":")
        total = sum(tally.values())
        hits = tally.get("hit", 0) + tally.get("stale", 0)
        tiers.append({"tier": tier, "dataset": dataset, "hit": tally.get("hit", 0), "stale": tally.get("stale", 0),
                      "miss": tally.get("miss", 0), "total": total, "ratio": hits / total if total else 0.0})
    l2 = stats["l2"] or {}
    return {"stats": stats, "tiers": tiers, "routes": route_latency(engine.metrics), "advice": advise(engine.metrics),
            "breaker": l2.get("breaker") if stats["l2"] is not None else None}


@dataclass(frozen=True)
class Node:
    id: str
    x: int
    y: int
    text: str
    question: str | None = None  # the advisor's question text, for decision nodes


# The flowchart of engine/advisor.py, laid out on a grid: decisions are diamonds-as-boxes.
NODES = [
    Node("slow", 20, 20, "source p95 ≥ 3 s?", "source p95 >= 3 s?"),
    Node("fine", 300, 20, "no optimisation needed"),
    Node("b1", 20, 100, "B1 partition pruning"),
    Node("still", 20, 180, "still ≥ 2 s?", "still >= 2 s?"),
    Node("done1", 300, 180, "done"),
    Node("b2", 20, 260, "B2 column pruning"),
    Node("repeated", 20, 340, "repeated queries ≥ 30 %?", "repeated queries >= 30 %?"),
    Node("b4", 300, 340, "B4 result cache"),
    Node("raw", 20, 420, "raw queries ≥ 5 s?", "raw queries >= 5 s?"),
    Node("done2", 300, 420, "done"),
    Node("c2", 20, 500, "C2 pre-aggregation"),
    Node("again", 20, 580, "still ≥ 5 s after roll-ups?", "still >= 5 s after roll-ups?"),
    Node("b3", 300, 580, "B3 connection reuse"),
]
# (from, to, label): the answer that takes this edge
EDGES = [("slow", "fine", "no"), ("slow", "b1", "yes"), ("b1", "still", ""), ("still", "done1", "no"),
         ("still", "b2", "yes"), ("b2", "repeated", ""), ("repeated", "b4", "yes"), ("repeated", "raw", "no"),
         ("raw", "done2", "no"), ("raw", "c2", "yes"), ("c2", "again", ""), ("again", "b3", "yes")]
W, H = 240, 44


def walked(path: list[dict[str, Any]]) -> tuple[set[str], set[tuple[str, str]], dict[str, str]]:
    """Nodes and edges the advisor's path took, and the measured figure at each decision."""
    by_question = {n.question: n.id for n in NODES if n.question}
    nodes: set[str] = set()
    edges: set[tuple[str, str]] = set()
    measured: dict[str, str] = {}
    for step in path:
        node = by_question.get(step["question"])
        if node is None:
            continue
        nodes.add(node)
        measured[node] = step["measured"]
        label = "yes" if step["answer"] else "no"
        for a, b, edge_label in EDGES:
            if a == node and edge_label == label:
                edges.add((a, b))
                nodes.add(b)
                for c, d, plain in EDGES:  # an action box leads on to the next question
                    if c == b and plain == "":
                        edges.add((c, d))
    return nodes, edges, measured


def flowchart_svg(path: list[dict[str, Any]]) -> str:
    """The flowchart as inline SVG; the walked path is drawn bold (class ``on``)."""
    from html import escape

    nodes, edges, measured = walked(path)
    at = {n.id: n for n in NODES}
    parts = ['<svg class="flow" viewBox="0 0 560 640" role="img" aria-labelledby="flow-title" '
             'xmlns="http://www.w3.org/2000/svg"><title id="flow-title">Adoption flowchart; the path this '
             'server\'s measurements take is bold</title>',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" '
             'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="currentColor"/></marker></defs>']
    for a, b, label in EDGES:
        s, t = at[a], at[b]
        if s.y == t.y:  # to the right
            x1, y1, x2, y2 = s.x + W, s.y + H // 2, t.x, t.y + H // 2
        else:
            x1, y1, x2, y2 = s.x + W // 2, s.y + H, t.x + W // 2, t.y
        cls = "edge on" if (a, b) in edges else "edge"
        parts.append(f'<line class="{cls}" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" marker-end="url(#arrow)"/>')
        if label:  # beside the arrow's tail: right edges above the line, down edges right of it
            lx, ly = (x1 + 6, y1 - 6) if s.y == t.y else (x1 + 6, y1 + 16)
            parts.append(f'<text class="edge-label" x="{lx}" y="{ly}">{label}</text>')
    for n in NODES:
        cls = ("node decision" if n.question else "node") + (" on" if n.id in nodes else "")
        parts.append(f'<g class="{cls}"><rect x="{n.x}" y="{n.y}" width="{W}" height="{H}" rx="{4 if n.question else 12}"/>'
                     f'<text x="{n.x + 10}" y="{n.y + 18}">{escape(n.text)}</text>')
        if n.id in measured:
            parts.append(f'<text class="measured" x="{n.x + 10}" y="{n.y + 36}">measured: {escape(measured[n.id])}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


# ------------------------------------------------------------------ domain panels
Panel = Callable[[], Awaitable[dict[str, Any]]]


def utc(epoch: float | None) -> str:
    return "—" if epoch is None else datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def span(seconds: float | None) -> str:
    """``3 h 20 min``, ``45 s``: a duration for people."""
    if seconds is None:
        return "—"
    s = int(round(seconds))
    if s < 120:
        return f"{s} s"
    minutes, hours_, days = s // 60 % 60, s // 3600 % 24, s // 86400
    parts = ([f"{days} d"] if days else []) + ([f"{hours_} h"] if hours_ or days else []) + [f"{minutes} min"]
    return " ".join(parts)


def _iso(text: str | None) -> str:
    return "—" if not text else text.replace("T", " ").replace("Z", " UTC")


def _gap(gap: dict[str, Any]) -> dict[str, Any]:
    start = datetime.fromisoformat(gap["start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(gap["end"].replace("Z", "+00:00"))
    return {"start": _iso(gap["start"]), "end": _iso(gap["end"]), "length": span((end - start).total_seconds()),
            "since": _iso(gap["detected_at"]), "closed_at": _iso(gap.get("closed_at")),
            "closed_by": gap.get("closed_by") or "", "filled": gap.get("filled")}


def collector_view(status: dict[str, Any], now: float | None = None) -> list[dict[str, Any]]:
    """The collector's status (``GET /v1/listening/collector/status``) as the admin page shows it."""
    now = time.time() if now is None else now
    users = []
    for u in status.get("users", []):
        users.append({"user": u["user_id"], "logged_in": u["logged_in"], "last_poll": utc(u["last_poll_at"]),
                      "last_success": utc(u["last_success_at"]),
                      "lag": span(now - u["last_success_at"]) if u["last_success_at"] is not None else "—",
                      "error": u["last_error"], "plays_written": u["counters"]["plays_written"],
                      "open": [_gap(g) for g in u["open_gaps"]], "open_length": span(u["open_gap_seconds"]),
                      "closed": [_gap(g) for g in reversed(u["closed_gaps"])]})
    return users


async def panels(app: FastAPI) -> dict[str, Any]:
    """Each registered domain panel's data; a failing panel says so instead of failing the page."""
    out: dict[str, Any] = {}
    for name, panel in sorted((getattr(app.state, "admin_panels", None) or {}).items()):
        try:
            out[name] = {"ok": True, "data": await panel()}
        except Exception as exc:  # the page still shows the engine's figures
            out[name] = {"ok": False, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"}
    return out
