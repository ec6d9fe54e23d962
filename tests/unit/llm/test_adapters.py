from __future__ import annotations

import logging

import pytest

from companion.llm.adapters import AdapterAvailability


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_no_adapter_means_the_base_model() -> None:
    adapters = AdapterAvailability("base")
    assert adapters.model_for(None) == "base"
    assert adapters.model_for("") == "base"
    assert adapters.model_for("kylie") == "kylie"


def test_missing_adapter_uses_base_until_recheck(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    adapters = AdapterAvailability("base", recheck_s=600, clock=clock)
    with caplog.at_level(logging.WARNING, logger="companion.llm.adapters"):
        adapters.mark_missing("kylie", "http://vllm:8000/v1")
        assert adapters.model_for("kylie") == "base"
        clock.now += 599
        assert adapters.model_for("kylie") == "base"
        clock.now += 2
        assert adapters.model_for("kylie") == "kylie"  # time to re-check
        adapters.mark_missing("kylie", "http://vllm:8000/v1")  # still missing
        assert adapters.model_for("kylie") == "base"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "kylie" in warnings[0].getMessage()
    assert "http://vllm:8000/v1" in warnings[0].getMessage()


def test_served_again_forgets_and_a_new_loss_warns_again(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    adapters = AdapterAvailability("base", recheck_s=10, clock=clock)
    with caplog.at_level(logging.WARNING, logger="companion.llm.adapters"):
        adapters.mark_missing("mark", "srv")
        adapters.mark_served("mark")
        assert adapters.missing == frozenset()
        assert adapters.model_for("mark") == "mark"
        adapters.mark_missing("mark", "srv")
    assert sum(r.levelno == logging.WARNING for r in caplog.records) == 2


def test_each_adapter_is_tracked_on_its_own() -> None:
    adapters = AdapterAvailability("base")
    adapters.mark_missing("a", "srv")
    assert adapters.model_for("a") == "base"
    assert adapters.model_for("b") == "b"
