"""kasoku.client reads a racing lake table into pyarrow / pandas in one call, against a real uvicorn
server built by the service's composition root (build_app) on a lake the racing import filled."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest

from kasoku.client import AsyncKasokuClient, KasokuClient, KasokuHTTPError
from kasoku.config import Settings
from kasoku.domains.racing.demo import DemoData, delivery_order, generate
from kasoku.domains.racing.lake_import import import_records
from kasoku.lake.ducklake import Lake
from kasoku.service import build_app
from tests.e2e.client.conftest import ServerThread


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return generate()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo: DemoData) -> Iterator[ServerThread]:
    lake_dir = tmp_path_factory.mktemp("racing-client") / "lake"
    import_records(Lake(str(lake_dir)), delivery_order(demo))
    with ServerThread(build_app(Settings(lake=str(lake_dir)))) as running:
        yield running


def test_table_in_one_call_follows_every_page(server: ServerThread, demo: DemoData) -> None:
    with KasokuClient(server.url) as kasoku:
        whole = kasoku.table("se", start="2024-06-01", end="2024-06-08")
        paged = kasoku.table("se", start="2024-06-01", end="2024-06-08", page_size=100)
        some = kasoku.table("se", columns=["race_id", "horse_name", "finish_order"], racecourse="05")
        capped = kasoku.table("odds", race_id=demo.race_ids[0], limit=10)
    expected = sum(1 for rec in demo.files["RACE"] if rec[:2] == b"SE")
    assert isinstance(whole, pa.Table) and whole.num_rows == expected
    assert paged.equals(whole)  # many pages joined give the same table
    assert whole.schema.field("race_date").type == pa.date32()
    assert some.column_names == ["race_id", "horse_name", "finish_order"]
    assert set(some.column("race_id").to_pylist()) and all(r[8:10] == "05" for r in some.column("race_id").to_pylist())
    assert capped.num_rows == 10


def test_pandas_and_errors(server: ServerThread, demo: DemoData) -> None:
    with KasokuClient(server.url) as kasoku:
        frame = kasoku.table_pandas("entries", race_id=demo.race_ids[0])
        assert list(frame["race_id"].unique()) == [demo.race_ids[0]]
        assert {t["name"] for t in kasoku.tables()} >= {"se", "ra", "odds", "races"}
        card = kasoku.race_card(demo.race_ids[0])
        assert card["race"]["race_id"] == demo.race_ids[0] and card["entries"]
        with pytest.raises(KasokuHTTPError) as err:
            kasoku.table("um", jockey="01001")
        assert err.value.status == 400 and "jockey" in err.value.message


async def test_async_table(server: ServerThread, demo: DemoData) -> None:
    async with AsyncKasokuClient(server.url) as kasoku:
        races = await kasoku.table("races", columns=["race_id"])
        paged = await kasoku.table("races", columns=["race_id"], page_size=2)  # many pages, joined
        capped = await kasoku.table("races", columns=["race_id"], page_size=2, limit=3)
    assert sorted(races.column("race_id").to_pylist()) == sorted(demo.race_ids)
    assert paged.equals(races) and capped.num_rows == 3
