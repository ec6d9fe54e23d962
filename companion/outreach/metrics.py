"""Prometheus metrics of check-ins, on the registry the composition root owns."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class OutreachMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry or CollectorRegistry()
        self.sent = Counter(
            "companion_checkins_sent_total",
            "Check-ins delivered, by kind (event, silence) and text (model, template)",
            ["kind", "text"],
            registry=registry,
        )
        self.skipped = Counter(
            "companion_checkins_skipped_total",
            "Check-ins not sent, by reason (opted_out, blocked, weekly_cap, stale...)",
            ["reason"],
            registry=registry,
        )
        self.deferred = Counter(
            "companion_checkins_deferred_total",
            "Check-ins put back for later, by reason (quiet_hours, retry)",
            ["reason"],
            registry=registry,
        )
        self.claims = Counter(
            "companion_checkins_lease_claims_total",
            "Lease claims by outcome (claimed; lost: the lease ended before the send)",
            ["outcome"],
            registry=registry,
        )
        self.unknown = Counter(
            "companion_checkins_unknown_total",
            "Check-ins whose worker died mid-send (never resent: at most once)",
            registry=registry,
        )
        self.due = Gauge(
            "companion_checkins_due_jobs",
            "Check-in jobs due now and not yet handled",
            registry=registry,
        )
