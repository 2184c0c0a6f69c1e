import subprocess
import sys
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from kasoku.engine.keys import canonical_json, query_key
from kasoku.engine.types import Query

params = st.dictionaries(st.text(min_size=1, max_size=8), st.one_of(st.integers(-(2**53), 2**53), st.text(max_size=10), st.booleans()), max_size=6)


@given(params)
def test_key_ignores_parameter_order(p: dict) -> None:
    reordered = dict(reversed(list(p.items())))
    assert query_key(Query("d", "t", p)) == query_key(Query("d", "t", reordered))


def test_key_changes_with_every_part() -> None:
    base = Query("d", "t", {"limit": 10}, "me")
    variants = [Query("e", "t", {"limit": 10}, "me"), Query("d", "u", {"limit": 10}, "me"),
                Query("d", "t", {"limit": 11}, "me"), Query("d", "t", {"limit": 10}, "you")]
    keys = {query_key(q) for q in [base, *variants]}
    assert len(keys) == 5


def test_none_params_do_not_change_the_key() -> None:
    assert query_key(Query("d", "t", {"a": 1, "b": None})) == query_key(Query("d", "t", {"a": 1}))


def test_key_is_stable_across_processes() -> None:
    code = ("from kasoku.engine.keys import query_key; from kasoku.engine.types import Query;"
            "print(query_key(Query('listening','top_tracks',{'limit':5,'start':'2024-01-01'},'me')))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONPATH": "src", "PYTHONHASHSEED": str(seed)}).stdout.strip() for seed in (1, 2)}
    assert len(outs) == 1
    assert outs == {query_key(Query("listening", "top_tracks", {"start": "2024-01-01", "limit": 5}, "me"))}


def test_canonical_json_sorts_and_serialises_dates() -> None:
    assert canonical_json({"b": 1, "a": date(2024, 1, 2)}) == b'{"a":"2024-01-02","b":1}'
