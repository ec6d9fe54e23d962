"""A small `kustomize build` for the features deploy/k8s uses, so tests can render the overlays
without the kustomize binary: resources (files and directories), components, namespace,
labels, images, replicas, configMapGenerator (envs, files; no hash suffix) and strategic-merge
patches (maps merged, lists of named items merged by name)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume"}
SCALABLE = {"Deployment", "StatefulSet", "ReplicaSet"}
POD_TEMPLATE_PATHS = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


def build(directory: Path) -> list[Resource]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    resources: list[Resource] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            resources += build(path)
        else:
            resources += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for generator in kustomization.get("configMapGenerator", []):
        resources.append(_config_map(directory, generator))
    for component in kustomization.get("components", []):
        resources = _apply_component(resources, (directory / component).resolve())
    for patch in kustomization.get("patches", []):
        _patch(resources, yaml.safe_load((directory / patch["path"]).read_text()))
    for replica in kustomization.get("replicas", []):
        for resource in resources:
            if resource["kind"] in SCALABLE and resource["metadata"]["name"] == replica["name"]:
                resource["spec"]["replicas"] = replica["count"]
    for image in kustomization.get("images", []):
        _set_image(resources, image)
    for label in kustomization.get("labels", []):
        for resource in resources:
            resource.setdefault("metadata", {}).setdefault("labels", {}).update(label["pairs"])
    namespace = kustomization.get("namespace")
    if namespace:
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED:
                resource["metadata"]["namespace"] = namespace
            for subject in resource.get("subjects", []):
                if subject.get("kind") == "ServiceAccount":
                    subject["namespace"] = namespace
    return resources


def _apply_component(resources: list[Resource], directory: Path) -> list[Resource]:
    component = yaml.safe_load((directory / "kustomization.yaml").read_text())
    assert component["kind"] == "Component"
    for entry in component.get("resources", []):
        resources += [doc for doc in yaml.safe_load_all((directory / entry).read_text()) if doc]
    return resources


def _config_map(directory: Path, generator: dict[str, Any]) -> Resource:
    data: dict[str, str] = {}
    for env in generator.get("envs", []):
        for line in (directory / env).read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                key, value = line.split("=", 1)
                data[key] = value
    for file in generator.get("files", []):
        data[Path(file).name] = (directory / file).read_text()
    for literal in generator.get("literals", []):
        key, value = literal.split("=", 1)
        data[key] = value
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": generator["name"]},
        "data": data,
    }


def _find(resources: list[Resource], kind: str, name: str) -> Resource:
    matches = [r for r in resources if r["metadata"]["name"] == name and r["kind"] == kind]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} matches"
    return matches[0]


def _patch(resources: list[Resource], patch: Resource) -> None:
    target = _find(resources, patch["kind"], patch["metadata"]["name"])
    merged = merge(target, patch)
    target.clear()
    target.update(merged)


def merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = copy.deepcopy(base)
        for key, value in patch.items():
            out[key] = merge(out[key], value) if key in out else copy.deepcopy(value)
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(i, dict) and "name" in i for i in base + patch)
    ):
        out_list = copy.deepcopy(base)
        for item in patch:
            index = next((i for i, b in enumerate(out_list) if b["name"] == item["name"]), None)
            if index is None:
                out_list.append(copy.deepcopy(item))
            else:
                out_list[index] = merge(out_list[index], item)
        return out_list
    return copy.deepcopy(patch)


def pod_spec(resource: Resource) -> dict[str, Any] | None:
    path = POD_TEMPLATE_PATHS.get(resource["kind"])
    if path is None:
        return None
    node: Any = resource
    for key in path:
        node = node[key]
    spec: dict[str, Any] = node["spec"]
    return spec


def _set_image(resources: list[Resource], image: dict[str, str]) -> None:
    for resource in resources:
        spec = pod_spec(resource)
        if spec is None:
            continue
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            name, _, _tag = container["image"].partition(":")
            if name == image["name"]:
                new = image.get("newName", name)
                container["image"] = f"{new}:{image['newTag']}" if "newTag" in image else new
