from kasoku.engine.advisor import advise
from kasoku.engine.metrics import Metrics


def test_fast_queries_need_nothing() -> None:
    metrics = Metrics()
    metrics.slow_log.extend({"seconds": 0.05, "source": "raw"} for _ in range(20))
    assert advise(metrics)["advice"] == ["nothing: queries are fast enough"]


def test_slow_and_repeated_leads_to_the_cache() -> None:
    metrics = Metrics()
    metrics.slow_log.extend({"seconds": 4.0, "source": "raw"} for _ in range(20))
    for _ in range(3):
        metrics.answered("listening", "k1", "miss")
    metrics.answered("listening", "k2", "miss")
    result = advise(metrics)
    assert result["measured"]["repeated_share"] == 0.5
    assert [a.split()[0] for a in result["advice"]] == ["B1", "B2", "B4"]


def test_slow_unrepeated_raw_queries_lead_to_rollups_then_pooling() -> None:
    metrics = Metrics()
    metrics.slow_log.extend({"seconds": 8.0, "source": "raw"} for _ in range(20))
    for key in "abcdef":
        metrics.answered("listening", key, "miss")
    assert [a.split()[0] for a in advise(metrics)["advice"]] == ["B1", "B2", "C2", "B3"]
