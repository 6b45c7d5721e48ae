"""GET /v1/samplers: the samplers with the steps a request that names none runs, per task; the page reads
its defaults from here, and submissions run exactly what it lists."""

from __future__ import annotations

from fastapi.testclient import TestClient

from model.fullres.defaults import default_steps
from model.sampler_settings import SamplerKind


def samplers(client: TestClient) -> dict[str, dict]:
    answer = client.get("/v1/samplers")
    assert answer.status_code == 200
    return {sampler["name"]: sampler for sampler in answer.json()}


def test_every_sampler_is_listed_with_default_steps_for_every_task(client: TestClient) -> None:
    listed = samplers(client)
    tasks = {task["name"] for task in client.get("/v1/tasks").json()}
    assert set(listed) == {"ddpm", "ddim", "dpmpp_2m"}
    for sampler in listed.values():
        assert set(sampler["default_steps"]) == tasks
        assert all(steps >= 1 for steps in sampler["default_steps"].values())
    assert listed["ddpm"]["default_steps"]["colorize"] == 1000
    assert listed["ddim"]["default_steps"] == {task: default_steps(task, SamplerKind.DDIM) for task in tasks}


def test_the_default_sampler_is_the_one_a_submission_without_a_sampler_gets(client: TestClient) -> None:
    (default,) = [name for name, sampler in samplers(client).items() if sampler["default"]]
    form = client.get("/openapi.json").json()["components"]["schemas"]["ColorizeForm"]
    assert form["properties"]["sampler"]["default"] == default


def test_a_submission_without_steps_runs_the_listed_default(client: TestClient, image_png: bytes) -> None:
    for name, sampler in samplers(client).items():
        job_id = client.post(
            "/v1/restore", files={"image": ("a.png", image_png)}, data={"sampler": name}
        ).json()["job_id"]
        parameters = client.get(f"/v1/jobs/{job_id}").json()["parameters"]
        assert (parameters["sampler"], parameters["steps"]) == (name, sampler["default_steps"]["restore"])


def test_eta_is_refused_exactly_for_the_samplers_listed_without_it(
    client: TestClient, image_png: bytes
) -> None:
    listed = samplers(client)
    assert [name for name, sampler in listed.items() if sampler["takes_eta"]] == ["ddim"]
    for name, sampler in listed.items():
        answer = client.post(
            "/v1/colorize", files={"image": ("a.png", image_png)}, data={"sampler": name, "eta": "0.5"}
        )
        assert answer.status_code == (202 if sampler["takes_eta"] else 422), answer.json()
