"""Job status, samples, cancellation and expiry, as far as the API alone decides them."""

from __future__ import annotations

from fastapi.testclient import TestClient
from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from jobs.payload import FailureCode
from jobs.store import JobStore, inputs_key, record_key, tombstone_key
from model.fullres.defaults import default_steps
from model.sampler_settings import SamplerKind


def submit(client: TestClient, image_png: bytes) -> str:
    answer = client.post("/v1/colorize", files={"image": ("a.png", image_png)}, data={"seed": "5"})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["job_id"])


def test_a_new_job_reports_its_request_input_and_submission_time(
    client: TestClient, image_png: bytes
) -> None:
    status = client.get(f"/v1/jobs/{submit(client, image_png)}").json()
    assert status["status"] == "queued"
    assert status["progress"] == 0.0
    assert status["task"] == "colorize"
    assert status["parameters"] == {
        "num_samples": 2,
        "sampler": "ddim",
        "steps": default_steps("colorize", SamplerKind.DDIM),
        "eta": 0.0,
        "seed": 5,
        "options": {},
    }
    assert status["input"] == {"width": 128, "height": 96, "format": "PNG"}
    assert status["timings"]["submitted_at"] is not None
    assert status["samples"] is None


def test_an_unknown_job_is_404(client: TestClient) -> None:
    answer = client.get("/v1/jobs/no-such-job")
    assert answer.status_code == 404
    assert answer.json() == {"detail": "there is no job no-such-job"}


def test_an_expired_job_is_410_not_404(client: TestClient, redis: Redis, image_png: bytes) -> None:
    job_id = submit(client, image_png)
    redis.delete(record_key(job_id))  # what the TTL does; the tombstone outlives the record
    assert redis.exists(tombstone_key(job_id))
    answer = client.get(f"/v1/jobs/{job_id}")
    assert answer.status_code == 410
    assert "has expired" in answer.json()["detail"]


def test_samples_of_an_unfinished_job_are_409(client: TestClient, image_png: bytes) -> None:
    job_id = submit(client, image_png)
    answer = client.get(f"/v1/jobs/{job_id}/samples/0")
    assert answer.status_code == 409
    assert answer.json()["detail"].endswith("is queued; samples are available once it has finished")


def test_canceling_a_queued_job_takes_it_off_the_queue_through_rq(
    client: TestClient, redis: Redis, image_png: bytes
) -> None:
    job_id = submit(client, image_png)
    answer = client.delete(f"/v1/jobs/{job_id}")
    assert answer.status_code == 200
    assert answer.json()["status"] == "canceled"
    queue = Queue("palette", connection=redis, serializer=JSONSerializer)
    assert job_id not in queue.job_ids
    assert job_id in queue.canceled_job_registry.get_job_ids()
    assert Job.fetch(job_id, connection=redis, serializer=JSONSerializer).get_status() == JobStatus.CANCELED
    assert not redis.exists(inputs_key(job_id))


def test_canceling_a_canceled_job_is_409_and_leaves_its_expiry_alone(
    client: TestClient, redis: Redis, image_png: bytes
) -> None:
    job_id = submit(client, image_png)
    expires_at = client.delete(f"/v1/jobs/{job_id}").json()["expires_at"]
    ttl = redis.pttl(record_key(job_id))
    answer = client.delete(f"/v1/jobs/{job_id}")
    assert answer.status_code == 409
    assert answer.json() == {"detail": f"job {job_id} has already been canceled; there is nothing to cancel"}
    assert redis.pttl(record_key(job_id)) <= ttl
    assert client.get(f"/v1/jobs/{job_id}").json()["expires_at"] == expires_at


def test_an_ended_job_names_the_same_expiry_on_every_read(client: TestClient, image_png: bytes) -> None:
    job_id = submit(client, image_png)
    client.delete(f"/v1/jobs/{job_id}")
    readings = {client.get(f"/v1/jobs/{job_id}").json()["expires_at"] for _ in range(3)}
    assert len(readings) == 1


def test_samples_of_a_canceled_job_are_410_it_will_never_have_any(
    client: TestClient, image_png: bytes
) -> None:
    job_id = submit(client, image_png)
    client.delete(f"/v1/jobs/{job_id}")
    answer = client.get(f"/v1/jobs/{job_id}/samples/0")
    assert answer.status_code == 410
    assert answer.json() == {"detail": f"job {job_id} was canceled; it has no samples"}


def test_samples_of_a_failed_job_are_410_with_the_reason(
    client: TestClient, redis: Redis, settings, image_png: bytes
) -> None:
    job_id = submit(client, image_png)
    with redis.pipeline() as pipe:  # what a worker does when sampling fails for good
        JobStore(redis, settings).save_error(
            pipe, job_id, "the image could not be sampled", FailureCode.SAMPLING_ERROR
        )
        Job.fetch(job_id, connection=redis, serializer=JSONSerializer).set_status(
            JobStatus.FAILED, pipeline=pipe
        )
        pipe.execute()
    answer = client.get(f"/v1/jobs/{job_id}/samples/0")
    assert answer.status_code == 410
    assert answer.json() == {
        "detail": f"job {job_id} failed, so it has no samples: the image could not be sampled"
    }


def test_a_canceled_job_expires_like_any_ended_job(
    client: TestClient, redis: Redis, image_png: bytes, settings
) -> None:
    job_id = submit(client, image_png)
    client.delete(f"/v1/jobs/{job_id}")
    assert 0 < redis.ttl(f"rq:job:{job_id}") <= settings.result_ttl_seconds
    assert 0 < redis.ttl(record_key(job_id)) <= settings.result_ttl_seconds


def test_the_task_list_describes_each_endpoint(client: TestClient) -> None:
    tasks = {task["name"]: task for task in client.get("/v1/tasks").json()}
    assert set(tasks) >= {"inpaint", "colorize", "uncrop", "restore"}
    assert tasks["inpaint"]["needs_mask"] is True
    assert tasks["uncrop"]["options"] == [
        {
            "name": "sides",
            "description": "'all' or a comma-separated list of left, right, top, bottom",
            "default": "all",
        }
    ]
    assert tasks["colorize"]["endpoint"] == "http://testserver/v1/colorize"
