"""Submitting jobs: what a 202 looks like, what lands in Redis and RQ, seeds, idempotency, admission control,
authentication and validation messages. (Over real HTTP with a worker: tests/e2e.)"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from rq.job import Job
from rq.serializers import JSONSerializer

from jobs.payload import MAX_SEED
from jobs.queue import JOB_FUNCTION
from jobs.settings import Settings
from jobs.store import inputs_key
from service.app import create_app


def submit_inpaint(client: TestClient, image: bytes, mask: bytes, **fields: str) -> dict:
    answer = client.post(
        "/v1/inpaint", files={"image": ("photo.png", image), "mask": ("mask.png", mask)}, data=fields
    )
    assert answer.status_code == 202, answer.text
    return answer.json()


def test_a_submission_answers_202_with_the_status_url_in_body_and_location(
    client: TestClient, image_png: bytes, mask_png: bytes
) -> None:
    answer = client.post("/v1/inpaint", files={"image": ("a.png", image_png), "mask": ("m.png", mask_png)})
    body = answer.json()
    assert answer.status_code == 202
    assert body["status"] == "queued"
    assert body["status_url"] == answer.headers["location"] == f"http://testserver/v1/jobs/{body['job_id']}"


def test_job_ids_are_unguessable_and_are_the_rq_job_ids(
    client: TestClient, redis: Redis, image_png: bytes, mask_png: bytes
) -> None:
    job_id = submit_inpaint(client, image_png, mask_png)["job_id"]
    assert len(job_id) >= 22
    assert Job.fetch(job_id, connection=redis, serializer=JSONSerializer).id == job_id


def test_the_rq_job_carries_a_json_payload_and_the_uploads_wait_under_the_job_with_a_ttl(
    client: TestClient, redis: Redis, settings: Settings, image_png: bytes, mask_png: bytes
) -> None:
    job_id = submit_inpaint(client, image_png, mask_png, num_samples="3", seed="11", steps="7")["job_id"]
    job = Job.fetch(job_id, connection=redis, serializer=JSONSerializer)
    assert job.func_name == JOB_FUNCTION
    assert json.loads(job.data)[3] == {  # the stored call is JSON: [function, instance, args, kwargs]
        "task": "inpaint",
        "options": {},
        "sampler": {
            "kind": "ddim",
            "steps": 7,
            "eta": 0.0,
        },  # the form's SamplerSettings, as the worker reads it
        "seeds": [11, 12, 13],
        # tile-steps at the upload's resolution, 3 samples x (a 64x48 coarse pass of 7 steps + a refinement
        # of the hole's box, 2 x 2 tiles, of 7 steps below its partial start): what estimates are made from
        "cost": 105,
    }
    assert redis.hget(inputs_key(job_id), "image") == image_png
    assert 0 < redis.ttl(inputs_key(job_id)) <= settings.input_ttl_seconds
    assert job.timeout == settings.job_timeout_seconds
    assert job.retries_left == settings.job_retries


def test_without_a_seed_one_is_drawn_and_reported(
    client: TestClient, redis: Redis, image_png: bytes, mask_png: bytes
) -> None:
    jobs = [submit_inpaint(client, image_png, mask_png)["job_id"] for _ in range(3)]
    reported = [client.get(f"/v1/jobs/{job_id}").json()["parameters"]["seed"] for job_id in jobs]
    assert len(set(reported)) == 3  # drawn afresh for each job (equal draws: a chance of 1 in 2^30)
    for job_id, seed in zip(jobs, reported, strict=True):
        sampled = json.loads(Job.fetch(job_id, connection=redis, serializer=JSONSerializer).data)[3]["seeds"]
        assert sampled == [seed, seed + 1]  # the seeds the worker samples with are the one reported
        assert 0 <= seed <= MAX_SEED


def test_steps_default_to_the_samplers_own(client: TestClient, image_png: bytes) -> None:
    job_id = client.post(
        "/v1/colorize", files={"image": ("a.png", image_png)}, data={"sampler": "ddpm"}
    ).json()["job_id"]
    assert client.get(f"/v1/jobs/{job_id}").json()["parameters"]["steps"] == 1000


def test_a_queued_job_reports_its_queue_position(
    client: TestClient, image_png: bytes, mask_png: bytes
) -> None:
    first = submit_inpaint(client, image_png, mask_png)["job_id"]
    second = submit_inpaint(client, image_png, mask_png)["job_id"]
    assert client.get(f"/v1/jobs/{first}").json()["queue_position"] == 0
    assert client.get(f"/v1/jobs/{second}").json()["queue_position"] == 1


def test_a_repeated_idempotency_key_returns_the_same_job(
    client: TestClient, redis: Redis, image_png: bytes, mask_png: bytes
) -> None:
    files = {"image": ("a.png", image_png), "mask": ("m.png", mask_png)}
    first = client.post("/v1/inpaint", files=files, headers={"Idempotency-Key": "abc"}).json()
    again = client.post("/v1/inpaint", files=files, headers={"Idempotency-Key": "abc"}).json()
    assert again["job_id"] == first["job_id"]
    assert redis.llen("rq:queue:palette") == 1


def test_an_idempotency_key_replay_reports_the_job_as_it_is_now_with_200(
    client: TestClient, image_png: bytes, mask_png: bytes
) -> None:
    files = {"image": ("a.png", image_png), "mask": ("m.png", mask_png)}
    first = client.post("/v1/inpaint", files=files, headers={"Idempotency-Key": "abc"})
    client.delete(first.json()["status_url"])
    again = client.post("/v1/inpaint", files=files, headers={"Idempotency-Key": "abc"})
    assert again.status_code == 200  # nothing new was created
    assert again.json() == {**first.json(), "status": "canceled"}
    assert again.headers["location"] == first.headers["location"]


def test_an_idempotency_key_reused_for_another_request_is_refused(
    client: TestClient, image_png: bytes, mask_png: bytes
) -> None:
    files = {"image": ("a.png", image_png), "mask": ("m.png", mask_png)}
    client.post("/v1/inpaint", files=files, headers={"Idempotency-Key": "abc"})
    answer = client.post("/v1/inpaint", files=files, data={"seed": "3"}, headers={"Idempotency-Key": "abc"})
    assert answer.status_code == 422
    assert answer.json() == {"detail": "this Idempotency-Key was already used for a different request"}


def test_a_full_queue_answers_503_with_retry_after(
    client: TestClient, settings: Settings, image_png: bytes, mask_png: bytes
) -> None:
    for _ in range(settings.max_queue_length):
        submit_inpaint(client, image_png, mask_png)
    answer = client.post("/v1/inpaint", files={"image": ("a.png", image_png), "mask": ("m.png", mask_png)})
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == str(settings.retry_after_seconds)
    assert answer.json()["detail"] == "the queue is full (3 jobs waiting); try again later"


def test_with_keys_off_everyone_shares_one_rate_limit(
    settings: Settings, redis: Redis, image_png: bytes, mask_png: bytes
) -> None:
    with TestClient(create_app(settings.model_copy(update={"rate_limit_per_minute": 2}))) as limited:
        for _ in range(2):
            submit_inpaint(limited, image_png, mask_png)
        answer = limited.post(
            "/v1/inpaint", files={"image": ("a.png", image_png), "mask": ("m.png", mask_png)}
        )
    assert answer.status_code == 429
    assert 1 <= int(answer.headers["retry-after"]) <= 60


@pytest.fixture
def keyed_client(settings: Settings, redis: Redis) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"api_keys": frozenset({"s3cret"})}))) as client:
        yield client


def test_with_api_keys_configured_a_request_without_one_is_refused(keyed_client: TestClient) -> None:
    answer = keyed_client.get("/v1/tasks")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert "a valid API key is required" in answer.json()["detail"]


@pytest.mark.parametrize("header", [{"Authorization": "Bearer s3cret"}, {"X-API-Key": "s3cret"}])
def test_with_api_keys_configured_a_valid_key_is_accepted(keyed_client: TestClient, header: dict) -> None:
    assert keyed_client.get("/v1/tasks", headers=header).status_code == 200


def test_health_endpoints_need_no_key(keyed_client: TestClient) -> None:
    assert keyed_client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("endpoint", "fields", "detail"),
    [
        ("/v1/colorize", {"sampler": "ddpm", "eta": "0.5"}, "eta applies to the ddim sampler only, not ddpm"),
        ("/v1/colorize", {"sides": "left"}, "sides: Extra inputs are not permitted"),
        ("/v1/colorize", {"steps": "0"}, "steps: Input should be greater than or equal to 1"),
        ("/v1/colorize", {"seed": "-1"}, "seed: Input should be greater than or equal to 0"),
        (
            "/v1/uncrop",
            {"sides": "middle"},
            "sides must be 'all' or a comma-separated list of left, right, top, bottom",
        ),
        (
            "/v1/uncrop",
            {"sides": ""},  # an empty value is a value, not the default
            "sides must be 'all' or a comma-separated list of left, right, top, bottom; got ''",
        ),
    ],
)
def test_invalid_fields_get_a_readable_422(
    client: TestClient, image_png: bytes, endpoint: str, fields: dict, detail: str
) -> None:
    answer = client.post(endpoint, files={"image": ("a.png", image_png)}, data=fields)
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith(detail)


def test_a_json_body_is_415_saying_the_endpoint_takes_a_multipart_form(client: TestClient) -> None:
    answer = client.post("/v1/uncrop", json={"image": "photo.png", "sides": "all"})
    assert answer.status_code == 415
    assert answer.json()["detail"].startswith(
        "this endpoint takes multipart/form-data, with the photo as the file field 'image'"
    )
    assert answer.json()["detail"].endswith("not application/json")


def test_a_task_without_a_mask_refuses_one(client: TestClient, image_png: bytes, mask_png: bytes) -> None:
    answer = client.post("/v1/colorize", files={"image": ("a.png", image_png), "mask": ("m.png", mask_png)})
    assert answer.status_code == 422
    assert answer.json() == {"detail": "mask: Extra inputs are not permitted"}


def test_inpainting_without_a_mask_says_so(client: TestClient, image_png: bytes) -> None:
    answer = client.post("/v1/inpaint", files={"image": ("a.png", image_png)})
    assert answer.status_code == 422
    assert answer.json() == {"detail": "mask: Field required"}
