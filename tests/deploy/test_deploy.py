"""deploy/ checked offline (no Docker engine, no cluster): what can be validated without running.

Every YAML parses; Kubernetes objects have their required fields, probes on /readyz and
/healthz, resources and non-root security contexts, and refer to objects that exist; compose
services have images or build contexts that exist and wait for healthy dependencies; every
HEARTH_* name in the deploy files is one the code reads; the Dockerfile installs exactly as the
Makefile does; the systemd unit carries its hardening keys (and `systemd-analyze verify` accepts
it when the tool is installed); the container health check script tells 200 from the rest.
"""

from __future__ import annotations

import http.server
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from app.cli import cli
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
DOCKERFILE = DEPLOY / "Dockerfile"
UNIT = DEPLOY / "systemd" / "hearth.service"
CONFIG_FILES = [
    DOCKERFILE,
    DEPLOY / "compose.yaml",
    UNIT,
    *sorted(K8S.rglob("*.yaml")),
]
WORKLOADS = {"Deployment", "Job", "StatefulSet", "DaemonSet"}
HEARTH_NAME = re.compile(r"\bHEARTH_[A-Z0-9_]+\b")


def yaml_documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def k8s_objects() -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, doc)
        for path in sorted(K8S.rglob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml_documents(path)
    ]


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


# -- YAML -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", sorted(DEPLOY.rglob("*.yaml")), ids=lambda p: str(p.relative_to(DEPLOY))
)
def test_every_yaml_file_parses_to_mappings(path):
    documents = yaml_documents(path)
    assert documents, f"{path} is empty"
    assert all(isinstance(doc, dict) for doc in documents)


# -- Kubernetes -------------------------------------------------------------------------------


def test_every_manifest_has_api_version_kind_and_name():
    objects = k8s_objects()
    assert {obj["kind"] for _, obj in objects} >= {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "ConfigMap",
        "Secret",
        "PersistentVolumeClaim",
        "Job",
    }
    for path, obj in objects:
        assert obj.get("apiVersion") and obj.get("kind"), path
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", obj["metadata"]["name"]), path


@pytest.mark.parametrize(
    "path,obj",
    [(p, o) for p, o in k8s_objects() if o["kind"] in WORKLOADS],
    ids=lambda value: value.name if isinstance(value, Path) else value["metadata"]["name"],
)
def test_workloads_run_as_non_root_with_resources(path, obj):
    spec = pod_spec(obj)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert spec["automountServiceAccountToken"] is False
    for container in spec["containers"]:
        assert container["image"], path
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), path
        assert "memory" in resources["limits"], path
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"]["drop"] == ["ALL"]
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        assert "/tmp" in mounts, "a read-only root needs a writable /tmp"
        declared = {v["name"] for v in spec.get("volumes", [])}
        assert {m["name"] for m in container.get("volumeMounts", [])} <= declared


def hearth_servers() -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, obj)
        for path, obj in k8s_objects()
        if obj["kind"] == "Deployment"
        and any(c.get("args", [])[:1] == ["serve"] for c in pod_spec(obj)["containers"])
    ]


def test_hearth_deployments_probe_readyz_and_healthz():
    servers = hearth_servers()
    assert len(servers) == 2, "the scaled-out and the embedded Deployment"
    for path, obj in servers:
        (container,) = pod_spec(obj)["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert container["args"] == ["serve", "--host", "0.0.0.0", "--port", str(ports["http"])]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", path
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", path
        # /readyz waits for the model server too: a startup probe on it would restart the
        # scaled-out replicas in a loop while that server is down
        startup = "/readyz" if path.parent.name == "embedded" else "/healthz"
        assert container["startupProbe"]["httpGet"]["path"] == startup, path
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            assert container[probe]["httpGet"]["port"] in ports, path


def test_the_embedded_deployment_is_one_pod_on_a_claimed_volume():
    (obj,) = [o for p, o in hearth_servers() if p.parent.name == "embedded"]
    assert obj["spec"]["replicas"] == 1
    assert obj["spec"]["strategy"]["type"] == "Recreate"
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for v in pod_spec(obj)["volumes"]
        if "persistentVolumeClaim" in v
    }
    pvcs = {o["metadata"]["name"] for p, o in k8s_objects() if o["kind"] == "PersistentVolumeClaim"}
    assert claims and claims <= pvcs


def test_references_between_manifests_resolve():
    for folder in (K8S, K8S / "embedded"):
        objects = [o for p, o in k8s_objects() if p.parent == folder]
        names = {(o["kind"], o["metadata"]["name"]) for o in objects}
        pods = [
            (o["spec"]["template"]["metadata"]["labels"], pod_spec(o))
            for o in objects
            if o["kind"] in WORKLOADS
        ]
        for obj in objects:
            if obj["kind"] == "Service":
                selector = obj["spec"]["selector"]
                matching = [
                    spec
                    for labels, spec in pods
                    if selector.items() <= labels.items() and "Job" not in str(labels)
                ]
                assert matching, f"Service {obj['metadata']['name']} selects no pod in {folder}"
                ports = {
                    p["name"] for spec in matching for c in spec["containers"] for p in c["ports"]
                }
                assert {p["targetPort"] for p in obj["spec"]["ports"]} <= ports
            if obj["kind"] == "HorizontalPodAutoscaler":
                target = obj["spec"]["scaleTargetRef"]
                assert (target["kind"], target["name"]) in names
                assert obj["spec"]["minReplicas"] <= obj["spec"]["maxReplicas"]
        for _, spec in pods:
            for container in spec["containers"]:
                for source in container.get("envFrom", []):
                    if "configMapRef" in source:
                        assert ("ConfigMap", source["configMapRef"]["name"]) in names
                    if "secretRef" in source:
                        assert ("Secret", source["secretRef"]["name"]) in names
                for env in container.get("env", []):
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        assert ("Secret", ref["name"]) in names


@pytest.mark.parametrize("folder", [K8S, K8S / "embedded"], ids=["scaled-out", "embedded"])
def test_kustomization_lists_existing_files(folder):
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert all((folder / name).is_file() for name in listed)
    # Everything but the one-shot ingest Job is applied with `kubectl apply -k`.
    others = {p.name for p in folder.glob("*.yaml")} - {"kustomization.yaml", "ingest-job.yaml"}
    assert others == listed
    assert (folder / "ingest-job.yaml").is_file()


def test_the_hpa_scales_only_the_stateless_deployment():
    hpas = [(p, o) for p, o in k8s_objects() if o["kind"] == "HorizontalPodAutoscaler"]
    assert hpas and all(p.parent == K8S for p, _ in hpas)


def test_secrets_hold_only_placeholders():
    for _, obj in k8s_objects():
        if obj["kind"] == "Secret":
            assert all("CHANGE-ME" in str(value) for value in obj["stringData"].values())


# -- compose ----------------------------------------------------------------------------------


def test_compose_services_have_images_or_existing_build_contexts():
    services = compose()["services"]
    assert {"hearth", "postgres", "llm", "ingest"} <= set(services)
    for name, service in services.items():
        assert service.get("image") or service.get("build"), name
        if "build" in service:
            context = (DEPLOY / service["build"]["context"]).resolve()
            assert context.is_dir(), name
            assert (context / service["build"]["dockerfile"]).resolve() == DOCKERFILE
    assert re.fullmatch(r"pgvector/pgvector:pg1[5-9]", services["postgres"]["image"])


def test_compose_dependencies_wait_for_health_checks():
    services = compose()["services"]
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, name
            assert condition == {"condition": "service_healthy"}, name
            assert services[dependency].get("healthcheck", {}).get("test"), dependency
    assert set(services["hearth"]["depends_on"]) == {"postgres", "llm"}
    assert "/readyz" in " ".join(services["hearth"]["healthcheck"]["test"])
    assert services["ingest"]["profiles"] == ["ingest"]


def test_compose_volumes_and_networks_are_declared():
    data = compose()
    for name, service in data["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if not source.startswith(("$", ".", "/")):
                assert source in data["volumes"], f"{name}: volume {source} not declared"
        assert set(service.get("networks", [])) <= set(data["networks"]), name
    assert data["networks"]["backend"]["internal"] is True
    # Only Hearth is published, and only on loopback.
    published = {n: s["ports"] for n, s in data["services"].items() if "ports" in s}
    assert published == {"hearth": ["127.0.0.1:8000:8000"]}


def test_the_llm_server_serves_the_gguf_the_image_links():
    command = compose()["services"]["llm"]["command"]
    model = command[command.index("--model") + 1]
    assert "ln -s" in DOCKERFILE.read_text() and model in DOCKERFILE.read_text()
    # llama_cpp.server's default cuts off the answer in progress when another request arrives.
    assert command[command.index("--interrupt_requests") + 1] == "false"
    (llm,) = [
        o
        for p, o in k8s_objects()
        if o["metadata"]["name"] == "hearth-llm" and o["kind"] == "Deployment"
    ]
    assert "--interrupt_requests=false" in pod_spec(llm)["containers"][0]["args"]
    settings = compose()["x-hearth-env"]
    assert settings["HEARTH_LLM_MODEL"] == command[command.index("--model_alias") + 1]
    assert settings["HEARTH_LLM_URL"].startswith(
        "http://llm:" + command[command.index("--port") + 1]
    )


# -- settings named in the deploy files ---------------------------------------------------------


def environment_names_the_code_reads() -> set[str]:
    """Settings fields, CLI options' environment twins, and variables read with os.environ."""
    names = {f"HEARTH_{field.upper()}" for field in Settings.model_fields}

    def walk(command: click.Command) -> Iterator[click.Parameter]:
        yield from command.params
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                yield from walk(sub)

    from app.migrate_cli import migrate_command

    for command in (cli, migrate_command):
        for param in walk(command):
            envvar = getattr(param, "envvar", None)
            names.update([envvar] if isinstance(envvar, str) else envvar or [])
    read = re.compile(r"(?:environ\.get\(|environ\[|getenv\()\s*\"(HEARTH_[A-Z0-9_]+)\"")
    for package in ("app", "index", "ingest"):
        for source in (ROOT / package).rglob("*.py"):
            names.update(read.findall(source.read_text()))
    return names


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_hearth_variable_in_the_deploy_files_is_read_by_the_code(path):
    known = environment_names_the_code_reads()
    assert "HEARTH_LLM_URL" in known and "HEARTH_GROUPS" in known  # the collection works
    unknown = set(HEARTH_NAME.findall(path.read_text())) - known
    assert unknown == set(), f"{path.name} names settings that do not exist"


# -- Dockerfile against the Makefile ------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [
        line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")
    ]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [
        (parts[0].upper(), parts[1] if len(parts) > 1 else "")
        for parts in (line.strip().split(None, 1) for line in joined.splitlines() if line.strip())
    ]


def makefile_variable(name: str) -> str:
    match = re.search(rf"^{name}\s*\??:?=\s*(.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, name
    return match.group(1).strip()


def test_the_dockerfile_installs_exactly_as_the_makefile():
    instructions = dockerfile_instructions()
    args = dict(a.split("=", 1) for i, a in instructions if i == "ARG" and "=" in a)
    assert args["LLAMA_VERSION"] == makefile_variable("LLAMA_VERSION")
    assert args["LLAMA_CMAKE_ARGS"] == makefile_variable("LLAMA_CMAKE_ARGS") == "-DGGML_NATIVE=OFF"
    runs = [a for i, a in instructions if i == "RUN"]
    makefile = (ROOT / "Makefile").read_text()
    torch_pin = re.search(r"^torch==\S+", (ROOT / "constraints.txt").read_text(), re.MULTILINE)
    assert torch_pin and f"-c constraints.txt torch=={torch_pin.group(0)[7:]}" in makefile

    def first(pattern: str) -> int:
        hits = [n for n, run in enumerate(runs) if re.search(pattern, run)]
        assert hits, pattern
        return hits[0]

    torch = first(r"pip install .*torch==")
    llama = first(r"pip wheel .*llama-cpp-python==")
    project = first(r"pip install .*-c constraints\.txt \.(\s|$)")
    assert torch < llama < project, "torch first, then llama-cpp-python, then Hearth"
    assert "-c constraints.txt" in runs[torch] and torch_pin.group(0) in runs[torch]
    assert 'CMAKE_ARGS="${LLAMA_CMAKE_ARGS}"' in runs[llama]
    assert "--no-cache-dir" in runs[llama] and "--no-deps" in runs[llama]
    assert "llama-cpp-python==${LLAMA_VERSION}" in runs[llama]
    assert "-c constraints.txt /wheels/llama_cpp_python-*.whl" in runs[llama]
    no_deps = re.search(r"--no-deps (unstructured-inference==\S+)", makefile)
    assert no_deps and f"--no-deps {no_deps.group(1)}" in runs[project]
    constraint = re.search(
        r"^unstructured-inference==\S+", (ROOT / "constraints.txt").read_text(), re.MULTILINE
    )
    assert constraint and constraint.group(0) == no_deps.group(1)


def test_the_image_runs_offline_as_a_non_root_user_and_checks_readyz():
    instructions = dockerfile_instructions()
    stages = [a for i, a in instructions if i == "FROM"]
    assert len(stages) >= 2 and stages[-1].endswith("AS runtime"), "multi-stage"
    env = " ".join(a for i, a in instructions if i == "ENV")
    for setting in (
        "HF_HUB_OFFLINE=1",
        "TRANSFORMERS_OFFLINE=1",
        "DO_NOT_TRACK=1",
        "HEARTH_HOST=0.0.0.0",
    ):
        assert setting in env
    (user,) = [a for i, a in instructions if i == "USER"]
    assert user.split(":")[0] not in {"0", "root"}
    (healthcheck,) = [a for i, a in instructions if i == "HEALTHCHECK"]
    assert "/opt/hearth/healthcheck.py" in healthcheck
    assert "/readyz" in (DEPLOY / "healthcheck.py").read_text()
    (cmd,) = [a for i, a in instructions if i == "CMD"]
    (entrypoint,) = [a for i, a in instructions if i == "ENTRYPOINT"]
    assert entrypoint == '["hearth"]'
    assert cmd.startswith('["serve", "--host", "0.0.0.0"')
    for source in (a for i, a in instructions if i == "COPY" and "--from" not in a):
        for name in source.split()[:-1]:
            assert (ROOT / name).exists(), f"COPY {name}: no such file in the build context"


# -- systemd ----------------------------------------------------------------------------------


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_the_systemd_unit_is_hardened():
    unit = unit_settings()
    expected = {
        "DynamicUser": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "RestrictNamespaces": "yes",
        "LockPersonality": "yes",
        "StateDirectory": "hearth",
        "IPAddressDeny": "any",
        "IPAddressAllow": "localhost",
        "PrivateNetwork": "no",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        # measured: torch's oneDNN JIT needs W+X pages (OPERATIONS.md)
        "MemoryDenyWriteExecute": "no",
        "SystemCallArchitectures": "native",
    }
    assert {key: unit.get(key, [None])[-1] for key in expected} == expected
    assert "@system-service" in unit["SystemCallFilter"]
    (exec_start,) = unit["ExecStart"]
    assert exec_start.endswith("hearth serve --host 127.0.0.1 --port 8000")
    environment = " ".join(unit["Environment"])
    assert "HEARTH_DATA_DIR=/var/lib/hearth" in environment and "HF_HUB_OFFLINE=1" in environment


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_accepts_the_unit(tmp_path):
    # verify checks that ExecStart exists: point it at this environment's hearth.
    hearth = Path(sys.executable).with_name("hearth")
    unit = tmp_path / "hearth.service"
    unit.write_text(UNIT.read_text().replace("/opt/hearth/.venv/bin/hearth", str(hearth)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "Unknown" not in result.stderr and "Invalid" not in result.stderr, result.stderr


# -- the health check script ------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/busy":  # llama_cpp.server in the middle of a completion
            time.sleep(3)
        self.send_response(200 if self.path in ("/readyz", "/busy") else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def run_healthcheck(*args: str, port: str = "1") -> int:
    result = subprocess.run(
        [sys.executable, str(DEPLOY / "healthcheck.py"), *args],
        capture_output=True,
        timeout=30,
        env={"HEARTH_PORT": port, "PATH": "/usr/bin:/bin"},
    )
    return result.returncode


def test_healthcheck_passes_on_200_and_fails_otherwise(server):
    port = server.rsplit(":", 1)[1]
    assert run_healthcheck(port=port) == 0  # default URL: /readyz on HEARTH_PORT
    assert run_healthcheck(f"{server}/readyz") == 0
    assert run_healthcheck(f"{server}/starting") == 1  # 503
    assert run_healthcheck("http://127.0.0.1:1/readyz") == 1  # nothing listening
    assert run_healthcheck("not a url") == 1


def test_healthcheck_busy_ok_counts_a_late_answer_not_a_refusal(server):
    """compose's llm check: a server busy answering someone is not down."""
    assert run_healthcheck(f"{server}/busy", "--timeout", "0.5") == 1
    assert run_healthcheck(f"{server}/busy", "--timeout", "0.5", "--busy-ok") == 0
    assert run_healthcheck("http://127.0.0.1:1/v1/models", "--busy-ok") == 1  # nothing listening
    assert run_healthcheck(f"{server}/starting", "--busy-ok") == 1  # an answer is read as such
    check = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]["llm"]["healthcheck"]
    assert check["test"][-3:] == ["--busy-ok", "--timeout", "3"]
    # else compose kills the check first and counts a busy server as a failure after all
    assert float(check["test"][-1]) + 1.5 <= float(check["timeout"].removesuffix("s"))


# -- documentation ----------------------------------------------------------------------------


def test_operations_notes_cover_what_the_issue_asks():
    notes = (DEPLOY / "OPERATIONS.md").read_text()
    headings = [line.lstrip("# ").lower() for line in notes.splitlines() if line.startswith("## ")]
    for topic in ("sizing", "backup", "upgrades", "rotating", "crash", "systemd", "not checked"):
        assert any(topic in heading for heading in headings), topic
    assert re.search(r"\d+ MiB", notes) and re.search(r"\d+(\.\d+)? tok/s", notes)


def test_readme_points_at_the_deploy_folder():
    readme = (ROOT / "README.md").read_text()
    assert "## Deploying" in readme and "deploy/OPERATIONS.md" in readme
