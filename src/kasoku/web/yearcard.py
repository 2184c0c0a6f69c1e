"""A year in review as one shareable SVG image, rendered on the server (no browser needed,
no font fetched: system sans-serif). 1200 x 630, the size link previews use."""

from __future__ import annotations

from html import escape
from typing import Any

W, H = 1200, 630


def _summary(review: dict[str, Any]) -> dict[str, Any]:
    """The figures the card shows, from either shape the year page reads."""
    if review["source"] == "years":
        r = review["review"]
        totals = r.get("totals") or {}
        months = [{"label": m["period"][-2:], "plays": m["track_count"]} for m in review.get("months") or []]
        return {"plays": totals.get("plays", 0), "minutes": totals.get("minutes", 0.0),
                "artists": [a.get("artist", "") for a in (r.get("top_artists") or [])[:5]],
                "tracks": [f"{t.get('track_name', '')} — {t.get('artist', '')}" for t in (r.get("top_tracks") or [])[:5]],
                "months": months}
    view = review["view"]
    return {"plays": view.totals.plays, "minutes": view.totals.minutes,
            "artists": [a["artist"] for a in view.top_artists[:5]],
            "tracks": [f"{t['track_name']} — {t['artist']}" for t in view.top_tracks[:5]],
            "months": [{"label": m["period"][-2:], "plays": m["track_count"]} for m in review["months"]]}


def _clip(text: str, n: int = 38) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def year_card_svg(review: dict[str, Any]) -> str:
    s = _summary(review)
    year = review["year"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" '
           f'aria-label="{year} in review: {s["plays"]:,} plays">',
           "<style>text{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;fill:#f4f4f8}"
           ".dim{fill:#b9b9d0}.big{font-size:64px;font-weight:700}.h{font-size:22px;font-weight:600;fill:#ffcf5c}"
           ".li{font-size:21px}</style>",
           f'<rect width="{W}" height="{H}" fill="#1d1b33"/>',
           f'<text x="60" y="90" class="big">{year} in review</text>',
           f'<text x="60" y="150" style="font-size:34px">{s["plays"]:,} plays · {s["minutes"] / 60:,.0f} hours</text>',
           '<text x="60" y="220" class="h">Top artists</text>',
           '<text x="620" y="220" class="h">Top tracks</text>']
    for i, name in enumerate(s["artists"]):
        out.append(f'<text x="60" y="{260 + i * 34}" class="li">{i + 1}. {escape(_clip(name))}</text>')
    for i, name in enumerate(s["tracks"]):
        out.append(f'<text x="620" y="{260 + i * 34}" class="li">{i + 1}. {escape(_clip(name, 44))}</text>')
    months = s["months"]
    peak = max((m["plays"] for m in months), default=0) or 1
    bar_w = 1080 / 12
    for i, m in enumerate(months[:12]):
        h = 120 * m["plays"] / peak
        out.append(f'<rect x="{60 + i * bar_w:.1f}" y="{585 - h:.1f}" width="{bar_w - 8:.1f}" height="{h:.1f}" '
                   f'fill="#7c6cf2"><title>{escape(m["label"])}: {m["plays"]:,} plays</title></rect>')
        out.append(f'<text x="{60 + i * bar_w:.1f}" y="{608}" class="dim" style="font-size:14px">{escape(m["label"])}</text>')
    out.append(f'<text x="{W - 60}" y="{H - 14}" class="dim" style="font-size:14px" text-anchor="end">kasoku</text>')
    out.append("</svg>")
    return "".join(out)
