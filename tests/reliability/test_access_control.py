"""API keys against a real `palette api`: a job belongs to the key that submitted it, and no other key can
tell it exists; submissions are rate-limited per key in Redis (429 + Retry-After), reads are not.

(Keys themselves, 401 without one, and health endpoints staying open: tests/service/test_api_submission.py.
Unguessable ids: the same file.)"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Cluster, Service
from redis import Redis

from jobs.store import record_key

KEYS = ("alice", "bob", "carol", "dave", "erin", "frank")
PER_MINUTE = 5


@pytest.fixture(scope="module")
def api(redis_url: str, tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    env = {"PALETTE_API_KEYS": ",".join(KEYS), "PALETTE_RATE_LIMIT_PER_MINUTE": str(PER_MINUTE)}
    cluster = Cluster(redis_url, f"keys-{uuid.uuid4().hex[:8]}", tmp_path_factory.mktemp("keys"), env)
    yield cluster.api()
    cluster.stop()


@pytest.fixture(scope="module")
def clients(api: Service) -> Iterator[dict[str, Service]]:
    by_key = {key: api.with_key(key) for key in KEYS}
    yield by_key
    for client in by_key.values():
        client.close()


def job_calls(client: Service, job_id: str) -> dict[str, tuple[int, dict]]:
    answers = {
        "status": client.http.get(f"/v1/jobs/{job_id}"),
        "sample": client.http.get(f"/v1/jobs/{job_id}/samples/0"),
        "cancel": client.http.delete(f"/v1/jobs/{job_id}"),
    }
    return {name: (answer.status_code, answer.json()) for name, answer in answers.items()}


def test_another_keys_job_answers_exactly_like_an_id_never_issued(
    clients: dict[str, Service], photo_png: bytes
) -> None:
    job_id = clients["alice"].submit("restore", {"image": photo_png})
    never_issued = "A" * len(job_id)
    unknown = {
        name: (404, {"detail": f"there is no job {job_id}"}) for name in ("status", "sample", "cancel")
    }
    assert job_calls(clients["bob"], job_id) == unknown
    assert job_calls(clients["bob"], never_issued) == {
        name: (404, {"detail": f"there is no job {never_issued}"}) for name in unknown
    }
    assert clients["alice"].status(job_id)["status"] == "queued"  # bob's DELETE changed nothing


def test_an_expired_job_is_410_to_its_owner_and_404_to_anyone_else(
    clients: dict[str, Service], redis: Redis, photo_png: bytes
) -> None:
    job_id = clients["alice"].submit("restore", {"image": photo_png})
    redis.delete(record_key(job_id))  # what its TTL does; the tombstone outlives the record
    assert clients["alice"].http.get(f"/v1/jobs/{job_id}").status_code == 410
    assert clients["bob"].http.get(f"/v1/jobs/{job_id}").status_code == 404


def test_submissions_beyond_the_keys_rate_limit_get_429_with_retry_after(
    clients: dict[str, Service], photo_png: bytes
) -> None:
    carol = clients["carol"]
    for _ in range(PER_MINUTE):
        carol.submit("restore", {"image": photo_png})
    answer = carol.post("restore", {"image": photo_png})
    assert answer.status_code == 429
    assert 1 <= int(answer.headers["retry-after"]) <= 60
    assert answer.json()["detail"].startswith(
        f"rate limit exceeded: at most {PER_MINUTE} submissions per minute per API key; try again in "
    )


def test_one_keys_rate_limit_leaves_other_keys_alone(clients: dict[str, Service], photo_png: bytes) -> None:
    for _ in range(PER_MINUTE + 1):
        clients["dave"].post("restore", {"image": photo_png})
    assert clients["erin"].post("restore", {"image": photo_png}).status_code == 202


def test_status_polls_do_not_count_against_the_rate_limit(
    clients: dict[str, Service], photo_png: bytes
) -> None:
    frank = clients["frank"]
    job_id = frank.submit("restore", {"image": photo_png})
    for _ in range(3 * PER_MINUTE):
        frank.status(job_id)
    for _ in range(PER_MINUTE - 1):
        frank.submit("restore", {"image": photo_png})
