"""The deployment files hold together: every YAML loads, every secret a workload reads is in the template, every
workload is fenced by a NetworkPolicy that allows exactly the hops of the trust model, and the Ingress exposes only
the gateway's webhook and the inbox. Compose mirrors the same services, secrets and migration step.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.dockerfile import Target, targets
from tests.deploy.images import DOCKERFILE, REPO_ROOT

K8S = REPO_ROOT / "deploy" / "k8s"
COMPOSE = REPO_ROOT / "deploy" / "compose.yml"
ENV_EXAMPLE = REPO_ROOT / "deploy" / ".env.example"
NAMESPACE = "mf-assistant"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")


def load(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@functools.lru_cache(maxsize=1)
def manifests() -> list[tuple[Path, dict[str, Any]]]:
    return [(p, d) for p in sorted(K8S.rglob("*.yaml")) for d in load(p) if p.name != "kustomization.yaml"]


def of_kind(*kinds: str) -> list[dict[str, Any]]:
    return [d for _, d in manifests() if d["kind"] in kinds]


def workloads() -> list[dict[str, Any]]:
    return of_kind(*WORKLOAD_KINDS)


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"]["labels"]


def target_of(container: dict[str, Any]) -> str:
    image = container["image"].split(":")[0]
    assert image.startswith("mf-assistant/"), image
    return image.removeprefix("mf-assistant/")


def template_keys() -> dict[str, set[str]]:
    return {d["metadata"]["name"]: set(d["stringData"]) for d in load(K8S / "secret.template.yaml")}


def configmap() -> dict[str, str]:
    (cm,) = of_kind("ConfigMap")
    return dict(cm["data"])


def secret_refs(container: dict[str, Any]) -> dict[str, tuple[str, str, bool]]:
    """{env name: (secret, key, optional)}."""
    refs = {}
    for env in container.get("env", []):
        ref = env.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            refs[env["name"]] = (ref["name"], ref["key"], bool(ref.get("optional")))
    return refs


def provided(container: dict[str, Any]) -> set[str]:
    names = {e["name"] for e in container.get("env", [])}
    if any(s.get("configMapRef", {}).get("name") == "mf-assistant-config" for s in container.get("envFrom", [])):
        names |= set(configmap())
    return names


# --- files -----------------------------------------------------------------------------------------------------


def test_every_manifest_is_listed_in_a_kustomization_and_every_listed_file_exists() -> None:
    listed: list[Path] = []
    for kustomization in sorted(K8S.rglob("kustomization.yaml")):
        (doc,) = load(kustomization)
        assert doc["namespace"] == NAMESPACE
        for resource in doc["resources"]:
            path = (kustomization.parent / resource).resolve()
            assert path.exists(), f"{kustomization}: {resource}"
            listed.append(path)
    assert len(listed) == len(set(listed))
    expected = {p.resolve() for p in K8S.rglob("*.yaml")
                if p.name not in ("kustomization.yaml", "secret.template.yaml")}
    assert set(listed) == expected


def test_every_image_is_a_dockerfile_target_pinned_by_the_kustomizations() -> None:
    known = set(targets(DOCKERFILE))
    pinned: dict[str, dict[str, str]] = {}
    for kustomization in sorted(K8S.rglob("kustomization.yaml")):
        (doc,) = load(kustomization)
        for image in doc.get("images", []):
            assert pinned.setdefault(image["name"], image) == image, f"{image['name']} pinned differently"
    used = {c["image"].split(":")[0] for w in workloads() for c in pod_spec(w)["containers"]}
    assert {u.removeprefix("mf-assistant/") for u in used} <= known
    assert used == set(pinned)


def test_production_configuration() -> None:
    data = configmap()
    assert data["APP_ENV"] == "production"
    assert data["REST_CHANNEL_ENABLED"] == "false"
    assert data["HANDOFF_MIGRATE_AT_START"] == "false"


# --- secrets ---------------------------------------------------------------------------------------------------


def test_workload_secrets_exist_in_the_template_and_every_template_key_is_used() -> None:
    keys = template_keys()
    used: set[str] = set()
    for workload in workloads():
        for container in pod_spec(workload)["containers"]:
            for env, (secret, key, _) in secret_refs(container).items():
                assert key in keys.get(secret, set()), f"{workload['metadata']['name']}: {secret}/{key}"
                assert env == key
                used.add(key)
    assert keys["mf-assistant-secrets"] == used


def test_action_server_token_reaches_both_rasa_and_actions() -> None:
    holders = {target_of(c) for w in workloads() for c in pod_spec(w)["containers"]
               if "ACTION_SERVER_TOKEN" in secret_refs(c)}
    assert holders == {"rasa", "actions"}


def test_each_workload_gets_every_secret_and_variable_its_image_reads(tmp_path: Path) -> None:
    """The image's own files say what it needs: each `env_secret("NAME"` in its tree and each `${VAR}` in its
    endpoints.yml must be provided by the workload (REST_CHANNEL_TOKEN is read only with the REST channel on)."""
    off = {"REST_CHANNEL_TOKEN"} if configmap()["REST_CHANNEL_ENABLED"] == "false" else set()
    for workload in of_kind("Deployment", "StatefulSet"):
        for container in pod_spec(workload)["containers"]:
            target = target_of(container)
            tree = tmp_path / target
            Target.load(DOCKERFILE, REPO_ROOT, target).lay_out(tree, {"model": REPO_ROOT})
            needed = set()
            for source in tree.rglob("*.py"):
                needed |= set(re.findall(r'env_secret\(\s*"([A-Z0-9_]+)"', source.read_text()))
            for yml in tree.glob("*.yml"):  # Rasa expands ${VAR} in endpoints.yml/credentials.yml (not in comments)
                values = "\n".join(line.split(" #")[0] for line in yml.read_text().splitlines()
                                   if not line.lstrip().startswith("#"))
                needed |= set(re.findall(r"\$\{([A-Z0-9_]+)\}", values))
            missing = needed - off - provided(container)
            assert not missing, f"{target} reads {sorted(missing)} but {workload['metadata']['name']} does not set them"


# --- pods ------------------------------------------------------------------------------------------------------


def test_probes_liveness_without_dependencies_readiness_with_them() -> None:
    for workload in of_kind("Deployment", "StatefulSet"):
        (container,) = pod_spec(workload)["containers"]
        name = workload["metadata"]["name"]
        liveness = container["livenessProbe"]["httpGet"]["path"]
        assert liveness == ("/" if name == "rasa" else "/health"), name
        # Rasa's app takes routes only from its channels: its readiness lives on the WhatsApp channel's blueprint.
        ready = "/webhooks/whatsapp/ready" if name == "rasa" else "/health/ready"
        assert container["readinessProbe"]["httpGet"]["path"] == ready, name
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["metrics"] == int(configmap()["METRICS_PORT"]), name


def test_pods_run_unprivileged_on_a_read_only_root() -> None:
    for workload in workloads():
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert container["resources"]["limits"]


def test_the_migration_job_runs_the_handoff_image_and_the_service_does_not_migrate() -> None:
    (job,) = of_kind("Job")
    (container,) = pod_spec(job)["containers"]
    assert target_of(container) == "handoff"
    assert "DATABASE_URL" in secret_refs(container)
    assert "db.open" in " ".join(container["command"])


# --- network policies ------------------------------------------------------------------------------------------

OUTSIDE = {"ns": "ingress-nginx", "labels": {"app.kubernetes.io/name": "ingress-nginx"}}
MONITORING = {"ns": "monitoring", "labels": {"app.kubernetes.io/name": "prometheus"}}
STRANGER = {"ns": "default", "labels": {"app": "anything"}}
ACCOUNT_API = ipaddress.ip_address("10.20.1.10")  # inside the placeholder on-premise network of networkpolicy.yaml


def policies() -> list[dict[str, Any]]:
    return of_kind("NetworkPolicy")


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def peer_matches(peer: dict[str, Any], pod: dict[str, Any]) -> bool:
    if "ipBlock" in peer:
        return False
    ns_selector, pod_selector = peer.get("namespaceSelector"), peer.get("podSelector")
    if ns_selector is None:
        ns_ok = pod["ns"] == NAMESPACE
    else:
        ns_ok = selects(ns_selector, {"kubernetes.io/metadata.name": pod["ns"]})
    return ns_ok and (pod_selector is None or selects(pod_selector, pod["labels"]))


def port_matches(rule: dict[str, Any], port: int) -> bool:
    return "ports" not in rule or any(p.get("port") == port for p in rule["ports"])


def ingress_allowed(source: dict[str, Any], dest_labels: dict[str, str], port: int) -> bool:
    applying = [p for p in policies()
                if "Ingress" in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], dest_labels)]
    assert applying, f"no policy fences {dest_labels}"
    return any(peer_matches(peer, source) and port_matches(rule, port)
               for p in applying for rule in p["spec"].get("ingress", []) for peer in rule.get("from", []))


def egress_allowed(source_labels: dict[str, str], dest: dict[str, Any] | ipaddress.IPv4Address, port: int) -> bool:
    applying = [p for p in policies()
                if "Egress" in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], source_labels)]
    assert applying, f"no policy fences {source_labels}"
    for policy in applying:
        for rule in policy["spec"].get("egress", []):
            if not port_matches(rule, port):
                continue
            for peer in rule.get("to", []):
                if isinstance(dest, ipaddress.IPv4Address):
                    block = peer.get("ipBlock")
                    if block and dest in ipaddress.ip_network(block["cidr"]) and not any(
                            dest in ipaddress.ip_network(e) for e in block.get("except", [])):
                        return True
                elif peer_matches(peer, dest):
                    return True
    return False


def app(name: str) -> dict[str, Any]:
    return {"ns": NAMESPACE, "labels": {"app.kubernetes.io/name": name}}


def service_port(name: str) -> int:
    for doc in of_kind("Service"):
        if doc["metadata"]["name"] == name:
            return int(doc["spec"]["ports"][0]["port"])
    raise LookupError(name)


def test_the_namespace_denies_everything_by_default() -> None:
    defaults = [p for p in policies() if p["spec"]["podSelector"] == {} and not p["spec"].get("ingress")
                and not p["spec"].get("egress")]
    assert defaults and set(defaults[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}


def test_every_workload_is_selected_by_a_policy_of_its_own() -> None:
    for workload in workloads():
        labels = pod_labels(workload)
        own = [p for p in policies() if p["spec"]["podSelector"] != {} and selects(p["spec"]["podSelector"], labels)]
        assert own, f"{workload['metadata']['name']} has no NetworkPolicy of its own"


EXPECTED_CALLERS = {
    # destination: who may open a connection to its service port (the trust model of docs/security.md)
    "gateway": {"ingress-nginx"},
    "handoff": {"ingress-nginx", "actions"},
    "rasa": {"handoff"},
    "actions": {"rasa"},
}


@pytest.mark.parametrize("dest", sorted(EXPECTED_CALLERS))
def test_who_can_reach_each_service(dest: str) -> None:
    port = service_port(dest)
    callers = {name: app(name) for name in ("gateway", "rasa", "actions", "handoff", "handoff-migrate")}
    callers |= {"ingress-nginx": OUTSIDE, "monitoring": MONITORING, "stranger": STRANGER}
    reachable = set()
    for name, source in callers.items():
        allowed_in = ingress_allowed(source, app(dest)["labels"], port)
        allowed_out = source["ns"] != NAMESPACE or egress_allowed(source["labels"], app(dest), port)
        if allowed_in and allowed_out:
            reachable.add(name)
    assert reachable == EXPECTED_CALLERS[dest]


def test_only_prometheus_reaches_the_metrics_port() -> None:
    port = int(configmap()["METRICS_PORT"])
    for workload in workloads():
        labels = pod_labels(workload)
        assert ingress_allowed(MONITORING, labels, port), workload["metadata"]["name"]
        for source in (OUTSIDE, STRANGER, app("gateway"), app("handoff")):
            assert not ingress_allowed(source, labels, port), (workload["metadata"]["name"], source)


def test_only_the_action_server_reaches_the_account_api() -> None:
    for workload in workloads():
        name = pod_labels(workload)["app.kubernetes.io/name"]
        assert egress_allowed(pod_labels(workload), ACCOUNT_API, 443) == (name == "actions"), name
    assert ingress_allowed(app("actions"), {"app.kubernetes.io/name": "accounts-api"}, 8088)
    assert not ingress_allowed(app("rasa"), {"app.kubernetes.io/name": "accounts-api"}, 8088)


def test_every_pod_resolves_names_and_reaches_only_the_infrastructure_it_uses() -> None:
    dns = {"ns": "kube-system", "labels": {"k8s-app": "kube-dns"}}
    infra = {"rabbitmq": ({"ns": "rabbitmq-system", "labels": {}}, 5672),
             "redis": ({"ns": "redis", "labels": {}}, 6379),
             "postgres": ({"ns": "postgres", "labels": {}}, 5432)}
    uses = {"gateway": {"rabbitmq", "redis"}, "rasa": {"rabbitmq", "redis", "postgres"}, "actions": {"redis"},
            "handoff": {"rabbitmq", "redis", "postgres"}, "handoff-migrate": {"postgres"}}
    for workload in workloads():
        labels = pod_labels(workload)
        name = labels["app.kubernetes.io/name"]
        assert egress_allowed(labels, dns, 53), name
        reached = {what for what, (peer, port) in infra.items() if egress_allowed(labels, peer, port)}
        assert reached == uses[name], name


# --- ingress ---------------------------------------------------------------------------------------------------


def inbox_routes() -> set[str]:
    """The agent-facing routes of the inbox blueprint (handoff/inbox.py)."""
    source = (REPO_ROOT / "handoff" / "inbox.py").read_text()
    return set(re.findall(r'@bp\.(?:get|post|put|patch|delete|route)\(\s*"([^"]+)"', source))


def test_the_ingress_exposes_only_the_webhook_and_the_inbox() -> None:
    paths: dict[str, list[tuple[str, str]]] = {}
    for ingress in of_kind("Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                service = path["backend"]["service"]["name"]
                paths.setdefault(service, []).append((path["path"], path["pathType"]))
    assert set(paths) == {"gateway", "handoff"}
    assert paths["gateway"] == [("/webhooks/whatsapp/webhook", "Exact")]
    for path, _ in paths["handoff"]:
        assert not path.startswith(("/internal", "/health", "/metrics")), path

    def routed(route: str) -> bool:
        concrete = re.sub(r"<[^>]+>", "1", route)
        return any(concrete == p if kind == "Exact" else concrete.startswith(p) for p, kind in paths["handoff"])

    routes = inbox_routes()
    assert routes, "no routes found in handoff/inbox.py"
    assert {r for r in routes if not routed(r)} == set(), "inbox routes the Ingress does not expose"
    for hidden in ("/internal/events", "/internal/queue", "/health", "/health/ready", "/metrics"):
        assert not routed(hidden), hidden


# --- compose ---------------------------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_builds_known_targets_and_publishes_only_the_two_doors() -> None:
    services = compose()["services"]
    known = set(targets(DOCKERFILE))
    for name, service in services.items():
        if "build" in service:
            assert service["build"]["target"] in known, name
    published = {name for name, s in services.items() if s.get("ports") and not s.get("profiles")}
    assert published == {"rabbitmq", "gateway", "handoff"}  # rabbitmq: management UI on 127.0.0.1 only
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_compose_migrates_once_before_the_handoff_service() -> None:
    services = compose()["services"]
    (job,) = of_kind("Job")
    assert services["handoff-migrate"]["command"] == pod_spec(job)["containers"][0]["command"]
    assert services["handoff-migrate"]["restart"] == "no"
    assert services["handoff"]["depends_on"]["handoff-migrate"] == {"condition": "service_completed_successfully"}
    assert services["handoff"]["environment"]["HANDOFF_MIGRATE_AT_START"] == "false"


def test_compose_secrets_come_from_the_env_example() -> None:
    text = COMPOSE.read_text()
    example = {line.split("=", 1)[0] for line in ENV_EXAMPLE.read_text().splitlines() if "=" in line
               and not line.startswith("#")}
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    assert required <= example, required - example
    services = compose()["services"]
    assert services["rasa"]["environment"]["REST_CHANNEL_ENABLED"] == "false"
    assert "ACTION_SERVER_TOKEN" in services["rasa"]["environment"]
    assert "ACTION_SERVER_TOKEN" in services["actions"]["environment"]
    assert services["whatsapp-simulator"]["environment"]["WHATSAPP_SIM_WEBHOOK_URL"].startswith("http://gateway:")
