"""Prometheus metrics, registered on a registry the composition root owns (no globals).

Served at ``/metrics`` on ``metrics_port`` by `companion.metrics_server`; the alert rules in
deploy/prometheus/alerts.yml and the Grafana dashboard read these names (a test checks that
every name they use is registered here or by billing/speech).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from companion.llm.usage import TokenUsage

_STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        # Told each failure counted here ("update", "deferred", "reply_failed"): the owner's
        # console keeps them per hour and day (companion.analytics.error_log). Must not block.
        self.error_listeners: list[Callable[[str], None]] = []
        # Stages of one message (companion.dialogs.service): prepare (our work before the model
        # is asked: the SLA's "reply without generation"), first_token, generation, reply (the
        # whole turn), recall (memory search), lock_wait (the user's previous message).
        self.stage_seconds = Histogram(
            "companion_stage_seconds",
            "Time spent in each stage of handling a message",
            ["stage"],
            registry=self.registry,
            buckets=_STAGE_BUCKETS,
        )
        # One background memory pass (companion.memory.learning): extraction by the model,
        # reconciliation and embeddings, by outcome (learned, nothing, undone, failed).
        self.memory_pass_seconds = Histogram(
            "companion_memory_pass_seconds",
            "Time of one background memory pass over a conversation's new messages",
            ["outcome"],
            registry=self.registry,
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300),
        )
        self.updates = Counter(
            "companion_updates_total",
            "Telegram updates received, by type",
            ["type"],
            registry=self.registry,
        )
        # Read by the Kubernetes autoscaler (deploy/k8s/base/bot-autoscaling.yaml).
        self.in_flight = Gauge(
            "companion_updates_in_flight",
            "Telegram updates being handled by this worker now",
            registry=self.registry,
        )
        self.replies = Counter(
            "companion_replies_total",
            "Messages answered, by outcome (replied, rejected, no_persona, failed)",
            ["outcome"],
            registry=self.registry,
        )
        self.tokens = Counter(
            "companion_llm_tokens_total",
            "Tokens used by the model, by kind (prompt, completion)",
            ["kind"],
            registry=self.registry,
        )
        self.errors = Counter(
            "companion_errors_total",
            "Failures by place (update: a handler raised; deferred: the model or a store was "
            "down and the update is retried)",
            ["where"],
            registry=self.registry,
        )
        # See companion.bot.bad_updates for the reasons (throttled included).
        self.bad_updates = Counter(
            "companion_bad_updates_total",
            "Updates refused, ignored or treated as done without a handler, by reason",
            ["reason"],
            registry=self.registry,
        )

    def observe_memory_pass(self, seconds: float, outcome: str) -> None:
        self.memory_pass_seconds.labels(outcome=outcome).observe(seconds)

    def observe(self, stage: str, seconds: float) -> None:
        """`StageTimer` for the dialogue service."""
        self.stage_seconds.labels(stage=stage).observe(seconds)

    def count_usage(self, usage: TokenUsage) -> None:
        """`UsageCallback` for the chat model: quick and never raises."""
        self.tokens.labels(kind="prompt").inc(usage.prompt_tokens)
        self.tokens.labels(kind="completion").inc(usage.completion_tokens)

    def reply(self, outcome: str) -> None:
        self.replies.labels(outcome=outcome).inc()
        if outcome == "failed":
            self._tell("reply_failed")

    def update(self, kind: str) -> None:
        self.updates.labels(type=kind).inc()

    def error(self, where: str) -> None:
        self.errors.labels(where=where).inc()
        self._tell(where)

    def _tell(self, kind: str) -> None:
        for listener in self.error_listeners:
            listener(kind)
