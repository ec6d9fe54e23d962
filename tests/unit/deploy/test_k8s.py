"""deploy/k8s rendered like `kustomize build` (tests/unit/deploy/kustomize.py) and validated
against the Kubernetes schemas (PyPI kubernetes-validate), plus the wiring a schema cannot
see: selectors, services, probes, secrets, metrics the autoscaler reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from companion.config import Settings
from companion.metrics import Metrics
from tests.unit.deploy.kustomize import build, pod_spec

REPO = Path(__file__).resolve().parents[3]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ["staging", "production"]
KUBERNETES = "1.30.0"
# Custom resources whose schema is their operator's, not Kubernetes'.
CUSTOM_KINDS = {"MongoDBCommunity"}
# Secrets made outside the manifests: by the operator (docs/scaling.md), cert-manager or the
# MongoDB operator.
EXTERNAL_SECRETS = {
    "companion-secrets",
    "companion-tls",
    "companion-mongo-password",
    "companion-mongo-uri",
}


def render(overlay: str) -> list[dict[str, Any]]:
    return build(K8S / "overlays" / overlay)


def by_kind(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_resource_is_valid_kubernetes(overlay: str) -> None:
    resources = render(overlay)
    assert resources
    for resource in resources:
        if resource["kind"] in CUSTOM_KINDS:
            assert resource["spec"]
            continue
        kubernetes_validate.validate(resource, KUBERNETES, strict=True)
    names = [(r["kind"], r["metadata"]["name"]) for r in resources]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_select_pods_and_the_ingress_reaches_them(overlay: str) -> None:
    resources = render(overlay)
    pod_labels = [
        r["spec"]["template"]["metadata"]["labels"]
        for r in resources
        if r["kind"] in ("Deployment", "StatefulSet")
    ]
    services = by_kind(resources, "Service")
    for service in services.values():
        selector = service["spec"]["selector"]
        assert any(selector.items() <= labels.items() for labels in pod_labels), service
    paths = by_kind(resources, "Ingress")["companion"]["spec"]["rules"][0]["http"]["paths"]
    for path in paths:
        backend = path["backend"]["service"]
        ports = {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
        assert backend["port"]["name"] in ports
    public = {p["path"] for p in paths}
    assert public == {"/telegram/webhook", "/yookassa/webhook", "/legal"}


def test_production_autoscales_workers_on_cpu_and_updates_in_flight() -> None:
    resources = render("production")
    hpa = by_kind(resources, "HorizontalPodAutoscaler")["bot"]
    assert hpa["spec"]["scaleTargetRef"]["name"] in by_kind(resources, "Deployment")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 40)
    kinds = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert kinds["Resource"]["resource"]["name"] == "cpu"
    in_flight = kinds["Pods"]["pods"]["metric"]["name"]
    # The metric the HPA reads is one the bot really exports.
    assert in_flight in {m.name for m in Metrics().registry.collect()}
    pdb = by_kind(resources, "PodDisruptionBudget")["bot"]
    bot = by_kind(resources, "Deployment")["bot"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= (
        bot["spec"]["template"]["metadata"]["labels"].items()
    )
    assert by_kind(resources, "Deployment")["vllm"]["spec"]["replicas"] == 2
    assert "MongoDBCommunity" in {r["kind"] for r in resources}
    staging = by_kind(render("staging"), "HorizontalPodAutoscaler")["bot"]
    assert staging["spec"]["minReplicas"] == 1
    assert "MongoDBCommunity" not in {r["kind"] for r in render("staging")}


def test_bot_pods_are_probed_and_configured() -> None:
    resources = render("production")
    spec = pod_spec(by_kind(resources, "Deployment")["bot"])
    assert spec is not None
    (container,) = spec["containers"]
    assert container["image"] == "registry.example.com/companion-bot:0.1.0"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert spec["securityContext"]["runAsUser"] == 10001
    mongo = next(e for e in container["env"] if e["name"] == "COMPANION_MONGO__URI")
    assert mongo["valueFrom"]["secretKeyRef"]["name"] == "companion-mongo-uri"
    # The ConfigMap is valid settings for the bot.
    config = by_kind(resources, "ConfigMap")["companion-config"]["data"]
    env = {k: v for k, v in config.items() if k.startswith("COMPANION_")}
    # What companion-secrets adds (see EXTERNAL_SECRETS).
    env["COMPANION_MONGO__URI"] = "mongodb://companion:pw@mongo-svc:27017/?replicaSet=mongo"
    env["COMPANION_PRIVACY__ENCRYPTION_KEY"] = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
    settings = Settings.model_validate(_nested(env))
    assert settings.llm.base_url == "http://vllm:8000/v1"
    assert settings.metrics_port == int(container["ports"][1]["containerPort"])


def _nested(env: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in env.items():
        parts = key.removeprefix("COMPANION_").lower().split("__")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def test_vllm_runs_on_the_gpu_pool_with_shared_adapters() -> None:
    resources = render("production")
    spec = pod_spec(by_kind(resources, "Deployment")["vllm"])
    assert spec is not None
    (container,) = spec["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert spec["nodeSelector"]
    adapters = next(v for v in spec["volumes"] if v["name"] == "adapters")
    claim = by_kind(resources, "PersistentVolumeClaim")[
        adapters["persistentVolumeClaim"]["claimName"]
    ]
    assert "ReadOnlyMany" in claim["spec"]["accessModes"]
    # The start script and the alert rules are the same files the compose stack uses.
    config_maps = by_kind(resources, "ConfigMap")
    serve = (REPO / "deploy" / "vllm" / "serve.sh").read_text()
    assert config_maps["vllm-serve"]["data"]["serve.sh"] == serve
    alerts = (REPO / "deploy" / "prometheus" / "alerts.yml").read_text()
    assert config_maps["prometheus-config"]["data"]["alerts.yml"] == alerts


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_referenced_config_map_and_secret_exists(overlay: str) -> None:
    resources = render(overlay)
    config_maps = set(by_kind(resources, "ConfigMap"))
    secrets = set(by_kind(resources, "Secret")) | EXTERNAL_SECRETS
    for resource in resources:
        spec = pod_spec(resource)
        if spec is None:
            continue
        for container in spec["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in secrets
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] in secrets
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps
