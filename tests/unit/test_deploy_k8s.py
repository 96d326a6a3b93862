"""deploy/k8s/ without a cluster: every manifest validates against Kubernetes' own schemas (offline, strict:
unknown fields fail), and the pieces agree with each other and with the code.

The Prometheus Operator's ServiceMonitor and kustomize's Kustomization are not Kubernetes API kinds, so
they get structural checks here instead of schema validation.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from orchestrator.engine.metrics import ConversationMetrics
from orchestrator.triton.connection import grpc_target
from orchestrator.twilio.metrics import EdgeMetrics
from serving.request_backlog import BACKLOG_METRICS

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.37.0"
NOT_KUBERNETES_KINDS = {"ServiceMonitor", "Kustomization"}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def everything() -> list[dict[str, Any]]:
    return [doc for path in sorted(K8S.glob("*.yaml")) for doc in documents(path)]


def find(kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in everything() if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def env(deployment: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container(deployment).get("env", [])}


@pytest.mark.parametrize("path", sorted(K8S.glob("*.yaml")), ids=lambda p: p.name)
def test_manifests_validate_against_the_kubernetes_schemas(path: Path) -> None:
    for doc in documents(path):
        if doc["kind"] in NOT_KUBERNETES_KINDS:
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_a_wrong_manifest() -> None:
    deployment = find("Deployment", "triton")
    bad = yaml.safe_load(yaml.safe_dump(deployment))
    container(bad)["readinesProbe"] = container(bad).pop("readinessProbe")  # a typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    kustomization = documents(K8S / "kustomization.yaml")[0]
    expected = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert set(kustomization["resources"]) == expected
    images = {image["name"] for image in kustomization["images"]}
    used = {
        c["image"].split(":")[0]
        for d in everything()
        if d["kind"] in {"Deployment", "Job"}
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert used <= images


def test_triton_is_ready_on_v2_health_ready_and_exposes_grpc_and_metrics() -> None:
    triton = find("Deployment", "triton")
    spec = container(triton)
    assert spec["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert spec["args"] == ["triton"]
    assert spec["resources"]["limits"]["nvidia.com/gpu"] == "1"
    ports = {p["name"]: p["containerPort"] for p in spec["ports"]}
    assert ports == {"http": 8000, "grpc": 8001, "metrics": 8002}
    assert env(triton)["CC_TRITON_GRPC_ADDRESS"] == "0.0.0.0"


def test_orchestrator_reaches_every_triton_pod_through_the_headless_service() -> None:
    service = find("Service", "triton-headless")
    assert service["spec"]["clusterIP"] == "None"
    assert {p["port"] for p in service["spec"]["ports"]} == {8001, 8002}
    url = env(find("Deployment", "orchestrator"))["CC_TRITON_URL"]
    namespace = service["metadata"]["namespace"]
    assert url == f"dns:///triton-headless.{namespace}.svc.cluster.local:8001"
    assert grpc_target(url) == url  # passed to gRPC as is: its DNS resolver + round_robin


def test_orchestrator_drains_calls_within_its_grace_period() -> None:
    orchestrator = find("Deployment", "orchestrator")
    spec = orchestrator["spec"]["template"]["spec"]
    assert container(orchestrator)["lifecycle"]["preStop"]["exec"]["command"][-1] == "drain"
    assert (
        int(env(orchestrator)["CC_DRAIN_TIMEOUT_S"]) + 30 <= spec["terminationGracePeriodSeconds"]
    )
    assert container(orchestrator)["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_ingress_keeps_media_websockets_open() -> None:
    ingress = find("Ingress", "orchestrator")
    annotations = ingress["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    (rule,) = ingress["spec"]["rules"]
    assert rule["http"]["paths"][0]["backend"]["service"]["name"] == "orchestrator"


def adapter_rules(kind: str = "rules") -> list[dict[str, Any]]:
    """The adapter's per-pod ``rules`` or its per-namespace ``externalRules``."""
    config = find("ConfigMap", "prometheus-adapter-client-caller")["data"]["config.yaml"]
    rules: list[dict[str, Any]] = yaml.safe_load(config)[kind]
    return rules


def test_adapter_rules_are_well_formed() -> None:
    for rule in adapter_rules() + adapter_rules("externalRules"):
        assert {"seriesQuery", "resources", "name", "metricsQuery"} <= rule.keys()
        assert "<<.LabelMatchers>>" in rule["metricsQuery"]
        assert rule["resources"]["overrides"]["namespace"] == {"resource": "namespace"}
    for rule in adapter_rules():
        assert "<<.GroupBy>>" in rule["metricsQuery"]
        assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}


def test_every_hpa_metric_is_served_by_an_adapter_rule() -> None:
    served = {
        "Pods": {rule["name"]["as"] for rule in adapter_rules()},
        "External": {rule["name"]["as"] for rule in adapter_rules("externalRules")},
    }
    hpa = find("HorizontalPodAutoscaler", "triton")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "triton"
    for metric in hpa["spec"]["metrics"]:
        source = metric[metric["type"].lower()]
        assert source["metric"]["name"] in served[metric["type"]], metric


def exported_metric_names() -> set[str]:
    """Our metrics: the orchestrator's (edge and conversation) and the Python-backend models' gauges."""
    edge = EdgeMetrics.create()
    ConversationMetrics.create().register_into(edge.registry)
    orchestrator = {family.name for family in edge.registry.collect()}
    return orchestrator | {name for name, _ in BACKLOG_METRICS.values()}


def test_the_adapter_reads_only_metrics_our_code_exports() -> None:
    queries = " ".join(
        rule["seriesQuery"] + " " + rule["metricsQuery"]
        for rule in adapter_rules() + adapter_rules("externalRules")
    )
    ours = set(re.findall(r"\bcc_[a-z_]+", queries))
    assert ours, "the adapter reads none of our metrics"
    assert ours <= exported_metric_names(), ours - exported_metric_names()
    # Not Triton's queue gauges nor vLLM V0's: for these models they never rise (docs/SCALING.md).
    for never_rises in ("nv_inference_pending_request_count", "nv_inference_queue_duration_us"):
        assert never_rises not in queries
    assert "vllm:num_requests" not in queries


def test_service_monitors_select_services_with_the_named_port() -> None:
    services = {d["metadata"]["name"]: d for d in everything() if d["kind"] == "Service"}
    for monitor in (d for d in everything() if d["kind"] == "ServiceMonitor"):
        labels = monitor["spec"]["selector"]["matchLabels"]
        matching = [
            s
            for s in services.values()
            if labels.items() <= s["metadata"].get("labels", {}).items()
        ]
        assert matching, monitor["metadata"]["name"]
        for endpoint in monitor["spec"]["endpoints"]:
            assert any(
                endpoint["port"] in {p["name"] for p in s["spec"]["ports"]} for s in matching
            )
