"""Check everything under deploy/ without Docker or a cluster (run by ``make lint``).

- deploy/docker-compose.yml against the Compose Specification JSON schema vendored in
  deploy/schema/, plus what the schema cannot see: services, volumes and networks named but not
  declared, bind-mounted files that do not exist, secrets written as literal values, and the
  names HAProxy, Prometheus and Grafana rely on (service `shopbot` on port 8080, mounted rules
  and dashboard).
- every manifest under deploy/k8s/ with kubernetes-validate (strict: unknown fields fail), plus
  the references between them: selectors, Services and ports, the HPA's target, ConfigMaps and
  Secrets (a Secret is never committed; one created out of band must be documented with its
  ``kubectl create secret`` command and every key it needs), and the health probes' paths.
- deploy/Dockerfile structurally: non-root USER, HEALTHCHECK on /health, models built at build
  time (``RUN shopbot setup``), the CPU build of PyTorch.

Exits 1 and prints one line per problem, 0 when all is well.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
# The oldest Kubernetes minor still supported by the big managed offerings when this was written.
K8S_VERSION = "1.30"

LIVENESS_PATH = "/health"
READINESS_PATH = "/health/ready"
METRICS_PATH = "/metrics"
APP_PORT = 8080
WORKLOAD_KINDS = {"Deployment", "StatefulSet"}
# Env var names that hold secret values. `*_ENV` settings hold the NAME of such a variable.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|(^|_)KEY($|_)", re.IGNORECASE)
# `${VAR:?message}` / `${VAR?message}`: compose interpolates it and fails when VAR is unset.
REQUIRED_INTERPOLATION = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*:?\?[^}]*\}$")
# Manifests by kind, then by name.
Index = dict[str, dict[str, tuple[Path, dict[str, Any]]]]


def _is_secret(name: str) -> bool:
    return SECRET_NAME.search(name) is not None and not name.endswith("_ENV")


class Problems:
    """Problems found so far, each prefixed with the file it is in."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.items: list[str] = []

    def add(self, path: Path, message: str) -> None:
        try:
            shown = path.relative_to(self.root)
        except ValueError:
            shown = path
        self.items.append(f"{shown}: {message}")


def _load_yaml(path: Path, problems: Problems) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        problems.add(path, f"cannot be read as YAML: {err}")
        return None


def _where(error: jsonschema.ValidationError) -> str:
    return "/".join(str(part) for part in error.absolute_path) or "(top level)"


# -- Compose -------------------------------------------------------------------------------------


def check_compose(root: Path, problems: Problems) -> None:
    deploy = root / "deploy"
    path = deploy / "docker-compose.yml"
    schema_path = deploy / "schema" / "compose-spec.json"
    if not path.is_file():
        problems.add(path, "missing")
        return
    compose = _load_yaml(path, problems)
    if compose is None:
        return
    try:
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        problems.add(schema_path, f"cannot be loaded: {err}")
        return
    # The spec declares draft-07 as "https://json-schema.org/draft-07/schema", a spelling
    # jsonschema does not recognise; name the draft instead of letting it guess.
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: [str(p) for p in e.absolute_path])
    for error in errors:
        message = error.message
        if error.validator == "additionalProperties":
            message = f"unknown key ({message})"
        problems.add(path, f"Compose schema: at {_where(error)}: {message}")
    if errors or not isinstance(compose, dict):
        return  # the cross-checks below assume the shape the schema guarantees

    services: dict[str, Any] = compose.get("services") or {}
    volumes = set(compose.get("volumes") or {})
    networks = set(compose.get("networks") or {}) | {"default"}
    for name, service in services.items():
        where = f"service `{name}`"
        depends = service.get("depends_on") or []
        for dep in depends if isinstance(depends, list) else list(depends):
            if dep not in services:
                problems.add(path, f"{where} depends on `{dep}`, which is not a service")
        nets = service.get("networks") or []
        for net in nets if isinstance(nets, list) else list(nets):
            if net not in networks:
                problems.add(path, f"{where} uses network `{net}`, which is not declared")
        for mount in service.get("volumes") or []:
            if isinstance(mount, str):
                source = mount.split(":", 1)[0] if ":" in mount else ""  # "/path": an anonymous volume
            else:
                source = mount.get("source", "")
            if source.startswith((".", "/")):
                if not (deploy / source).exists():
                    problems.add(path, f"{where} mounts {source}, which does not exist")
            elif source and source not in volumes:
                problems.add(path, f"{where} uses volume `{source}`, which is not declared")
        build = service.get("build")
        if isinstance(build, dict):
            context = deploy / build.get("context", ".")
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            if not dockerfile.is_file():
                problems.add(path, f"{where} builds from {build.get('dockerfile')}, which does not exist")
        for key, value in _environment(service.get("environment")):
            if _is_secret(key) and not (isinstance(value, str) and REQUIRED_INTERPOLATION.match(value)):
                problems.add(path, f"{where} sets secret {key} to a literal value; reference it "
                                   f"by name as ${{{key}:?...}} (from the environment or deploy/.env)")

    _check_compose_workers(deploy, path, services, problems)
    _check_prometheus(deploy, path, services, problems)
    _check_grafana(deploy, path, services, problems)


def _environment(env: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(env, dict):
        yield from env.items()
    elif isinstance(env, list):
        for item in env:
            key, _, value = str(item).partition("=")
            yield key, value


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host path (relative to deploy/) of a service's bind mounts."""
    found = {}
    for mount in service.get("volumes") or []:
        if isinstance(mount, str):
            parts = mount.split(":")
            if len(parts) >= 2 and parts[0].startswith((".", "/")):
                found[parts[1]] = parts[0]
        elif mount.get("type") == "bind":
            found[mount["target"]] = mount["source"]
    return found


def _check_compose_workers(deploy: Path, path: Path, services: dict[str, Any], problems: Problems) -> None:
    haproxy_cfg = deploy / "haproxy" / "haproxy.cfg"
    if haproxy_cfg.is_file():
        for host, port in re.findall(r"^\s*server-template\s+\S+\s+\S+\s+([\w.-]+):(\d+)",
                                     haproxy_cfg.read_text(encoding="utf-8"), re.MULTILINE):
            if host not in services:
                problems.add(path, f"haproxy.cfg balances `{host}`, which is not a compose service")
            elif int(port) != APP_PORT:
                problems.add(path, f"haproxy.cfg sends to port {port}; workers listen on {APP_PORT}")
    worker = services.get("shopbot")
    if worker is None:
        problems.add(path, "no service named `shopbot` (HAProxy and Prometheus find the workers by it)")
        return
    env = dict(_environment(worker.get("environment")))
    if str(env.get("SHOPBOT_HOST")) != "0.0.0.0":
        problems.add(path, "service `shopbot` must set SHOPBOT_HOST=0.0.0.0 (127.0.0.1 is unreachable "
                           "from other containers)")
    test = (worker.get("healthcheck") or {}).get("test")
    if not _hits(test, LIVENESS_PATH):
        problems.add(path, f"service `shopbot` needs a healthcheck on {LIVENESS_PATH}")


def _hits(test: Any, url_path: str) -> bool:
    """Whether a healthcheck command requests exactly ``url_path`` on the app's port."""
    text = " ".join(test) if isinstance(test, list) else str(test or "")
    return re.search(rf":{APP_PORT}{re.escape(url_path)}(?![\w/])", text) is not None


def _mounted(deploy: Path, path: Path, services: dict[str, Any], name: str, target: str,
             problems: Problems) -> tuple[dict[str, str], Path] | None:
    """The bind mounts of service ``name`` and the host path mounted at ``target``.

    None when the service is absent, or (a problem) when it does not mount ``target``.
    """
    service = services.get(name)
    if service is None:
        return None
    mounts = _mounts(service)
    source = mounts.get(target)
    if source is None:
        problems.add(path, f"service `{name}` does not mount {target}")
        return None
    return mounts, (deploy / source).resolve()


def _check_prometheus(deploy: Path, path: Path, services: dict[str, Any], problems: Problems) -> None:
    found = _mounted(deploy, path, services, "prometheus", "/etc/prometheus/prometheus.yml", problems)
    if found is None:
        return
    mounts, config_path = found
    config = _load_yaml(config_path, problems) if config_path.is_file() else None
    if not isinstance(config, dict):
        return
    for rule_file in config.get("rule_files") or []:
        if rule_file not in mounts:
            problems.add(config_path, f"rule file {rule_file} is not mounted into the prometheus service")
    scraped = False
    for job in config.get("scrape_configs") or []:
        for sd in job.get("dns_sd_configs") or []:
            for name in sd.get("names") or []:
                if name not in services:
                    problems.add(config_path, f"job `{job.get('job_name')}` scrapes `{name}`, "
                                              f"which is not a compose service")
                if name == "shopbot":
                    scraped = True
                    if sd.get("port") != APP_PORT or job.get("metrics_path", METRICS_PATH) != METRICS_PATH:
                        problems.add(config_path, f"the shopbot job must scrape port {APP_PORT} "
                                                  f"at {METRICS_PATH}")
    if not scraped:
        problems.add(config_path, "no dns_sd_configs job scrapes the `shopbot` replicas")


def _check_grafana(deploy: Path, path: Path, services: dict[str, Any], problems: Problems) -> None:
    found = _mounted(deploy, path, services, "grafana", "/etc/grafana/provisioning", problems)
    if found is None:
        return
    mounts, provisioning_dir = found
    provided = set()
    for source_file in sorted((provisioning_dir / "datasources").glob("*.y*ml")):
        config = _load_yaml(source_file, problems) or {}
        provided |= {d.get("type") for d in config.get("datasources") or []}
    dashboards = [target for target in mounts if target.endswith(".json")]
    providers = []
    for provider_file in sorted((provisioning_dir / "dashboards").glob("*.y*ml")):
        config = _load_yaml(provider_file, problems) or {}
        providers += [p.get("options", {}).get("path", "") for p in config.get("providers") or []]
    for target in dashboards:
        if not any(target.startswith(folder.rstrip("/") + "/") for folder in providers):
            problems.add(path, f"dashboard {target} is mounted outside every provisioned dashboard folder")
        dashboard_path = (deploy / mounts[target]).resolve()
        try:
            dashboard = json.loads(dashboard_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            problems.add(dashboard_path, f"is not a readable dashboard: {err}")
            continue
        wanted = {item["id"] for item in dashboard.get("__requires", []) if item.get("type") == "datasource"}
        for kind in sorted(wanted - provided):
            problems.add(provisioning_dir, f"{dashboard_path.name} needs a `{kind}` data source; "
                                           f"none is provisioned")
    if not dashboards:
        problems.add(path, "service `grafana` mounts no dashboard JSON (monitoring/grafana/)")


# -- Kubernetes ----------------------------------------------------------------------------------


def _manifests(k8s: Path, problems: Problems) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted([*k8s.glob("*.yaml"), *k8s.glob("*.yml")]):
        try:
            docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (OSError, yaml.YAMLError) as err:
            problems.add(path, f"cannot be read as YAML: {err}")
            continue
        for doc in docs:
            if doc is None:
                continue
            if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
                problems.add(path, "a document without `apiVersion` and `kind`")
                continue
            yield path, doc


def check_k8s(root: Path, problems: Problems, version: str = K8S_VERSION) -> None:
    k8s = root / "deploy" / "k8s"
    if not k8s.is_dir():
        problems.add(k8s, "missing")
        return
    objects: list[tuple[Path, dict[str, Any]]] = []
    kustomization: tuple[Path, dict[str, Any]] | None = None
    for path, doc in _manifests(k8s, problems):
        if doc["kind"] == "Kustomization":
            kustomization = (path, doc)
            continue
        name = doc.get("metadata", {}).get("name", "?")
        try:
            kubernetes_validate.validate(doc, desired_version=version, strict=True)
        except kubernetes_validate.ValidationError as err:
            problems.add(path, f"{doc['kind']}/{name} is not valid Kubernetes {err.version}: "
                               f"at {_where(err)}: {err.message}")
        except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as err:
            problems.add(path, f"{doc['kind']}/{name}: {err.message}")
        objects.append((path, doc))
    if kustomization is not None:
        listed = set(kustomization[1].get("resources") or [])
        files = {path.name for path, _ in objects}
        for missing in sorted(listed - {p.name for p in k8s.iterdir()}):
            problems.add(kustomization[0], f"lists {missing}, which does not exist")
        for unlisted in sorted(files - listed):
            problems.add(kustomization[0], f"does not list {unlisted}")
    by_kind: Index = {}
    for path, doc in objects:
        by_kind.setdefault(doc["kind"], {})[doc.get("metadata", {}).get("name", "?")] = (path, doc)
    documented = _documented_secrets(k8s)
    for name, (_, doc) in by_kind.get("Secret", {}).items():
        documented.setdefault(name, set()).update(doc.get("data") or {}, doc.get("stringData") or {})
    for path, doc in by_kind.get("Secret", {}).values():
        if doc.get("data") or doc.get("stringData"):
            problems.add(path, f"Secret/{doc['metadata'].get('name')} holds values: never commit secrets; "
                               f"document its `kubectl create secret` command instead")
    for path, doc in by_kind.get("ConfigMap", {}).values():
        for key in doc.get("data") or {}:
            if _is_secret(key):
                problems.add(path, f"ConfigMap/{doc['metadata']['name']} holds {key}; "
                                   f"secrets belong in a Secret")
    workloads = [(p, d) for kind in WORKLOAD_KINDS for p, d in by_kind.get(kind, {}).values()]
    if not workloads:
        problems.add(k8s, "no Deployment or StatefulSet")
    for path, doc in workloads:
        _check_workload(path, doc, by_kind, documented, problems)
    _check_services(by_kind, workloads, problems)
    for path, doc in by_kind.get("Ingress", {}).values():
        _check_ingress(path, doc, by_kind, documented, problems)
    for path, doc in by_kind.get("HorizontalPodAutoscaler", {}).values():
        target = (doc.get("spec") or {}).get("scaleTargetRef") or {}
        if target.get("name") not in by_kind.get(target.get("kind", ""), {}):
            problems.add(path, f"HorizontalPodAutoscaler targets {target.get('kind')}/{target.get('name')}, "
                               f"which is not among the manifests")
    for path, doc in by_kind.get("PodDisruptionBudget", {}).values():
        selector = ((doc.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        if not any(_selects(selector, _pod_labels(w)) for _, w in workloads):
            problems.add(path, f"PodDisruptionBudget/{doc['metadata']['name']} selects no workload's pods")


def _documented_secrets(k8s: Path) -> dict[str, set[str]]:
    """Secrets created out of band: name -> keys, from `kubectl create secret` comments."""
    found: dict[str, set[str]] = {}
    for path in sorted([*k8s.glob("*.yaml"), *k8s.glob("*.yml")]):
        comments = "\n".join(line.lstrip()[1:] for line in path.read_text(encoding="utf-8").splitlines()
                             if line.lstrip().startswith("#"))
        # One command may span several comment lines joined by backslashes.
        comments = re.sub(r"\\\s*\n", " ", comments)
        for kind, name, rest in re.findall(r"kubectl create secret (\w+) ([\w.-]+)([^\n]*)", comments):
            keys = set(re.findall(r"--from-(?:literal|file)=([\w.-]+)=", rest))
            if kind == "tls":
                keys |= {"tls.crt", "tls.key"}
            found.setdefault(name, set()).update(keys)
    return found


def _pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return (((workload.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _check_workload(path: Path, doc: dict[str, Any], by_kind: Index, documented: dict[str, set[str]],
                    problems: Problems) -> None:
    name = f"{doc['kind']}/{doc['metadata'].get('name')}"
    spec = doc.get("spec") or {}
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    if not _selects(selector, _pod_labels(doc)):
        problems.add(path, f"{name}: spec.selector.matchLabels must match the pod template's labels")
    pod = (spec.get("template") or {}).get("spec") or {}
    if pod.get("enableServiceLinks") is not False:
        problems.add(path, f"{name}: set enableServiceLinks: false (a Service named `shopbot` would "
                           f"inject SHOPBOT_PORT=tcp://..., which the app reads as its port)")
    if doc["kind"] == "StatefulSet":
        service = spec.get("serviceName")
        if service not in by_kind.get("Service", {}):
            problems.add(path, f"{name}: serviceName `{service}` is not among the manifests")
    configmaps = by_kind.get("ConfigMap", {})
    for container in pod.get("containers") or []:
        where = f"{name} container `{container.get('name')}`"
        ports = {p.get("name"): p.get("containerPort") for p in container.get("ports") or []}
        for probe, expected in (("livenessProbe", LIVENESS_PATH), ("readinessProbe", READINESS_PATH)):
            get = (container.get(probe) or {}).get("httpGet")
            if not get:
                problems.add(path, f"{where}: {probe} must be an httpGet on {expected}")
                continue
            port = ports.get(get.get("port"), get.get("port"))
            if get.get("path") != expected or port != APP_PORT:
                problems.add(path, f"{where}: {probe} requests {get.get('path')} on port {port}; "
                                   f"it must request {expected} on {APP_PORT}")
        for source in container.get("envFrom") or []:
            ref = source.get("configMapRef") or source.get("secretRef") or {}
            if "configMapRef" in source and ref.get("name") not in configmaps:
                problems.add(path, f"{where}: ConfigMap `{ref.get('name')}` is not among the manifests")
            if "secretRef" in source and ref.get("name") not in documented:
                problems.add(path, f"{where}: Secret `{ref.get('name')}` is neither a manifest "
                                   f"nor documented with `kubectl create secret`")
        for var in container.get("env") or []:
            ref_from = var.get("valueFrom") or {}
            if _is_secret(var["name"]) and "secretKeyRef" not in ref_from:
                problems.add(path, f"{where}: {var['name']} must come from a Secret (secretKeyRef), "
                                   f"not a value")
            if "secretKeyRef" in ref_from:
                secret, key = ref_from["secretKeyRef"].get("name"), ref_from["secretKeyRef"].get("key")
                if secret not in documented:
                    problems.add(path, f"{where}: Secret `{secret}` (for {var['name']}) is neither a "
                                       f"manifest nor documented with `kubectl create secret generic "
                                       f"{secret} ...`")
                elif key not in documented[secret]:
                    problems.add(path, f"{where}: key `{key}` of Secret `{secret}` is missing from its "
                                       f"documented `kubectl create secret` command")
            if "configMapKeyRef" in ref_from:
                cm, key = ref_from["configMapKeyRef"].get("name"), ref_from["configMapKeyRef"].get("key")
                if cm not in configmaps:
                    problems.add(path, f"{where}: ConfigMap `{cm}` is not among the manifests")
                elif key not in (configmaps[cm][1].get("data") or {}):
                    problems.add(path, f"{where}: ConfigMap `{cm}` has no key `{key}`")


def _check_services(by_kind: Index,
                    workloads: list[tuple[Path, dict[str, Any]]], problems: Problems) -> None:
    for path, doc in by_kind.get("Service", {}).values():
        spec = doc.get("spec") or {}
        targets = [w for _, w in workloads if _selects(spec.get("selector") or {}, _pod_labels(w))]
        if not targets:
            problems.add(path, f"Service/{doc['metadata']['name']} selects no workload's pods")
            continue
        ports: dict[Any, Any] = {}
        for workload in targets:
            pod = (workload["spec"].get("template") or {}).get("spec") or {}
            for container in pod.get("containers") or []:
                for port in container.get("ports") or []:
                    ports[port.get("name")] = port.get("containerPort")
                    ports[port.get("containerPort")] = port.get("containerPort")
        for port in spec.get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            if target not in ports:
                problems.add(path, f"Service/{doc['metadata']['name']} targets port {target}, "
                                   f"which no selected container declares")


def _check_ingress(path: Path, doc: dict[str, Any], by_kind: Index, documented: dict[str, set[str]],
                   problems: Problems) -> None:
    spec = doc.get("spec") or {}
    services = by_kind.get("Service", {})
    for tls in spec.get("tls") or []:
        secret = tls.get("secretName")
        if secret and secret not in documented:
            problems.add(path, f"Ingress TLS Secret `{secret}` is neither a manifest nor documented "
                               f"with `kubectl create secret tls {secret} ...`")
    for rule in spec.get("rules") or []:
        for entry in (rule.get("http") or {}).get("paths") or []:
            backend = (entry.get("backend") or {}).get("service") or {}
            name, port = backend.get("name"), backend.get("port") or {}
            if name not in services:
                problems.add(path, f"Ingress backend Service `{name}` is not among the manifests")
                continue
            declared = [(p.get("name"), p.get("port")) for p in services[name][1]["spec"].get("ports") or []]
            if not any(port.get("name") == n or port.get("number") == num for n, num in declared):
                problems.add(path, f"Ingress backend port {port} is not a port of Service `{name}`")


# -- Dockerfile ----------------------------------------------------------------------------------


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
    return out


def check_dockerfile(root: Path, problems: Problems) -> None:
    path = root / "deploy" / "Dockerfile"
    if not path.is_file():
        problems.add(path, "missing")
        return
    steps = _instructions(path.read_text(encoding="utf-8"))

    def args(word: str) -> list[str]:
        return [rest for instruction, rest in steps if instruction == word]

    if not any(rest.startswith("python:3.11") for rest in args("FROM")):
        problems.add(path, "must build FROM python:3.11 (the project's Python)")
    users = args("USER")
    if not users or users[-1].split(":")[0] in {"root", "0"}:
        problems.add(path, "must switch to a non-root USER")
    if not any(_hits(rest, LIVENESS_PATH) for rest in args("HEALTHCHECK")):
        problems.add(path, f"needs a HEALTHCHECK on http://127.0.0.1:{APP_PORT}{LIVENESS_PATH}")
    runs = args("RUN")
    if not any(re.search(r"(^|&&|;)\s*shopbot setup\b", rest) for rest in runs):
        problems.add(path, "must build models at image build time: RUN shopbot setup")
    if not any("torch==" in rest and "download.pytorch.org/whl/cpu" in rest for rest in runs):
        problems.add(path, "must install the pinned CPU build of torch (--index-url .../whl/cpu)")
    if str(APP_PORT) not in " ".join(args("EXPOSE")).split():
        problems.add(path, f"must EXPOSE {APP_PORT}")
    if not args("CMD") or "shopbot" not in args("CMD")[-1] or "run" not in args("CMD")[-1]:
        problems.add(path, 'must end with CMD ["shopbot", "run"]')
    for rest in args("COPY"):
        sources = [part for part in rest.split() if not part.startswith("--")][:-1]
        for source in sources:
            if not (root / source).exists():
                problems.add(path, f"COPY {source}: no such path in the build context (the repository root)")


def validate(root: Path = REPO_ROOT, k8s_version: str = K8S_VERSION) -> list[str]:
    """Every problem found under ``root``/deploy, as ``file: message`` lines (empty: all good)."""
    problems = Problems(root)
    check_compose(root, problems)
    check_k8s(root, problems, k8s_version)
    check_dockerfile(root, problems)
    return problems.items


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root (default: this one)")
    parser.add_argument("--k8s-version", default=K8S_VERSION,
                        help=f"Kubernetes version to validate against (default {K8S_VERSION})")
    args = parser.parse_args(list(argv) if argv is not None else None)
    found = validate(args.root.resolve(), args.k8s_version)
    for line in found:
        print(f"deploy: {line}", file=sys.stderr)
    if found:
        print(f"deploy: {len(found)} problem(s)", file=sys.stderr)
        return 1
    print("deploy: docker-compose.yml, k8s/ and Dockerfile are valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
