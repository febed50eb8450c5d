"""The Kubernetes manifests and the compose files describe one system, and agree on it.

There is no cluster and no Docker engine here: these tests load every file with PyYAML and check
kinds, labels, selectors, ports, images, commands, environment and probes against each other,
against the compose files and against the contract in examples/README.md ("Running in containers").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "examples" / "k8s"
DOCKER = ROOT / "docker"
IMAGE = "coordkit-examples:dev"
PART_OF = "coordkit-example"

# The contract of examples/README.md: service -> (module, replicas, HTTP port or None).
PROGRAMS: dict[str, tuple[str, int, int | None]] = {
    "payment-service": ("examples.payment_service", 3, 8081),
    "order-service": ("examples.order_service", 1, 8080),
    "settlement-worker": ("examples.settlement_worker", 2, None),
}
# Set in Kubernetes from the pod (downward API); left to their defaults under compose.
FROM_POD = {"INSTANCE_ID": "metadata.name", "ADVERTISE_HOST": "status.podIP"}

Doc = dict[str, Any]


def _interpolate(value: Any) -> Any:
    """Compose's ``${VAR:-default}`` interpolation, as with an empty environment."""
    if isinstance(value, dict):
        return {key: _interpolate(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate(item) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        if match.group("op") not in (None, ":-", "-"):
            raise AssertionError(f"unexpected interpolation {match.group(0)!r}")
        return match.group("default") or ""

    return re.sub(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?-)(?P<default>[^}]*))?\}", substitute, value)


def _load_compose(*names: str) -> dict[str, Doc]:
    """The services of these compose files used together (``-f a -f b``), interpolated."""
    services: dict[str, Doc] = {}
    for name in names:
        loaded = _interpolate(yaml.safe_load((DOCKER / name).read_text()))
        overlap = services.keys() & loaded["services"].keys()
        assert not overlap, f"{name} redefines {overlap}: the tests assume disjoint files"
        services.update(loaded["services"])
    return services


def _all_manifests() -> Iterator[Doc]:
    """Every object in examples/k8s/, freshly loaded (tests may change what they get)."""
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            yield from (doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None)


@pytest.fixture(scope="module")
def docs() -> list[Doc]:
    return list(_all_manifests())


@pytest.fixture(scope="module")
def workloads(docs: list[Doc]) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] in ("Deployment", "StatefulSet")}


@pytest.fixture(scope="module")
def services(docs: list[Doc]) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Doc]:
    return _load_compose("compose.servers.yml", "compose.example.yml")


def _container(workload: Doc) -> Doc:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: Doc) -> dict[str, Doc]:
    return {item["name"]: item for item in container.get("env", [])}


def _container_port(container: Doc, port: int | str) -> int:
    """A probe's or Service's target port, by number or by the container port's name."""
    for declared in container.get("ports", []):
        if port in (declared["containerPort"], declared.get("name")):
            return int(declared["containerPort"])
    raise AssertionError(f"port {port!r} is not a port of container {container['name']}")


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_the_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.y*ml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)


def test_kinds_names_and_api_versions(docs: list[Doc]) -> None:
    found = sorted((d["kind"], d["metadata"]["name"]) for d in docs)
    assert found == sorted(
        [
            ("Deployment", "order-service"),
            ("Deployment", "payment-service"),
            ("Deployment", "settlement-worker"),
            ("Service", "etcd"),
            ("Service", "etcd-peer"),
            ("Service", "order-service"),
            ("Service", "payment-service"),
            ("StatefulSet", "etcd"),
        ]
    )
    for doc in docs:
        assert doc["apiVersion"] == ("v1" if doc["kind"] == "Service" else "apps/v1"), doc["kind"]


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_replicas_agree_with_the_contract_and_compose(
    name: str, workloads: dict[str, Doc], compose: dict[str, Doc]
) -> None:
    replicas = PROGRAMS[name][1]
    assert workloads[name]["spec"]["replicas"] == replicas
    assert compose[name].get("scale", 1) == replicas


def test_every_workload_selects_its_own_pods_only(workloads: dict[str, Doc]) -> None:
    for name, workload in workloads.items():
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == name
        assert labels["app.kubernetes.io/part-of"] == PART_OF
        assert workload["metadata"]["labels"] == labels
        selector = workload["spec"]["selector"]["matchLabels"]
        selected = [
            other
            for other, w in workloads.items()
            if _selects(selector, w["spec"]["template"]["metadata"]["labels"])
        ]
        assert selected == [name], f"{name}'s selector also matches {selected}"


def test_every_service_selects_one_workload_on_a_declared_port(
    services: dict[str, Doc], workloads: dict[str, Doc]
) -> None:
    for name, service in services.items():
        selector = service["spec"]["selector"]
        targets = [
            w for w in workloads.values() if _selects(selector, w["spec"]["template"]["metadata"]["labels"])
        ]
        assert len(targets) == 1, f"Service {name} selects {len(targets)} workloads"
        assert service["metadata"]["labels"] == targets[0]["metadata"]["labels"]
        for port in service["spec"]["ports"]:
            # Same number outside and inside, as under compose: one port to remember per service.
            assert _container_port(_container(targets[0]), port["targetPort"]) == port["port"]


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_example_containers_match_compose(
    name: str, workloads: dict[str, Doc], compose: dict[str, Doc]
) -> None:
    module = PROGRAMS[name][0]
    container = _container(workloads[name])
    assert container["name"] == name
    assert container["image"] == compose[name]["image"] == IMAGE
    assert container.get("imagePullPolicy") == "IfNotPresent", "a locally built image is never pulled"
    # The image's ENTRYPOINT is `python -m`: both pass only the module, as arguments.
    assert "command" not in container
    assert container["args"] == compose[name]["command"] == [module]
    assert compose[name]["build"] == {"context": "..", "dockerfile": "docker/Dockerfile.examples"}


def test_the_dockerfile_runs_a_module_of_the_example_package() -> None:
    lines = [line.strip() for line in (DOCKER / "Dockerfile.examples").read_text().splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    assert instructions[0] == "FROM python:3.11-slim"
    assert 'ENTRYPOINT ["python", "-m"]' in instructions
    assert any(re.fullmatch(r'RUN pip install "\.\[http,metrics\]"', line) for line in instructions)
    assert "COPY examples ./examples" in instructions
    user = [line for line in instructions if line.startswith("USER ")]
    assert user == ["USER 10001"]


def test_the_modules_exist_once_the_examples_are_written(workloads: dict[str, Doc]) -> None:
    paths = {name: ROOT / (module.replace(".", "/") + ".py") for name, (module, _, _) in PROGRAMS.items()}
    if not any(path.exists() for path in paths.values()):
        pytest.skip("no example program written yet")
    assert [name for name, path in paths.items() if not path.exists()] == []
    assert (ROOT / "examples" / "__init__.py").exists(), "python -m examples.X needs a regular package"


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_ports_probes_and_env_port_agree(
    name: str, workloads: dict[str, Doc], compose: dict[str, Doc]
) -> None:
    port = PROGRAMS[name][2]
    container = _container(workloads[name])
    service = compose[name]
    if port is None:
        assert "ports" not in container and "readinessProbe" not in container
        assert not {"ports", "expose", "healthcheck"} & service.keys()
        assert "PORT" not in _env(container) and "PORT" not in service["environment"]
        return
    assert _env(container)["PORT"]["value"] == service["environment"]["PORT"] == str(port)
    probe = container["readinessProbe"]["httpGet"]
    assert probe["path"] == "/health"
    assert _container_port(container, probe["port"]) == port
    exposed = [str(p).rsplit(":", 1)[-1] for p in service.get("ports", []) + service.get("expose", [])]
    assert exposed == [str(port)]
    # compose's healthcheck is the same readiness check: GET /health on $PORT.
    check = " ".join(service["healthcheck"]["test"])
    assert "/health" in check and "PORT" in check


@pytest.mark.parametrize("name", ["payment-service", "order-service"])
def test_prestop_and_drain_fit_in_the_grace_periods(
    name: str, workloads: dict[str, Doc], compose: dict[str, Doc]
) -> None:
    pod = workloads[name]["spec"]["template"]["spec"]
    command = _container(workloads[name])["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    # The contract gives the program 15 s after SIGTERM; Kubernetes' grace period includes preStop.
    assert int(command[1]) + 15 <= pod["terminationGracePeriodSeconds"]
    assert compose[name]["stop_grace_period"] == "20s"
    assert compose[name]["init"] is True


def _coordkit_url(env_value: str) -> tuple[str, list[tuple[str, int]], str]:
    parts = urlsplit(env_value)
    hosts = [(h.rsplit(":", 1)[0], int(h.rsplit(":", 1)[1])) for h in parts.netloc.split(",")]
    return parts.scheme, hosts, parts.path


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_env_agrees_between_compose_and_kubernetes(
    name: str, workloads: dict[str, Doc], services: dict[str, Doc], compose: dict[str, Doc]
) -> None:
    k8s_env = _env(_container(workloads[name]))
    compose_env = compose[name]["environment"]
    assert set(compose_env) <= set(k8s_env)
    for extra in set(k8s_env) - set(compose_env):
        assert k8s_env[extra]["valueFrom"]["fieldRef"]["fieldPath"] == FROM_POD[extra]
    for key in set(compose_env) - {"COORDKIT_URL"}:
        assert k8s_env[key]["value"] == str(compose_env[key]), key

    # Same store kind and namespace; each side names its own etcd by a name it resolves.
    k8s_scheme, k8s_hosts, k8s_path = _coordkit_url(k8s_env["COORDKIT_URL"]["value"])
    scheme, hosts, path = _coordkit_url(compose_env["COORDKIT_URL"])
    assert (k8s_scheme, k8s_path) == (scheme, path) == ("etcd", "/example")
    for host, port in k8s_hosts:
        assert port in [p["port"] for p in services[host]["spec"]["ports"]]
        assert services[host]["spec"]["selector"]["app.kubernetes.io/name"] == "etcd"
    assert sorted(h for h, _ in hosts) == ["etcd1", "etcd2", "etcd3"]
    assert {port for _, port in hosts} == {2379}


def test_order_service_url_names_order_service_on_its_port(
    workloads: dict[str, Doc], compose: dict[str, Doc]
) -> None:
    url = urlsplit(compose["settlement-worker"]["environment"]["ORDER_SERVICE_URL"])
    assert (url.hostname, url.port) == ("order-service", PROGRAMS["order-service"][2])


def test_every_env_name_is_documented_in_the_examples_readme(
    workloads: dict[str, Doc], compose: dict[str, Doc]
) -> None:
    readme = (ROOT / "examples" / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", readme, flags=re.MULTILINE))
    used = {key for name in PROGRAMS for key in _env(_container(workloads[name]))}
    used |= {key for name in PROGRAMS for key in compose[name]["environment"]}
    assert used <= documented, f"undocumented: {sorted(used - documented)}"
    for name, (module, _, _) in PROGRAMS.items():
        assert f"| `{name}` | `{module}` |" in readme


def _flag(command: list[str], flag: str) -> str:
    (value,) = [arg.split("=", 1)[1] for arg in command if arg.startswith(flag + "=")]
    return value


def test_the_etcd_statefulset_forms_one_cluster_of_its_replicas(
    workloads: dict[str, Doc], services: dict[str, Doc], compose: dict[str, Doc]
) -> None:
    etcd = workloads["etcd"]
    spec = etcd["spec"]
    assert etcd["kind"] == "StatefulSet" and spec["podManagementPolicy"] == "Parallel"
    peer = services[spec["serviceName"]]["spec"]
    assert peer["clusterIP"] == "None" and peer["publishNotReadyAddresses"] is True
    command = _container(etcd)["command"]
    members = _flag(command, "--initial-cluster").split(",")
    assert members == [
        f"etcd-{i}=http://etcd-{i}.{spec['serviceName']}:2380" for i in range(spec["replicas"])
    ]
    assert _flag(command, "--initial-advertise-peer-urls") == f"http://$(POD_NAME).{spec['serviceName']}:2380"
    assert _env(_container(etcd))["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    # The same etcd as the compose files, whose members all run one image.
    assert {compose[n]["image"] for n in ("etcd", "etcd1", "etcd2", "etcd3")} == {_container(etcd)["image"]}


def test_compose_clusters_name_their_own_members(compose: dict[str, Doc]) -> None:
    etcd_members = [n for n in compose if re.fullmatch(r"etcd\d", n)]
    for name in etcd_members:
        cluster = _flag(compose[name]["command"], "--initial-cluster").split(",")
        assert sorted(member.split("=", 1)[0] for member in cluster) == sorted(etcd_members)
        assert _flag(compose[name]["command"], "--name") == name
    zk_members = [n for n in compose if re.fullmatch(r"zk\d", n)]
    for name in zk_members:
        servers = compose[name]["environment"]["ZOO_SERVERS"].split()
        assert sorted(s.split("=")[1].split(":")[0] for s in servers) == sorted(zk_members)
        assert f"server.{compose[name]['environment']['ZOO_MY_ID']}={name}:" in " ".join(servers)
    assert len(etcd_members) == len(zk_members) == 3


def test_compose_waits_only_for_healthchecked_servers_of_the_cluster_profile(compose: dict[str, Doc]) -> None:
    for name in PROGRAMS:
        depends = compose[name]["depends_on"]
        assert sorted(depends) == ["etcd1", "etcd2", "etcd3", "zk1", "zk2", "zk3"]
        for server, condition in depends.items():
            assert condition == {"condition": "service_healthy"}
            assert compose[server]["profiles"] == ["cluster"]
            assert compose[server]["healthcheck"]["test"][0] == "CMD"


def test_compose_publishes_ports_on_loopback_only(compose: dict[str, Doc]) -> None:
    for name, service in compose.items():
        for mapping in service.get("ports", []):
            assert str(mapping).startswith("127.0.0.1:"), f"{name} publishes {mapping} beyond loopback"


def test_the_harness_urls_in_the_servers_file_name_its_published_ports(compose: dict[str, Doc]) -> None:
    """The COORDKIT_TEST_*_URL lines at the top of compose.servers.yml reach the published ports."""
    text = (DOCKER / "compose.servers.yml").read_text()
    published = {str(p).split(":")[1] for s in compose.values() for p in s.get("ports", [])}
    urls = re.findall(r"\b(?:zk|etcd)://([\d.:,]+)", text)
    assert urls, "compose.servers.yml no longer documents the harness URLs"
    for url in urls:
        for host_port in url.split(","):
            assert host_port.split(":")[1] in published, host_port


@pytest.mark.parametrize("version", ["oldest", "newest"])
def test_manifests_match_the_kubernetes_api_schemas(version: str) -> None:
    """Strict: an unknown or misspelt field fails (kubectl would reject or silently ignore it)."""
    validate = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    from kubernetes_validate import utils

    chosen = utils.all_versions()[0 if version == "oldest" else -1]
    for doc in _all_manifests():
        validate.validate(doc, chosen, strict=True)
    with pytest.raises(validate.ValidationError):
        broken = next(d for d in _all_manifests() if d["kind"] == "Deployment")
        _container(broken)["readinesProbe"] = {"httpGet": {"path": "/health", "port": "http"}}
        validate.validate(broken, chosen, strict=True)


def test_paths_named_in_the_deploy_files_and_readmes_exist() -> None:
    """Usage comments and READMEs name files that exist (docker/..., examples/..., scripts/...)."""
    texts = [
        *DOCKER.glob("compose*.yml"),
        DOCKER / "Dockerfile.examples",
        DOCKER / "README.md",
        *K8S.glob("*.yaml"),
        ROOT / "examples" / "README.md",
    ]
    named = set()
    for path in texts:
        named |= set(
            re.findall(r"(?<![\w/.-])((?:docker|examples|scripts|tests)/[\w./-]*\w/?)", path.read_text())
        )
    assert {"docker/compose.example.yml", "docker/Dockerfile.examples", "examples/k8s/"} <= named
    assert [name for name in sorted(named) if not (ROOT / name).exists()] == []
