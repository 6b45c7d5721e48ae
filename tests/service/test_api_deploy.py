"""The deployment files agree with the code: the dashboard only charts metrics the service exposes, the
scrape config reaches the API, compose runs the five services with a GPU for the worker."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from jobs.metrics import CLUSTER_METRICS, WORKER_GAUGES

ROOT = Path(__file__).resolve().parents[2]
EXPOSED = (
    {metric.name for metric in CLUSTER_METRICS}
    | set(WORKER_GAUGES)
    | {"palette_queue_depth", "palette_jobs_in_progress", "palette_workers", "palette_redis_up"}
    | {"palette_http_requests", "palette_http_request_duration_seconds"}
)


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/palette.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def family(series: str) -> str:
    return re.sub(r"_(total|bucket|sum|count)$", "", series)


def test_the_dashboard_charts_only_metrics_the_service_exposes() -> None:
    charted = {
        family(name) for expr in dashboard_expressions() for name in re.findall(r"palette_[a-z_]+", expr)
    }
    assert charted <= EXPOSED


@pytest.mark.parametrize(
    "metric",
    sorted(EXPOSED - {"palette_redis_up"}),
)
def test_every_service_metric_is_on_the_dashboard(metric: str) -> None:
    assert any(metric in expr for expr in dashboard_expressions())


def test_prometheus_scrapes_the_api_and_the_workers() -> None:
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["palette-api"]["static_configs"][0]["targets"] == ["api:8000"]
    assert jobs["palette-worker"]["dns_sd_configs"][0]["port"] == 9100


def test_compose_runs_the_five_services_with_a_gpu_for_the_worker() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"redis", "api", "worker", "prometheus", "grafana"}
    devices = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert services["worker"]["command"] == ["worker", "--metrics-port", "9100"]
    assert services["api"]["environment"]["PALETTE_REDIS_URL"] == "redis://redis:6379/0"
