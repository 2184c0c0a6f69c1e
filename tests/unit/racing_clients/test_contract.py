"""One contract, both clients: a LakeClient over a lake the records were imported into and a
ComClient over a ScriptedJVLink serving the same records must answer every request identically."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kasoku.domains.racing.clients import ComClient, LakeClient, ScriptedJVLink, UpstreamClient
from kasoku.domains.racing.lake_import import import_files
from kasoku.errors import KasokuError
from kasoku.lake.ducklake import Lake

from ._jvdata import make_record, write_jvd

R1, R2, R3 = "2024010606010101", "2024010606010102", "2024010706010201"
RA_0104 = make_record("RA", created="20240104", key=R1)
SE_0104 = make_record("SE", created="20240104", key=R1, body="101")
RA_0105 = make_record("RA", created="20240105", key=R2, data_code="5")
HR_0108 = make_record("HR", created="20240108", key=R1, data_code="7")
UM_0101 = make_record("UM", created="20240101", key="2019105123")
KS_0103 = make_record("KS", created="20240103", key="01234")
RT_RA1 = make_record("RA", created="20240105", key=R1)
RT_SE1 = make_record("SE", created="20240105", key=R1, body="101")
RT_RA2 = make_record("RA", created="20240105", key=R2)
RT_RA3 = make_record("RA", created="20240106", key=R3)
O1_R1 = make_record("O1", created="20240106", key=R1, body="01061200")

DATA: dict[str, list[bytes]] = {
    "RACE": [RA_0104, SE_0104, RA_0105, HR_0108],
    "DIFF": [UM_0101, KS_0103],
    "0B15": [RT_RA1, RT_SE1, RT_RA2, RT_RA3],
    "0B31": [O1_R1],
}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    base = tmp_path_factory.mktemp("contract")
    lake = Lake(str(base / "lake"))
    for spec, recs in DATA.items():
        import_files(lake, [write_jvd(base / f"{spec}.jvd", recs)], dataspec=spec)
    return lake


@pytest.fixture(params=["lake", "com"])
def client(request: pytest.FixtureRequest, lake: Lake) -> Iterator[UpstreamClient]:
    c: UpstreamClient
    if request.param == "lake":
        c = LakeClient(lake)
    else:
        c = ComClient(lambda: ScriptedJVLink(records=DATA), sid="KASOKU", call_timeout=5.0,
                      sleep=lambda s: None)
    yield c
    c.close()


def jv_code(e: pytest.ExceptionInfo[KasokuError]) -> int:
    return int(e.value.details["jvlink_code"])


def test_fits_the_protocol(client: UpstreamClient) -> None:
    assert isinstance(client, UpstreamClient)
    assert client.status()["name"] == client.name


def test_fromtime_filters_by_creation_date(client: UpstreamClient) -> None:
    assert client.fetch_stored("RACE", "20240101000000") == [RA_0104, SE_0104, RA_0105, HR_0108]
    assert client.fetch_stored("RACE", "20240105000000") == [RA_0105, HR_0108]
    assert client.fetch_stored("RACE", "20240105235959") == [RA_0105, HR_0108]  # day resolution
    assert client.fetch_stored("DIFF", "20240102000000") == [KS_0103]


def test_range(client: UpstreamClient) -> None:
    assert client.fetch_stored("RACE", "20240104000000-20240105235959") == [RA_0104, SE_0104, RA_0105]
    assert client.fetch_stored("RACE", "20240106000000-20240107000000") == []


def test_no_data_is_empty(client: UpstreamClient) -> None:
    assert client.fetch_stored("RACE", "20240201000000") == []
    assert client.fetch_stored("YSCH", "20240101000000") == []
    assert client.fetch_realtime("0B15", "20240301") == []
    assert client.fetch_realtime("0B31", "2024010606010199") == []


def test_records_are_byte_exact(client: UpstreamClient) -> None:
    got = client.fetch_stored("RACE", "20240104000000")[0]
    assert got == RA_0104 and got.endswith(b"  \r\n") and len(got) == 1272


def test_options(client: UpstreamClient) -> None:
    assert client.fetch_stored("RACE", "20240105000000", option=2) == [RA_0105, HR_0108]
    assert client.fetch_stored("DIFF", "20240101000000", option=4) == [UM_0101, KS_0103]


def test_realtime_day_and_race_key(client: UpstreamClient) -> None:
    assert client.fetch_realtime("0B15", "20240106") == [RT_RA1, RT_SE1, RT_RA2]
    assert client.fetch_realtime("0B15", R1) == [RT_RA1, RT_SE1]
    assert client.fetch_realtime("0B15", R3) == [RT_RA3]
    assert client.fetch_realtime("0B31", R1) == [O1_R1]


@pytest.mark.parametrize(("call", "code"), [
    (lambda c: c.fetch_stored("NOPE", "20240101000000"), -111),
    (lambda c: c.fetch_stored("0B15", "20240101000000"), -111),
    (lambda c: c.fetch_realtime("RACE", "20240106"), -111),
    (lambda c: c.fetch_stored("RACE", "2024"), -112),
    (lambda c: c.fetch_stored("RACE", "20240101000000-x"), -113),
    (lambda c: c.fetch_stored("DIFF", "20240101000000-20240105000000"), -113),
    (lambda c: c.fetch_realtime("0B15", "2024-01-06"), -114),
    (lambda c: c.fetch_realtime("0B31", "20240106"), -114),
    (lambda c: c.fetch_stored("RACE", "20240101000000", option=9), -115),
    (lambda c: c.fetch_stored("DIFF", "20240101000000", option=2), -116),
])
def test_parameter_errors(client: UpstreamClient, call, code: int) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(KasokuError) as e:
        call(client)
    assert e.value.status == 400 and e.value.code == "INVALID_PARAMETER"
    assert jv_code(e) == code


def test_closed_client_is_unavailable(client: UpstreamClient) -> None:
    client.close()
    with pytest.raises(KasokuError) as e:
        client.fetch_stored("RACE", "20240101000000")
    assert e.value.status == 503
