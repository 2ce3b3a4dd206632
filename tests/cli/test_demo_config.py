"""The demo's pieces that decide what the replay sends and configures: the label queue and the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.demo import LabelQueue, demo_config


def test_every_label_is_taken_once_no_earlier_than_due_even_when_the_clock_moves_between_calls() -> None:
    # The replay's clock: each row adds a label, and reading the clock again after a slow POST
    # (the old demo did) is when labels fell due unseen. Here every call gets its own `now`.
    queue = LabelQueue(delay_seconds=3.0)
    sent: dict[str, float] = {}
    clock = 0.0
    for i in range(500):
        clock += 0.1
        queue.add({"prediction_id": f"p{i}"}, now=clock)
        clock += 0.037 * (i % 7)  # the POSTs take a varying while
        for label in queue.due(now=clock):
            assert label["prediction_id"] not in sent
            sent[label["prediction_id"]] = clock
    for label in queue.rest():
        sent[label["prediction_id"]] = clock
    assert sorted(sent) == sorted(f"p{i}" for i in range(500)) and len(queue) == 0


def test_due_keeps_what_is_not_due_yet() -> None:
    queue = LabelQueue(delay_seconds=2.0)
    queue.add({"prediction_id": "a"}, now=0.0)
    queue.add({"prediction_id": "b"}, now=1.0)
    assert queue.due(now=1.9) == [] and len(queue) == 2
    assert queue.due(now=2.0) == [{"prediction_id": "a"}]
    assert queue.due(now=2.5) == [] and queue.due(now=3.0) == [{"prediction_id": "b"}]


@pytest.mark.parametrize("retrain_port", [None, 8001])
def test_the_demo_config_has_a_retraining_policy_only_with_its_service(tmp_path: Path, retrain_port: int | None) -> None:
    path = tmp_path / "driftline.yaml"
    path.write_text(demo_config(retrain_port))
    config = load_config(path)
    [monitor] = config.to_domain().monitors
    assert [r.name for r in monitor.alerts] == ["dataset-drift"]
    if retrain_port is None:
        assert monitor.retrain is None and not config.webhooks
        assert "retrain" not in path.read_text()
    else:
        assert monitor.retrain is not None
        assert [w.url for w in config.webhooks] == [f"http://127.0.0.1:{retrain_port}/retrain"]
