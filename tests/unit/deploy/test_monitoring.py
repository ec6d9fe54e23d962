"""Prometheus config, SLA alert rules and Grafana provisioning: valid, and reading only metrics
the code registers (a renamed metric would leave an alert that never fires)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from companion.billing.metrics import BillingMetrics
from companion.metrics import Metrics
from companion.speech.metrics import PrometheusSpeechMetrics

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
PROMQL_WORDS = {
    "sum", "by", "rate", "increase", "histogram_quantile", "clamp_min", "avg_over_time", "bool",
    "or", "and", "absent", "le", "up", "without", "on", "ignoring", "count", "max", "min",
    "humanizeDuration", "humanizePercentage", "value", "job", "stage", "outcome", "where",
    "kind", "reason", "provider", "collection", "type", "instance",
}  # fmt: skip


def registered_names() -> set[str]:
    registry = CollectorRegistry()
    Metrics(registry)
    BillingMetrics(registry)
    PrometheusSpeechMetrics(registry)
    names: set[str] = set()
    for collector in registry._collector_to_names:  # the names each collector exposes
        names.update(registry._collector_to_names[collector])
    return names


def metric_names(expr: str) -> set[str]:
    """Identifiers in a PromQL expression that look like companion metric names."""
    without_strings = re.sub(r'"[^"]*"', "", expr)
    return {
        word
        for word in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_strings)
        if word.startswith("companion_")
    }


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_alerts_cover_the_sla() -> None:
    alerts = {rule["alert"]: rule for rule in rules() if "alert" in rule}
    assert {"ReplyLatencyOverSLA", "ReplyErrorRateHigh", "AvailabilityBudgetBurning"} <= set(alerts)
    recorded = {rule["record"]: rule["expr"] for rule in rules() if "record" in rule}
    latency = recorded[alerts["ReplyLatencyOverSLA"]["expr"].split()[0]]
    assert "0.95" in latency and 'stage="prepare"' in latency
    assert alerts["ReplyLatencyOverSLA"]["expr"].endswith("> 2")
    assert alerts["AvailabilityBudgetBurning"]["expr"].endswith("< 0.999")
    operations = (REPO / "docs" / "operations.md").read_text()
    for name, alert in alerts.items():
        # Every alert says where its runbook is, and that section exists.
        assert alert["annotations"]["runbook"] == f"docs/operations.md#{name.lower()}"
        assert f"\n### {name}\n" in operations, name


def test_alerts_and_dashboard_read_registered_metrics() -> None:
    known = registered_names()
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    used: set[str] = set()
    for rule in rules():
        used |= metric_names(rule["expr"])
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "companion.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used |= metric_names(target["expr"])
    missing = {name for name in used if name not in known and name not in recorded}
    assert missing == set()


def test_grafana_provisioning_points_at_the_dashboard_and_prometheus() -> None:
    datasources = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    (prometheus,) = datasources
    assert prometheus["type"] == "prometheus" and prometheus["url"] == "http://prometheus:9090"
    providers = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "companion.yml").read_text()
    )["providers"]
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{providers[0]['options']['path']}:ro" in mounts
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "companion.json").read_text())
    assert dashboard["uid"] and dashboard["panels"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == prometheus["uid"]


def test_prometheus_scrapes_the_metrics_port() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    bot = next(job for job in config["scrape_configs"] if job["job_name"] == "companion-bot")
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    port = compose["x-bot-env"]["COMPANION_METRICS_PORT"]
    assert bot["dns_sd_configs"][0]["port"] == int(port)
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]


def test_promtool_checks_and_unit_tests_the_rules() -> None:
    if shutil.which("promtool") is None:
        # Debian's `prometheus` package is not installed: the YAML checks above still ran.
        return
    folder = DEPLOY / "prometheus"
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"]):
        result = subprocess.run(
            ["promtool", *args], cwd=folder, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr
