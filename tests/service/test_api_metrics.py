"""Cluster metrics recorded into Redis by any process and exposed by the API's collector."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from jobs.metrics import BATCH_SIZE, JOBS_FINISHED, QUEUE_WAIT, ClusterMetrics
from model.tasks import task_names


def scrape(client: TestClient) -> dict[str, dict[tuple, float]]:
    """{sample name: {sorted label pairs: value}} of a /metrics answer."""
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_counters_recorded_by_any_process_are_exposed_with_total_suffix(
    client: TestClient, redis: Redis
) -> None:
    with redis.pipeline() as pipe:
        ClusterMetrics().inc(pipe, JOBS_FINISHED, task="inpaint")
        ClusterMetrics().inc(pipe, JOBS_FINISHED, task="inpaint")
        pipe.execute()
    assert scrape(client)["palette_jobs_finished_total"][(("task", "inpaint"),)] == 2.0


def test_histograms_are_exposed_with_cumulative_buckets(client: TestClient, redis: Redis) -> None:
    with redis.pipeline() as pipe:
        for seconds in (0.3, 4.0, 4000.0):
            ClusterMetrics().observe(pipe, QUEUE_WAIT, seconds, task="colorize")
        pipe.execute()
    buckets = scrape(client)["palette_job_queue_wait_seconds_bucket"]
    label = ("task", "colorize")
    assert buckets[(("le", "0.25"), label)] == 0
    assert buckets[(("le", "0.5"), label)] == 1
    assert buckets[(("le", "5.0"), label)] == 2
    assert buckets[(("le", "1800.0"), label)] == 2
    assert buckets[(("le", "+Inf"), label)] == 3
    assert scrape(client)["palette_job_queue_wait_seconds_sum"][(label,)] == 4004.3


def test_queue_depth_and_worker_count_are_read_live(
    client: TestClient, redis: Redis, image_png: bytes
) -> None:
    client.post("/v1/colorize", files={"image": ("a.png", image_png)})
    samples = scrape(client)
    assert samples["palette_queue_depth"] == {(("queue", "palette"),): 1.0}
    assert samples["palette_workers"] == {(): 0.0}
    assert samples["palette_jobs_submitted_total"][(("task", "colorize"),)] == 1.0


def test_worker_gauges_disappear_with_the_worker(client: TestClient, redis: Redis) -> None:
    with redis.pipeline() as pipe:
        ClusterMetrics().set_worker_gauges(pipe, "w1", ttl=1, palette_model_load_seconds=2.5)
        pipe.execute()
    assert scrape(client)["palette_model_load_seconds"] == {(("worker", "w1"),): 2.5}
    time.sleep(1.1)
    assert "palette_model_load_seconds" not in scrape(client)


def test_batch_sizes_have_their_own_buckets(client: TestClient, redis: Redis) -> None:
    with redis.pipeline() as pipe:
        ClusterMetrics().observe(pipe, BATCH_SIZE, 6)
        pipe.execute()
    buckets = scrape(client)["palette_batch_size_images_bucket"]
    assert buckets[(("le", "4.0"),)] == 0
    assert buckets[(("le", "8.0"),)] == 1


def test_task_counters_start_at_zero_for_every_task_before_anything_happens(client: TestClient) -> None:
    samples = scrape(client)
    zeros = {(("task", task),): 0.0 for task in task_names()}
    for counter in ("submitted", "finished", "failed", "canceled"):
        assert samples[f"palette_jobs_{counter}_total"] == zeros
    assert samples["palette_images_generated_total"] == zeros
    assert samples["palette_denoising_steps_total"] == {(): 0.0}


def test_the_documentation_is_counted_under_its_own_routes(client: TestClient) -> None:
    client.get("/docs")
    client.get("/openapi.json")
    requests = scrape(client)["palette_http_requests_total"]
    assert requests[(("method", "GET"), ("route", "/docs"), ("status", "200"))] == 1
    assert requests[(("method", "GET"), ("route", "/openapi.json"), ("status", "200"))] == 1
    assert not [labels for labels in requests if ("route", "unmatched") in labels]


def test_http_requests_are_counted_by_route_template(client: TestClient) -> None:
    client.get("/v1/jobs/abc")
    client.get("/v1/jobs/def")
    requests = scrape(client)["palette_http_requests_total"]
    assert requests[(("method", "GET"), ("route", "/v1/jobs/{job_id}"), ("status", "404"))] == 2
