"""scripts/validate_deploy.py passes the shipped deploy/ and fails broken copies of it, saying why."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "validate_deploy.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("validate_deploy", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


validate_deploy = _load()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A repository copy whose deploy/ and monitoring/ can be broken; the rest is linked."""
    shutil.copytree(REPO / "deploy", tmp_path / "deploy")
    shutil.copytree(REPO / "monitoring" / "prometheus", tmp_path / "monitoring" / "prometheus")
    shutil.copytree(REPO / "monitoring" / "grafana", tmp_path / "monitoring" / "grafana")
    for name in ("core", "bot", "retrieval", "actions", "data", "web", "pyproject.toml", "README.md"):
        (tmp_path / name).symlink_to(REPO / name)
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path} any more: update the test"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def problems(root: Path) -> str:
    found = validate_deploy.validate(root)
    assert found, "the broken copy passed validation"
    return "\n".join(found)


def test_the_shipped_files_are_valid() -> None:
    assert validate_deploy.validate(REPO) == []


def test_an_unchanged_copy_is_valid(root: Path) -> None:
    assert validate_deploy.validate(root) == []


def test_the_command_exits_non_zero_and_names_the_problem(root: Path) -> None:
    ok = subprocess.run([sys.executable, str(SCRIPT), "--root", str(root)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    edit(root / "deploy" / "k8s" / "hpa.yaml", "maxReplicas: 6", "maxReplicas: six")
    bad = subprocess.run([sys.executable, str(SCRIPT), "--root", str(root)], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "deploy/k8s/hpa.yaml: HorizontalPodAutoscaler/shopbot is not valid Kubernetes" in bad.stderr
    assert "maxReplicas" in bad.stderr and "1 problem(s)" in bad.stderr


# -- Compose -------------------------------------------------------------------------------------


def test_a_compose_service_with_an_unknown_key_fails(root: Path) -> None:
    edit(root / "deploy" / "docker-compose.yml", "    stop_grace_period: 45s", "    stop_grace_periods: 45s")
    assert "Compose schema: at services/shopbot: unknown key ('stop_grace_periods'" in problems(root)


def test_a_compose_value_of_the_wrong_type_fails(root: Path) -> None:
    edit(root / "deploy" / "docker-compose.yml", "replicas: 3", "replicas: {count: 3}")
    assert "Compose schema: at services/shopbot/deploy/replicas" in problems(root)


def test_a_literal_password_in_compose_fails(root: Path) -> None:
    compose = root / "deploy" / "docker-compose.yml"
    text = compose.read_text(encoding="utf-8")
    old = "      POSTGRES_PASSWORD: ${SHOPBOT_DB_PASSWORD:?"
    line = next(line for line in text.splitlines() if line.startswith(old))
    compose.write_text(text.replace(line, "      POSTGRES_PASSWORD: hunter2"), encoding="utf-8")
    assert "service `postgres` sets secret POSTGRES_PASSWORD to a literal value" in problems(root)


def test_renaming_the_worker_service_breaks_haproxy_and_prometheus(root: Path) -> None:
    compose = root / "deploy" / "docker-compose.yml"
    edit(compose, "\n  shopbot:\n", "\n  worker:\n")
    found = problems(root)
    assert "service `haproxy` depends on `shopbot`, which is not a service" in found
    assert "haproxy.cfg balances `shopbot`, which is not a compose service" in found
    assert "job `shopbot` scrapes `shopbot`, which is not a compose service" in found


def test_an_undeclared_named_volume_fails(root: Path) -> None:
    edit(root / "deploy" / "docker-compose.yml", "\n  journal:\n", "\n")
    assert "service `shopbot` uses volume `journal`, which is not declared" in problems(root)


def test_a_missing_bind_mount_source_fails(root: Path) -> None:
    (root / "monitoring" / "prometheus" / "alerts.yml").unlink()
    assert "mounts ../monitoring/prometheus/alerts.yml, which does not exist" in problems(root)


def test_prometheus_scraping_the_wrong_port_fails(root: Path) -> None:
    edit(root / "deploy" / "prometheus" / "prometheus.yml", "port: 8080", "port: 80")
    assert "the shopbot job must scrape port 8080 at /metrics" in problems(root)


def test_a_dashboard_outside_the_provisioned_folder_fails(root: Path) -> None:
    edit(root / "deploy" / "grafana" / "provisioning" / "dashboards" / "shopbot.yml",
         "path: /etc/grafana/dashboards", "path: /var/lib/grafana/dashboards")
    assert "is mounted outside every provisioned dashboard folder" in problems(root)


def test_a_worker_healthcheck_on_the_wrong_path_fails(root: Path) -> None:
    edit(root / "deploy" / "docker-compose.yml", "http://127.0.0.1:8080/health'", "http://127.0.0.1:8080/healthz'")
    assert "service `shopbot` needs a healthcheck on /health" in problems(root)


# -- Kubernetes ----------------------------------------------------------------------------------


STATEFULSET = Path("deploy") / "k8s" / "statefulset.yaml"


def test_a_workload_without_a_selector_fails(root: Path) -> None:
    edit(root / STATEFULSET, "  selector:\n    matchLabels:\n      app.kubernetes.io/name: shopbot\n", "")
    found = problems(root)
    assert "StatefulSet/shopbot is not valid Kubernetes 1.30: at spec: 'selector' is a required property" \
        in found


def test_an_unknown_field_fails_in_strict_mode(root: Path) -> None:
    edit(root / STATEFULSET, "          image: registry",
         "          imagePullPolicyy: Always\n          image: registry")
    assert "at spec/template/spec/containers/0: Additional properties are not allowed" in problems(root)


@pytest.mark.parametrize(("old", "new", "message"), [
    ("path: /health/ready", "path: /ready",
     "readinessProbe requests /ready on port 8080; it must request /health/ready on 8080"),
    ("          livenessProbe:\n            httpGet:\n              path: /health\n",
     "          livenessProbe:\n            httpGet:\n              path: /health/ready\n",
     "livenessProbe requests /health/ready on port 8080; it must request /health on 8080"),
])
def test_a_probe_on_the_wrong_path_fails(root: Path, old: str, new: str, message: str) -> None:
    edit(root / STATEFULSET, old, new)
    assert message in problems(root)


def test_a_probe_on_the_wrong_port_fails(root: Path) -> None:
    edit(root / STATEFULSET, "              containerPort: 8080", "              containerPort: 9000")
    assert "readinessProbe requests /health/ready on port 9000" in problems(root)


def test_a_secret_key_not_in_the_documented_command_fails(root: Path) -> None:
    edit(root / STATEFULSET, "#     --from-literal=pseudonym-secret=...\n", "")
    edit(root / STATEFULSET, "--from-literal=identity-secret=... \\", "--from-literal=identity-secret=...")
    found = problems(root)
    assert "key `pseudonym-secret` of Secret `shopbot-secrets` is missing from its documented" in found


def test_an_undocumented_secret_fails(root: Path) -> None:
    edit(root / STATEFULSET, "#   kubectl create secret generic shopbot-secrets", "#   (ask ops)")
    found = problems(root)
    assert "Secret `shopbot-secrets` (for SHOPBOT_DB_PASSWORD) is neither a manifest nor documented" in found


def test_a_committed_secret_with_values_fails(root: Path) -> None:
    (root / "deploy" / "k8s" / "secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: shopbot-secrets\n"
        "stringData:\n  db-password: hunter2\n", encoding="utf-8")
    edit(root / "deploy" / "k8s" / "kustomization.yaml", "  - pdb.yaml\n", "  - pdb.yaml\n  - secret.yaml\n")
    assert "Secret/shopbot-secrets holds values: never commit secrets" in problems(root)


def test_a_secret_passed_as_a_plain_value_fails(root: Path) -> None:
    edit(root / STATEFULSET,
         "            - name: SHOPBOT_DB_PASSWORD\n              valueFrom:\n                secretKeyRef:\n"
         "                  name: shopbot-secrets\n                  key: db-password\n",
         "            - name: SHOPBOT_DB_PASSWORD\n              value: hunter2\n")
    assert "SHOPBOT_DB_PASSWORD must come from a Secret (secretKeyRef), not a value" in problems(root)


def test_a_missing_configmap_fails(root: Path) -> None:
    edit(root / "deploy" / "k8s" / "configmap.yaml", "name: shopbot-config", "name: shopbot-settings")
    assert "ConfigMap `shopbot-config` is not among the manifests" in problems(root)


def test_an_hpa_aimed_at_a_missing_workload_fails(root: Path) -> None:
    edit(root / "deploy" / "k8s" / "hpa.yaml", "kind: StatefulSet", "kind: Deployment")
    found = problems(root)
    assert "HorizontalPodAutoscaler targets Deployment/shopbot, which is not among the manifests" in found


def test_a_service_on_an_undeclared_port_fails(root: Path) -> None:
    edit(root / "deploy" / "k8s" / "service.yaml", "port: 80\n      targetPort: http",
         "port: 80\n      targetPort: web")
    assert "Service/shopbot targets port web, which no selected container declares" in problems(root)


def test_service_links_left_on_fail(root: Path) -> None:
    edit(root / STATEFULSET, "      enableServiceLinks: false\n", "")
    assert "set enableServiceLinks: false" in problems(root)


def test_a_manifest_missing_from_the_kustomization_fails(root: Path) -> None:
    edit(root / "deploy" / "k8s" / "kustomization.yaml", "  - pdb.yaml\n", "")
    assert "kustomization.yaml: does not list pdb.yaml" in problems(root)


# -- Dockerfile ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new", "message"), [
    ("USER shopbot\n", "", "must switch to a non-root USER"),
    ("RUN shopbot setup\n", "", "must build models at image build time: RUN shopbot setup"),
    ("http://127.0.0.1:8080/health'", "http://127.0.0.1:8080/'", "needs a HEALTHCHECK on"),
    ("COPY web ./web", "COPY webroot ./web", "COPY webroot: no such path in the build context"),
])
def test_a_broken_dockerfile_fails(root: Path, old: str, new: str, message: str) -> None:
    edit(root / "deploy" / "Dockerfile", old, new)
    assert message in problems(root)
