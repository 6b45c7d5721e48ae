"""deploy/kubernetes agrees with Kubernetes, with KEDA and with the code.

Every object is valid against the Kubernetes schemas (kubernetes-validate, offline and strict) or, for
KEDA's ScaledObject, against deploy/kubernetes/schemas/; images, commands, ports, probes, settings and the
RQ key KEDA watches are read from the code; Prometheus scrapes each series once. The base is read as
files; the overlays are rendered with `kubectl kustomize` (those tests skip only where kubectl is absent).
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from jsonschema import Draft202012Validator, ValidationError
from prometheus_client.metrics_core import Metric
from redis import Redis

from jobs.metrics import ClusterCollector
from jobs.queue import rq_queue
from jobs.settings import Settings
from palette.cli import COMMANDS
from service.cli import build_parser as api_parser
from service.metrics import api_registry
from service.routers.health import health_router
from tests.conftest import private_redis
from workers.cli import build_parser as worker_parser

ROOT = Path(__file__).resolve().parents[2]
KUBE = ROOT / "deploy/kubernetes"
BASE = KUBE / "base"
# The oldest Kubernetes the manifests support, and the newest whose schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30", "1.37")
CUSTOM_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): KUBE / "schemas/scaledobject-keda-v1alpha1.json",
}
KUBECTL = shutil.which("kubectl")
NO_KUBECTL = "kubectl is not installed: the overlays are rendered with `kubectl kustomize`"

Object = dict[str, Any]


# Reading the manifests


def documents(path: Path) -> list[Object]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def kustomization(directory: Path) -> Object:
    return documents(directory / "kustomization.yaml")[0]


def base_objects() -> list[Object]:
    return [obj for resource in kustomization(BASE)["resources"] for obj in documents(BASE / resource)]


def find(objects: Iterable[Object], kind: str, name: str) -> Object:
    (found,) = [obj for obj in objects if obj["kind"] == kind and obj["metadata"]["name"] == name]
    return found


def containers(objects: Iterable[Object]) -> Iterator[Object]:
    for obj in objects:
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        yield from pod.get("initContainers", [])
        yield from pod.get("containers", [])


def only_container(workload: Object) -> Object:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return container


def port_number(container: Object, name: str) -> int:
    (port,) = [port["containerPort"] for port in container["ports"] if port["name"] == name]
    return int(port)


def pod_labels(workload: Object) -> dict[str, str]:
    return dict(workload["spec"]["template"]["metadata"]["labels"])


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def env_file(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


API = find(base_objects(), "Deployment", "palette-api")
WORKER = find(base_objects(), "Deployment", "palette-worker")
REDIS = find(base_objects(), "StatefulSet", "palette-redis")
SCALED_OBJECT = find(base_objects(), "ScaledObject", "palette-worker")
REDIS_TRIGGER = SCALED_OBJECT["spec"]["triggers"][0]["metadata"]
NAMESPACE = kustomization(BASE)["namespace"]
SETTINGS_ENV = env_file(BASE / "settings.env")


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings the API and the workers run with: base/settings.env over the defaults."""
    for name in [name for name in os.environ if name.startswith("PALETTE_")]:
        monkeypatch.delenv(name)
    for name, value in SETTINGS_ENV.items():
        monkeypatch.setenv(name, value)
    return Settings()


# Validating against the schemas


def described(obj: Object, error: ValidationError) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']} {'.'.join(map(str, error.path))}: {error.message}"


def schema_errors(obj: Object, kubernetes: str) -> list[str]:
    """Where ``obj`` breaks its schema; an object of a kind without a schema raises SchemaNotFoundError."""
    custom = CUSTOM_SCHEMAS.get((obj["apiVersion"], obj["kind"]))
    if custom is None:
        try:
            kubernetes_validate.validate(obj, kubernetes, strict=True)
        except kubernetes_validate.ValidationError as error:
            return [described(obj, error)]
        return []
    validator = Draft202012Validator(json.loads(custom.read_text()))
    errors = [described(obj, error) for error in validator.iter_errors(obj)]
    # KEDA embeds Kubernetes' own HPA behavior: checked against the Kubernetes schema
    behavior = obj["spec"].get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("behavior")
    if behavior is not None:
        target = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": obj["spec"]["scaleTargetRef"]["name"],
        }
        hpa = {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": obj["metadata"]["name"]},
            "spec": {"scaleTargetRef": target, "maxReplicas": 1, "behavior": behavior},
        }
        errors += schema_errors(hpa, kubernetes)
    return errors


@pytest.mark.parametrize("kubernetes", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("obj", base_objects(), ids=lambda obj: f"{obj['kind']}/{obj['metadata']['name']}")
def test_every_base_object_is_valid(obj: Object, kubernetes: str) -> None:
    assert schema_errors(obj, kubernetes) == []


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda spec: spec["triggers"][0]["metadata"].update(listLength=4), id="unquoted-number"),
        pytest.param(lambda spec: spec.update(minReplicas=spec.pop("minReplicaCount")), id="misspelt-field"),
        pytest.param(lambda spec: spec["triggers"][0]["metadata"].pop("address"), id="no-redis-address"),
        pytest.param(
            lambda spec: spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"].update(
                stabilisationWindowSeconds=600
            ),
            id="misspelt-hpa-behavior",
        ),
    ],
)
def test_the_keda_schema_rejects_what_keda_rejects(damage: Callable[[Object], object]) -> None:
    broken = copy.deepcopy(SCALED_OBJECT)
    damage(broken["spec"])
    assert schema_errors(broken, KUBERNETES_VERSIONS[0]) != []


# The code's images, commands, ports, probes and settings


def test_the_api_and_the_workers_run_this_version_of_the_image_compose_builds() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    image = compose["services"]["api"]["image"].split(":")[0]
    assert {only_container(API)["image"], only_container(WORKER)["image"]} == {image}
    (pinned,) = [entry for entry in kustomization(BASE)["images"] if entry["name"] == image]
    assert pinned["newTag"] == version("palette-service")


def test_the_containers_run_as_the_images_user() -> None:
    uid = int(re.findall(r"useradd .*--uid (\d+)", (ROOT / "Dockerfile").read_text())[0])
    for workload in (API, WORKER):
        assert workload["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == uid


def test_the_api_listens_on_its_container_port() -> None:
    command, *rest = only_container(API)["args"]
    assert COMMANDS[command][0] == "service.cli"
    args = api_parser().parse_args(rest)
    assert args.host == "0.0.0.0"
    assert args.port == port_number(only_container(API), "http")


def test_the_api_probes_are_its_health_routes() -> None:
    container = only_container(API)
    routes = {route.path for route in health_router().routes}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert {"/readyz", "/healthz"} <= routes


def test_the_worker_serves_metrics_on_its_container_port_and_is_ready_once_it_does() -> None:
    command, *rest = only_container(WORKER)["args"]
    assert COMMANDS[command][0] == "workers.cli"
    args = worker_parser().parse_args(rest)
    assert args.metrics_port == port_number(only_container(WORKER), "metrics")
    assert only_container(WORKER)["readinessProbe"]["httpGet"]["port"] == "metrics"


def test_every_palette_variable_named_is_a_setting() -> None:
    settings = {f"PALETTE_{name.upper()}" for name in Settings.model_fields}
    named = {
        variable
        for path in KUBE.rglob("*")
        if path.suffix in {".yaml", ".yml", ".env"}
        for variable in re.findall(r"\bPALETTE_[A-Z_]+\b", path.read_text())
    }
    assert named
    assert named <= settings


def test_the_deployed_settings_are_valid(deployed: Settings) -> None:
    assert deployed.redis_url == SETTINGS_ENV["PALETTE_REDIS_URL"]


def test_the_api_and_the_workers_read_the_settings() -> None:
    for workload in (API, WORKER):
        (source, *_) = only_container(workload)["envFrom"]
        assert source == {"configMapRef": {"name": "palette-settings"}}
    (generator,) = kustomization(BASE)["configMapGenerator"]
    assert generator == {"name": "palette-settings", "envs": ["settings.env"]}


def test_api_keys_come_from_a_secret_only_the_api_reads() -> None:
    assert {"secretRef": {"name": "palette-secrets", "optional": True}} in only_container(API)["envFrom"]
    assert "PALETTE_API_KEYS" not in SETTINGS_ENV
    assert all("secretRef" not in source for source in only_container(WORKER)["envFrom"])


# Shutdown and availability


def test_a_stopping_worker_has_time_to_finish_its_batch(deployed: Settings) -> None:
    """SIGTERM lets the current batch finish, and a batch ends by its earliest job's deadline."""
    grace = WORKER["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > deployed.job_timeout_seconds


def test_rollouts_start_a_new_pod_before_stopping_an_old_one() -> None:
    for workload in (API, WORKER):
        assert workload["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}


def test_autoscaled_deployments_leave_their_replica_count_to_the_autoscaler() -> None:
    hpa = find(base_objects(), "HorizontalPodAutoscaler", "palette-api")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "palette-api",
    }
    assert SCALED_OBJECT["spec"]["scaleTargetRef"] == {"name": "palette-worker"}  # KEDA: a Deployment
    assert "replicas" not in API["spec"]
    assert "replicas" not in WORKER["spec"]


def test_the_api_scales_on_cpu_which_it_requests() -> None:
    hpa = find(base_objects(), "HorizontalPodAutoscaler", "palette-api")
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert "cpu" in only_container(API)["resources"]["requests"]


@pytest.mark.parametrize("container", list(containers(base_objects())), ids=lambda c: c["name"])
def test_every_container_has_requests_and_a_memory_limit(container: Object) -> None:
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert "memory" in container["resources"]["limits"]


@pytest.mark.parametrize(
    ("kind", "name", "workload"),
    [
        ("Service", "palette-api", API),
        ("Service", "palette-api-metrics", API),
        ("PodDisruptionBudget", "palette-api", API),
        ("PodDisruptionBudget", "palette-worker", WORKER),
        ("Service", "palette-redis", REDIS),
        ("NetworkPolicy", "palette-redis", REDIS),
    ],
)
def test_each_selector_selects_its_pods(kind: str, name: str, workload: Object) -> None:
    spec = find(base_objects(), kind, name)["spec"]
    selector = spec.get("selector") or spec["podSelector"]
    assert selects(selector.get("matchLabels", selector), pod_labels(workload))


def test_redis_admits_the_api_and_the_workers() -> None:
    policy = find(base_objects(), "NetworkPolicy", "palette-redis")
    (rule,) = policy["spec"]["ingress"]
    (palette_pods,) = [peer["podSelector"]["matchLabels"] for peer in rule["from"] if "podSelector" in peer]
    assert selects(palette_pods, pod_labels(API))
    assert selects(palette_pods, pod_labels(WORKER))
    assert not selects(palette_pods, pod_labels(REDIS))


# Redis


def redis_options() -> dict[str, str]:
    command, *options = only_container(REDIS)["args"]
    assert command == "redis-server"
    return dict(zip(options[::2], options[1::2], strict=True))


def bytes_of(quantity: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([A-Za-z]*)", quantity).groups()
    units = {"": 1, "Mi": 2**20, "Gi": 2**30, "mb": 2**20, "gb": 2**30}
    return int(number) * units[unit]


def test_redis_is_the_one_compose_runs_with_an_append_only_file_and_no_eviction() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["redis"]
    assert only_container(REDIS)["image"] == compose["image"]
    assert redis_options()["--appendonly"] == "yes"
    assert redis_options()["--maxmemory-policy"] == "noeviction"


def test_redis_keeps_its_data_on_a_persistent_volume() -> None:
    (claim,) = REDIS["spec"]["volumeClaimTemplates"]
    (mount,) = only_container(REDIS)["volumeMounts"]
    assert mount == {"name": claim["metadata"]["name"], "mountPath": "/data"}  # the image's working dir


def test_redis_refuses_writes_before_it_reaches_its_memory_limit() -> None:
    limit = only_container(REDIS)["resources"]["limits"]["memory"]
    assert bytes_of(redis_options()["--maxmemory"]) < bytes_of(limit)


# Autoscaling on the queue


def test_keda_watches_the_rq_queue_the_api_submits_to(deployed: Settings) -> None:
    assert REDIS_TRIGGER["listName"] == rq_queue(Redis(), deployed.queue).key


def test_keda_watches_the_redis_the_api_and_workers_use(deployed: Settings) -> None:
    url = urlsplit(deployed.redis_url)
    service = find(base_objects(), "Service", "palette-redis")
    (port,) = service["spec"]["ports"]
    assert REDIS_TRIGGER["address"] == f"{url.hostname}:{url.port}"
    assert REDIS_TRIGGER["databaseIndex"] == url.path.strip("/")
    assert REDIS_TRIGGER["address"] == f"palette-redis.{NAMESPACE}.svc:{port['port']}"


def test_workers_never_scale_to_zero_since_the_api_is_ready_only_with_a_live_worker() -> None:
    assert only_container(API)["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert SCALED_OBJECT["spec"]["minReplicaCount"] >= 1


# Prometheus


(PROMETHEUS,) = documents(KUBE / "prometheus/scrape-configs.yml")
SCRAPE = {job["job_name"]: job for job in PROMETHEUS["scrape_configs"]}


def scraped(job: str, series: str) -> bool:
    """Whether ``job`` keeps ``series`` after its metric relabelling (keep and drop on __name__)."""
    for rule in SCRAPE[job].get("metric_relabel_configs", []):
        assert rule["source_labels"] == ["__name__"]
        if (re.fullmatch(rule["regex"], series) is not None) != (rule["action"] == "keep"):
            return False
    return True


def series_names(families: Iterable[Metric]) -> set[str]:
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    return {
        name
        for family in families
        for name in {family.name + suffix for suffix in suffixes.get(family.type, ("",))}
        | {sample.name for sample in family.samples}
    }


@pytest.fixture(scope="module")
def api_series() -> Iterator[tuple[set[str], set[str]]]:
    """The series of the API's /metrics: (the cluster's, read from Redis; the API process's own)."""
    servers = private_redis(fallback_db=12)
    redis = Redis.from_url(next(servers))
    try:
        registry, http = api_registry()
        http.observe("GET", "/healthz", 200, 0.001)
        yield series_names(ClusterCollector(redis, "palette").collect()), series_names(registry.collect())
    finally:
        redis.close()
        servers.close()


def test_prometheus_scrapes_the_clusters_series_once(api_series: tuple[set[str], set[str]]) -> None:
    cluster, _ = api_series
    assert "palette_queue_depth" in cluster
    assert all(scraped("palette-api", series) for series in cluster)
    assert not any(scraped("palette-api-pods", series) for series in cluster)


def test_prometheus_scrapes_each_api_process_from_every_pod(api_series: tuple[set[str], set[str]]) -> None:
    _, process = api_series
    assert "palette_http_requests_total" in process
    assert all(scraped("palette-api-pods", series) for series in process)
    assert not any(scraped("palette-api", series) for series in process)


def test_prometheus_reaches_the_cluster_series_through_a_service_that_includes_unready_pods() -> None:
    service = find(base_objects(), "Service", "palette-api-metrics")
    (port,) = service["spec"]["ports"]
    (target,) = SCRAPE["palette-api"]["static_configs"][0]["targets"]
    assert target == f"palette-api-metrics.{NAMESPACE}.svc:{port['port']}"
    assert service["spec"]["publishNotReadyAddresses"] is True


@pytest.mark.parametrize(
    ("job", "workload", "port"), [("palette-api-pods", API, "http"), ("palette-worker", WORKER, "metrics")]
)
def test_prometheus_finds_each_pods_metrics_port(job: str, workload: Object, port: str) -> None:
    (keep,) = SCRAPE[job]["relabel_configs"][:1]
    labels = pod_labels(workload)
    found = f"{labels['app.kubernetes.io/name']};{labels['app.kubernetes.io/component']};{port}"
    assert keep["action"] == "keep"
    assert re.fullmatch(keep["regex"], found)
    assert SCRAPE[job]["kubernetes_sd_configs"][0]["namespaces"]["names"] == [NAMESPACE]


def test_the_grafana_dashboards_jobs_are_scraped() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/palette.json").read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    jobs = {job for query in queries for job in re.findall(r'job="([^"]+)"', query)}
    assert jobs
    assert jobs <= SCRAPE.keys()


# The overlays, rendered


RENDERED = ("cpu", "gpu", "gpu-external-redis")
Rendered = dict[str, list[Object]]


def kustomize(directory: Path) -> list[Object]:
    assert KUBECTL is not None
    done = subprocess.run(
        [KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return [obj for obj in yaml.safe_load_all(done.stdout) if obj]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Object]]:
    """Each overlay as `kubectl kustomize` renders it, and the GPU overlay with an external Redis."""
    if KUBECTL is None:
        pytest.skip(NO_KUBECTL)
    external = tmp_path_factory.mktemp("external-redis")
    overlay = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(KUBE / "overlays/gpu", external)],  # kustomize wants relative paths
        "components": [os.path.relpath(KUBE / "components/external-redis", external)],
    }
    (external / "kustomization.yaml").write_text(yaml.safe_dump(overlay))
    return {
        "cpu": kustomize(KUBE / "overlays/cpu"),
        "gpu": kustomize(KUBE / "overlays/gpu"),
        "gpu-external-redis": kustomize(external),
    }


def rendered_worker(objects: list[Object]) -> Object:
    return only_container(find(objects, "Deployment", "palette-worker"))


def env_value(container: Object, name: str) -> str:
    (value,) = [variable["value"] for variable in container.get("env", []) if variable["name"] == name]
    return str(value)


@pytest.mark.parametrize("kubernetes", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", RENDERED)
def test_every_rendered_object_is_valid(rendered: Rendered, overlay: str, kubernetes: str) -> None:
    assert [error for obj in rendered[overlay] for error in schema_errors(obj, kubernetes)] == []


def test_the_gpu_overlay_gives_each_worker_a_gpu(rendered: Rendered) -> None:
    worker = rendered_worker(rendered["gpu"])
    assert worker["resources"]["requests"]["nvidia.com/gpu"] == 1
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert env_value(worker, "PALETTE_DEVICE") == "cuda"


def test_the_cpu_overlay_requests_no_gpu(rendered: Rendered) -> None:
    assert "nvidia.com/gpu" not in json.dumps(rendered["cpu"])
    assert env_value(rendered_worker(rendered["cpu"]), "PALETTE_DEVICE") == "cpu"


def test_cpu_workers_run_as_many_threads_as_the_cores_they_may_use(rendered: Rendered) -> None:
    worker = rendered_worker(rendered["cpu"])
    assert env_value(worker, "OMP_NUM_THREADS") == str(worker["resources"]["limits"]["cpu"])


@pytest.mark.parametrize("overlay", RENDERED)
def test_every_config_map_a_pod_reads_is_deployed(rendered: Rendered, overlay: str) -> None:
    deployed = {obj["metadata"]["name"] for obj in rendered[overlay] if obj["kind"] == "ConfigMap"}
    read = {
        source["configMapRef"]["name"]
        for container in containers(rendered[overlay])
        for source in container.get("envFrom", [])
        if "configMapRef" in source
    }
    assert read
    assert read <= deployed


@pytest.mark.parametrize("overlay", RENDERED)
def test_nothing_is_downloaded_at_run_time(rendered: Rendered, overlay: str) -> None:
    """No init step, no command but the image's own programs, no address but Redis's: the weights come
    with the image."""
    for container in containers(rendered[overlay]):
        assert "command" not in container
        assert container["args"][0] in {*COMMANDS, "redis-server"}
        values = [str(variable.get("value", "")) for variable in container.get("env", [])]
        for text in [*container["args"], *values]:
            assert re.search(r"[a-z+]+://", text) is None, text
    assert not any("initContainers" in obj.get("spec", {}).get("template", {}).get("spec", {})
                   for obj in rendered[overlay])  # fmt: skip


def test_an_external_redis_replaces_the_in_cluster_one(rendered: Rendered) -> None:
    objects = rendered["gpu-external-redis"]
    assert [obj for obj in objects if obj["metadata"]["name"] == "palette-redis"] == []
    assert "palette-redis.palette.svc" not in json.dumps(objects)


def test_with_an_external_redis_the_api_workers_and_keda_read_it_from_one_secret(
    rendered: Rendered,
) -> None:
    objects = rendered["gpu-external-redis"]
    for name in ("palette-api", "palette-worker"):
        sources = only_container(find(objects, "Deployment", name))["envFrom"]
        assert sources[-1] == {"secretRef": {"name": "palette-redis"}}  # the last source wins
    trigger = find(objects, "ScaledObject", "palette-worker")["spec"]["triggers"][0]["metadata"]
    assert {trigger["addressFromEnv"], trigger["passwordFromEnv"]} == {"REDIS_ADDRESS", "REDIS_PASSWORD"}
    assert "address" not in trigger
