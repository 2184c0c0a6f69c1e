"""The racing day, read from the racing routes: meetings (YS from the schedule), the races of
the day with their entries (0B12 = final race info with results; before that 0B15, the entry
list), and a race card with win odds (0B31) when the entries carry none yet."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from kasoku.web.reader import ApiReader, url

RACECOURSES = {"01": "Sapporo 札幌", "02": "Hakodate 函館", "03": "Fukushima 福島", "04": "Niigata 新潟",
               "05": "Tokyo 東京", "06": "Nakayama 中山", "07": "Chukyo 中京", "08": "Kyoto 京都",
               "09": "Hanshin 阪神", "10": "Kokura 小倉"}
PAGE = 5000  # records of one race day: 24 races x (RA + 18 SE + HR) fits


def _day(d: date) -> str:
    return d.strftime("%Y%m%d")


def _date_of(ys: dict[str, Any]) -> date:
    return date(int(ys["meet_year"]), int(ys["meet_date"][:2]), int(ys["meet_date"][2:]))


class RacingViews:
    def __init__(self, api: ApiReader) -> None:
        self.api = api

    def available(self) -> bool:
        return self.api.has("/api/v1/schedule")

    async def race_days(self, around: date) -> list[date]:
        """Race days of the year around ``around``; the whole schedule if that year has none."""
        got = await self.api.get("/api/v1/schedule", {"from_date": _day(around - timedelta(days=365)),
                                                      "to_date": _day(around + timedelta(days=31))})
        records = got.get("records") or []
        if not records:
            records = (await self.api.get("/api/v1/schedule", {})).get("records") or []
        return sorted({_date_of(r["data"]) for r in records if r.get("record_type") == "YS"})

    async def day(self, when: date | None, race_id: str | None, today: date) -> dict[str, Any]:
        days = await self.race_days(when or today)
        if when is None:
            past = [d for d in days if d <= today]
            when = past[-1] if past else (days[0] if days else today)
        key = _day(when)
        schedule, final, early = await asyncio.gather(
            self.api.get("/api/v1/schedule", {"from_date": key, "to_date": key}),
            self.api.get("/api/v1/data/0B12", {"key": key, "limit": PAGE}),
            self.api.get("/api/v1/data/0B15", {"key": key, "limit": PAGE}))
        source = final if final.get("records") else early
        spec = source.get("data_spec", "0B12")
        races, entries, payouts = _races(source.get("records") or [])
        meetings = [{"racecourse": RACECOURSES.get(r["data"]["racecourse_code"], r["data"]["racecourse_code"]),
                     "code": r["data"]["racecourse_code"], "round": r["data"]["meet_round"], "day": r["data"]["meet_day"],
                     "races": [x for x in races if x["racecourse_code"] == r["data"]["racecourse_code"]]}
                    for r in schedule.get("records") or [] if r.get("record_type") == "YS"]
        chosen = race_id if race_id in {r["race_id"] for r in races} else (races[0]["race_id"] if races else None)
        card: dict[str, Any] | None = None
        if chosen is not None:
            card = await self.card(chosen, spec, next(r for r in races if r["race_id"] == chosen), entries[chosen],
                                   payouts.get(chosen))
        return {"date": when, "days": days, "meetings": meetings, "card": card, "spec": spec,
                "day_links": _links(f"/api/v1/data/{spec}", {"key": key, "limit": PAGE})}

    async def card(self, race_id: str, spec: str, race: dict[str, Any], entries: list[dict[str, Any]],
                   payout: dict[str, Any] | None) -> dict[str, Any]:
        odds_by_horse: dict[int, dict[str, Any]] = {}
        if not any(e.get("win_odds") for e in entries):
            got = await self.api.get(f"/api/v1/realtime/odds/{race_id}", {"type": "win"})
            o1 = [r["data"] for r in got.get("records") or [] if r.get("record_type") == "O1"]
            if o1:  # the newest O1 of the race comes last
                odds_by_horse = {o["horse_number"]: o for o in o1[-1].get("win_odds") or []}
        rows = []
        for e in sorted(entries, key=lambda e: e["horse_number"]):
            o = odds_by_horse.get(e["horse_number"], {})
            rows.append({"number": e["horse_number"], "bracket": e.get("bracket_number"), "horse": e.get("horse_name"),
                         "horse_id": e.get("pedigree_reg_num"), "jockey": e.get("jockey_short_name"),
                         "jockey_id": e.get("jockey_code"), "carrying": e.get("carrying_weight") or None,
                         "body": e.get("horse_weight") or None,
                         "odds": e.get("win_odds") or o.get("odds"),
                         "popularity": e.get("win_popularity_rank") or o.get("popularity_rank") or None,
                         "finish": e.get("finish_order") or None})
        final = any(r["finish"] for r in rows)
        if final:
            rows.sort(key=lambda r: (r["finish"] or 99, r["number"]))
        return {"race": race, "race_id": race_id, "entries": rows, "final": final, "payout": payout,
                "links": {"entries": _links(f"/api/v1/data/{spec}", {"key": race_id}),
                          "odds": _links(f"/api/v1/realtime/odds/{race_id}", {"type": "win"})}}


def _links(route: str, params: dict[str, Any]) -> dict[str, str]:
    return {fmt: url(route, {**params, "format": fmt}) for fmt in ("json", "arrow", "csv")}


def _races(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]],
                                                    dict[str, dict[str, Any]]]:
    """RA → races (latest record per race wins), SE → entries per race, HR → payouts per race."""
    races: dict[str, dict[str, Any]] = {}
    entries: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    payouts: dict[str, dict[str, Any]] = {}
    for record in records:
        data, kind = record.get("data") or {}, record.get("record_type")
        race_id = data.get("race_id")
        if not race_id:
            continue
        if kind == "RA":
            races[race_id] = data
        elif kind == "SE":
            entries[race_id][data["horse_number"]] = data
        elif kind == "HR":
            payouts[race_id] = data
    ordered = sorted(races.values(), key=lambda r: (r["racecourse_code"], r["race_number"]))
    return ordered, {r["race_id"]: list(entries[r["race_id"]].values()) for r in ordered}, payouts
