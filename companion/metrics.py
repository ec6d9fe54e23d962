"""Prometheus metrics, registered on a registry the composition root owns (no globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

_STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.stage_seconds = Histogram(
            "companion_stage_seconds",
            "Time spent in each stage of handling a message",
            ["stage"],
            registry=self.registry,
            buckets=_STAGE_BUCKETS,
        )
        self.replies = Counter(
            "companion_replies_total", "Replies by outcome", ["outcome"], registry=self.registry
        )
        self.tokens = Counter(
            "companion_llm_tokens_total", "Tokens used", ["kind"], registry=self.registry
        )
        self.errors = Counter(
            "companion_errors_total", "Errors by place", ["where"], registry=self.registry
        )
        self.payments = Counter(
            "companion_payments_total",
            "Payment events by provider and outcome",
            ["provider", "outcome"],
            registry=self.registry,
        )

        # See companion.bot.bad_updates for the reasons.
        self.bad_updates = Counter(
            "companion_bad_updates_total",
            "Updates refused, ignored or treated as done without a handler, by reason",
            ["reason"],
            registry=self.registry,
        )

    def observe(self, stage: str, seconds: float) -> None:
        """`StageTimer` for the dialogue service."""
        self.stage_seconds.labels(stage=stage).observe(seconds)
