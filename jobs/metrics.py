"""Cluster metrics: job and worker metrics are recorded by whichever process sees the
event (the API for submissions and cancellations, workers for the rest) *into Redis*, as counters and
histogram buckets (HINCRBYFLOAT), and the API's ``/metrics`` exposes them through a collector that reads
Redis at scrape time: one scrape sees the whole cluster, however many workers come and go. Queue depth,
jobs in progress and live workers are read from RQ's own keys at scrape time. Per-worker gauges (model load
time, recent sampling speed) expire with the worker's heartbeat.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, cast

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from redis import Redis, RedisError
from redis.client import Pipeline
from rq import Queue

from jobs.queue import live_workers
from jobs.store import PREFIX

# Jobs take from a fraction of a second (tiny models, few steps) to tens of minutes (1000-step DDPM on CPU).
SECONDS_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0)
BATCH_BUCKETS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)


@dataclass(frozen=True)
class ClusterMetric:
    """A metric recorded into Redis. Counter names carry no ``_total``: Prometheus adds it on exposition."""

    name: str
    kind: Literal["counter", "histogram"]
    documentation: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()

    @property
    def key(self) -> str:
        return f"{PREFIX}:metrics:{self.name}"


JOBS_SUBMITTED = ClusterMetric("palette_jobs_submitted", "counter", "Jobs accepted by the API.", ("task",))
JOBS_FINISHED = ClusterMetric("palette_jobs_finished", "counter", "Jobs that delivered samples.", ("task",))
JOBS_FAILED = ClusterMetric(
    "palette_jobs_failed", "counter", "Jobs that failed for good (after any retries).", ("task",)
)
JOBS_CANCELED = ClusterMetric("palette_jobs_canceled", "counter", "Jobs canceled by their client.", ("task",))
IMAGES_GENERATED = ClusterMetric("palette_images_generated", "counter", "Samples delivered.", ("task",))
DENOISING_STEPS = ClusterMetric(
    "palette_denoising_steps", "counter", "Denoising steps run, counted per image (steps x batch size)."
)
QUEUE_WAIT = ClusterMetric(
    "palette_job_queue_wait_seconds", "histogram", "Time from enqueue to start of sampling.", ("task",),
    SECONDS_BUCKETS,
)  # fmt: skip
SAMPLING_TIME = ClusterMetric(
    "palette_job_sampling_seconds", "histogram", "Sampling time of the batch a job ran in.", ("task",),
    SECONDS_BUCKETS,
)  # fmt: skip
END_TO_END = ClusterMetric(
    "palette_job_end_to_end_seconds", "histogram", "Time from submission to results.", ("task",),
    SECONDS_BUCKETS,
)  # fmt: skip
BATCH_SIZE = ClusterMetric(
    "palette_batch_size_images", "histogram", "Images sampled together per batch.", (), BATCH_BUCKETS
)
CLUSTER_METRICS = (
    JOBS_SUBMITTED,
    JOBS_FINISHED,
    JOBS_FAILED,
    JOBS_CANCELED,
    IMAGES_GENERATED,
    DENOISING_STEPS,
    QUEUE_WAIT,
    SAMPLING_TIME,
    END_TO_END,
    BATCH_SIZE,
)

# Per-worker gauges: name -> help
WORKER_SPEED = "palette_denoising_steps_per_second"
WORKER_GAUGES = {
    "palette_model_load_seconds": "Time the worker took to load the model and warm it up at start.",
    WORKER_SPEED: "Per-image denoising steps per second in the worker's last batch.",
}
_WORKERS_SET = f"{PREFIX}:metrics:workers"
_SEP = "\x00"  # never occurs in JSON-encoded labels


def _labels_field(metric: ClusterMetric, labels: Mapping[str, str]) -> str:
    if set(labels) != set(metric.labels):
        raise ValueError(f"{metric.name} takes labels {metric.labels}, got {sorted(labels)}")
    return json.dumps([labels[name] for name in metric.labels])


def _worker_key(worker: str) -> str:
    return f"{PREFIX}:metrics:worker:{worker}"


class ClusterMetrics:
    """Records cluster metrics into Redis, inside the caller's pipeline."""

    def inc(self, pipe: Pipeline, metric: ClusterMetric, amount: float = 1.0, **labels: str) -> None:
        pipe.hincrbyfloat(metric.key, _labels_field(metric, labels), amount)

    def observe(self, pipe: Pipeline, metric: ClusterMetric, value: float, **labels: str) -> None:
        field = _labels_field(metric, labels)
        bucket = next((bound for bound in metric.buckets if value <= bound), float("inf"))
        pipe.hincrbyfloat(metric.key, f"{field}{_SEP}{bucket!r}", 1)
        pipe.hincrbyfloat(metric.key, f"{field}{_SEP}sum", value)
        pipe.hincrbyfloat(metric.key, f"{field}{_SEP}count", 1)

    def set_worker_gauges(self, pipe: Pipeline, worker: str, ttl: int, **values: float) -> None:
        unknown = set(values) - set(WORKER_GAUGES)
        if unknown:
            raise ValueError(f"unknown worker gauges {sorted(unknown)}")
        pipe.sadd(_WORKERS_SET, worker)
        if values:
            pipe.hset(_worker_key(worker), mapping={name: repr(value) for name, value in values.items()})
        pipe.expire(_worker_key(worker), ttl)

    def keep_worker_gauges(self, pipe: Pipeline, worker: str, ttl: int) -> None:
        pipe.expire(_worker_key(worker), ttl)

    def drop_worker_gauges(self, pipe: Pipeline, worker: str) -> None:
        pipe.delete(_worker_key(worker))
        pipe.srem(_WORKERS_SET, worker)


def worker_speeds(redis: Redis, workers: Sequence[str]) -> dict[str, float]:
    """The speed each of ``workers`` measured on its last batch (denoising steps x images per second);
    workers that have not sampled since they started are left out."""
    with redis.pipeline(transaction=False) as pipe:
        for worker in workers:
            pipe.hget(_worker_key(worker), WORKER_SPEED)
        speeds = pipe.execute()
    return {worker: float(speed) for worker, speed in zip(workers, speeds, strict=True) if speed is not None}


class ClusterCollector(Collector):
    """Exposes what workers and API replicas recorded in Redis, plus live queue and worker counts. When
    Redis is unreachable the scrape still succeeds, with ``palette_redis_up 0``. Counters labelled by task
    start at zero for every known task: a series that appears only with the first failure leaves rate()
    and the dashboard with "No data" instead of 0 on a healthy cluster."""

    def __init__(self, redis: Redis, queue_name: str, tasks: Sequence[str] = ()) -> None:
        self.redis = redis
        self.queue_name = queue_name
        self.tasks = tuple(tasks)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("palette_redis_up", "Whether the API can reach Redis (1) or not (0).")
        try:
            families = self._read()
        except RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self) -> list[Metric]:
        with self.redis.pipeline(transaction=False) as pipe:
            for metric in CLUSTER_METRICS:
                pipe.hgetall(metric.key)
            stored = pipe.execute()
        families = [
            _counter(metric, fields, self.tasks) if metric.kind == "counter" else _histogram(metric, fields)
            for metric, fields in zip(CLUSTER_METRICS, stored, strict=True)
        ]
        families += self._live_gauges()
        families += self._worker_gauges()
        return families

    def _live_gauges(self) -> list[Metric]:
        depth = GaugeMetricFamily("palette_queue_depth", "Jobs waiting in the queue.", labels=["queue"])
        running = GaugeMetricFamily("palette_jobs_in_progress", "Jobs being sampled.", labels=["queue"])
        queue = Queue(self.queue_name, connection=self.redis)
        depth.add_metric([self.queue_name], queue.count)
        running.add_metric([self.queue_name], self.redis.zcard(queue.started_job_registry.key))
        workers = GaugeMetricFamily("palette_workers", "Workers with a live heartbeat.")
        workers.add_metric([], live_workers(self.redis))
        return [depth, running, workers]

    def _worker_gauges(self) -> list[Metric]:
        names = sorted(cast(bytes, member).decode() for member in self.redis.smembers(_WORKERS_SET))
        with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(_worker_key(name))
            stored = pipe.execute()
        gauges = {
            name: GaugeMetricFamily(name, doc, labels=["worker"]) for name, doc in WORKER_GAUGES.items()
        }
        gone = []
        for worker, fields in zip(names, stored, strict=True):
            if not fields:
                gone.append(worker)
            for field, value in fields.items():
                gauges[field.decode()].add_metric([worker], float(value))
        if gone:
            self.redis.srem(_WORKERS_SET, *gone)
        return list(gauges.values())


def _counter(metric: ClusterMetric, fields: Mapping[bytes, bytes], tasks: Sequence[str] = ()) -> Metric:
    family = CounterMetricFamily(metric.name, metric.documentation, labels=list(metric.labels))
    values = {field.decode(): float(value) for field, value in fields.items()}
    if metric.labels == ("task",):
        values = {_labels_field(metric, {"task": task}): 0.0 for task in tasks} | values
    elif not metric.labels:
        values = {_labels_field(metric, {}): 0.0} | values
    for field, value in sorted(values.items()):
        family.add_metric(json.loads(field), value)
    return family


def _histogram(metric: ClusterMetric, fields: Mapping[bytes, bytes]) -> Metric:
    """Rebuild cumulative buckets from the per-bucket counts stored in Redis."""
    series: dict[str, dict[str, float]] = {}
    for field, value in fields.items():
        labels, part = field.decode().rsplit(_SEP, 1)
        series.setdefault(labels, {})[part] = float(value)
    family = HistogramMetricFamily(metric.name, metric.documentation, labels=list(metric.labels))
    bounds = [*metric.buckets, float("inf")]
    for labels, parts in sorted(series.items()):
        cumulative, buckets = 0.0, []
        for bound in bounds:
            cumulative += parts.get(repr(bound), 0.0)
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        family.add_metric(json.loads(labels), buckets, sum_value=parts.get("sum", 0.0))
    return family
