"""Prometheus counters of billing's quiet failures, on the registry the composition root owns.

Each counts something that is handled (skipped, closed, refunded) but that an operator should
see: a number growing here means records that need a look, not a broken service.

    metrics = BillingMetrics(container.metrics.registry)
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError


def unreadable_reason(exc: Exception) -> str:
    """Why a stored document could not be read, for a log line: the fields it failed on, never
    their values (they may be personal data)."""
    if isinstance(exc, ValidationError):
        fields = sorted({str(error["loc"][0]) for error in exc.errors() if error["loc"]})
        return "invalid fields " + ", ".join(fields)
    return type(exc).__name__


class BillingMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # Without a registry (tests, the CLI) the counters live on a private one.
        self.registry = registry or CollectorRegistry()
        self.unreadable_records = Counter(
            "companion_billing_unreadable_records_total",
            "Stored billing documents that could not be read and were skipped, by collection",
            ["collection"],
            registry=self.registry,
        )
        self.job_failures = Counter(
            "companion_billing_job_failures_total",
            "Records a billing job could not handle this run (skipped, retried next run), by job",
            ["job"],
            registry=self.registry,
        )
        self.payments_closed = Counter(
            "companion_billing_payments_closed_total",
            "Payments closed without crediting PRO, by provider and reason",
            ["provider", "reason"],
            registry=self.registry,
        )

        # With payments_closed: every payment's end state (credited, or closed and why).
        self.payments_credited = Counter(
            "companion_billing_payments_credited_total",
            "Payments credited (PRO granted or extended), by provider",
            ["provider"],
            registry=self.registry,
        )

    def credited(self, provider: str) -> None:
        self.payments_credited.labels(provider=provider).inc()

    def unreadable(self, collection: str) -> None:
        self.unreadable_records.labels(collection=collection).inc()

    def job_failed(self, job: str) -> None:
        self.job_failures.labels(job=job).inc()

    def closed(self, provider: str, reason: str) -> None:
        self.payments_closed.labels(provider=provider, reason=reason).inc()
