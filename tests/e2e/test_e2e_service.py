"""The service end to end: real Redis, real uvicorn server, real worker process; jobs submitted over HTTP,
polled to completion, PNGs downloaded."""

from __future__ import annotations

import base64
import io
import struct
import time
import zlib
from typing import Any

import numpy as np
import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from jobs.images import encode_png

SEED = 123
FAST = {"sampler": "ddim", "steps": 4}


@pytest.fixture(scope="module")
def inpainted(service, photo_png: bytes, mask_png: bytes) -> dict[str, Any]:
    """One finished inpainting job with three samples: its final status and its downloaded samples."""
    job_id = service.submit(
        "inpaint", {"image": photo_png, "mask": mask_png}, num_samples=3, seed=SEED, **FAST
    )
    status = service.wait_for(job_id, "finished", "failed")
    assert status["status"] == "finished", status
    return {"status": status, "samples": service.download(status)}


def test_inpainting_returns_samples_at_the_uploads_size(inpainted: dict[str, Any], photo: np.ndarray) -> None:
    assert inpainted["status"]["output"] == {"width": 512, "height": 512, "format": "PNG"}
    assert [sample.shape for sample in inpainted["samples"]] == [photo.shape] * 3


def test_inpainting_keeps_every_unmasked_pixel(
    inpainted: dict[str, Any], photo: np.ndarray, mask: np.ndarray
) -> None:
    for sample in inpainted["samples"]:
        assert np.array_equal(sample[~mask], photo[~mask])
        assert not np.array_equal(sample[mask], photo[mask])


def test_num_samples_distinct_samples_come_back(inpainted: dict[str, Any], mask: np.ndarray) -> None:
    generated = [sample[mask].tobytes() for sample in inpainted["samples"]]
    assert len(set(generated)) == 3


def test_the_status_of_a_finished_job_reports_seeds_timings_and_sample_urls(
    inpainted: dict[str, Any],
) -> None:
    status = inpainted["status"]
    assert status["progress"] == 1.0
    assert status["parameters"]["seed"] == SEED
    assert [sample["seed"] for sample in status["samples"]] == [SEED, SEED + 1, SEED + 2]
    assert status["samples"][2]["url"].endswith(f"/v1/jobs/{status['job_id']}/samples/2")
    timings = status["timings"]
    assert timings["submitted_at"] <= timings["started_at"] <= timings["finished_at"]
    assert timings["sampling_seconds"] > 0
    assert status["expires_at"] is not None


def test_samples_are_also_served_inline_as_base64(service, inpainted: dict[str, Any]) -> None:
    job_id = inpainted["status"]["job_id"]
    inline = service.http.get(f"/v1/jobs/{job_id}", params={"inline": 1}).json()
    first = Image.open(io.BytesIO(base64.b64decode(inline["samples"][0]["png_base64"])))
    assert np.array_equal(np.asarray(first), inpainted["samples"][0])


def test_the_same_seed_reproduces_the_same_images(
    service, inpainted: dict[str, Any], photo_png: bytes, mask_png: bytes
) -> None:
    job_id = service.submit(
        "inpaint", {"image": photo_png, "mask": mask_png}, num_samples=3, seed=SEED, **FAST
    )
    again = service.download(service.wait_for(job_id, "finished"))
    assert all(np.array_equal(a, b) for a, b in zip(again, inpainted["samples"], strict=True))


def test_colorization_returns_colour_with_the_inputs_luminance(service, photo: np.ndarray) -> None:
    gray = Image.fromarray(photo).convert("L")
    job_id = service.submit("colorize", {"image": encode_png(gray)}, num_samples=1, **FAST)
    (colour,) = service.download(service.wait_for(job_id, "finished"))
    assert colour.shape == photo.shape
    luminance = np.asarray(Image.fromarray(colour).convert("L"), dtype=int)
    assert np.abs(luminance - np.asarray(gray, dtype=int)).max() <= 1


def test_two_requests_submitted_together_are_served_in_one_batch(service, photo_png: bytes) -> None:
    first = service.submit("restore", {"image": photo_png}, num_samples=1, **FAST)
    second = service.submit("uncrop", {"image": photo_png}, num_samples=1, sides="left", **FAST)
    batches = [service.wait_for(job_id, "finished")["batch"] for job_id in (first, second)]
    assert batches[0] == batches[1]
    assert batches[0]["jobs"] == 2


def test_a_running_job_can_be_canceled_and_frees_the_worker(service, photo_png: bytes) -> None:
    job_id = service.submit("restore", {"image": photo_png}, num_samples=1, sampler="ddim", steps=1000)
    status = service.wait_for(job_id, "started")
    answer = service.http.delete(f"/v1/jobs/{job_id}")
    assert answer.status_code == 200
    assert answer.json()["status"] == "canceled"
    quick = service.submit("restore", {"image": photo_png}, num_samples=1, **FAST)
    assert service.wait_for(quick, "finished", timeout=30)["batch"]["id"] != status["batch"]["id"]
    assert service.status(job_id)["status"] == "canceled"
    assert service.http.get(f"/v1/jobs/{job_id}/samples/0").status_code == 410  # canceled: never any


def test_progress_is_reported_while_sampling(service, photo_png: bytes) -> None:
    job_id = service.submit("restore", {"image": photo_png}, num_samples=1, sampler="ddim", steps=1000)
    service.wait_for(job_id, "started")
    deadline = time.monotonic() + 30
    while not 0 < (progress := service.status(job_id)["progress"]) < 1:
        assert time.monotonic() < deadline, f"no progress reported: {progress}"
        time.sleep(0.1)
    service.http.delete(f"/v1/jobs/{job_id}")


def test_a_queued_job_can_be_canceled(service, photo_png: bytes) -> None:
    blocker = service.submit("restore", {"image": photo_png}, num_samples=1, sampler="ddim", steps=1000)
    service.wait_for(blocker, "started")
    queued = service.submit("restore", {"image": photo_png}, num_samples=1, sampler="ddim", steps=5)
    assert service.http.delete(f"/v1/jobs/{queued}").json()["status"] == "canceled"
    service.http.delete(f"/v1/jobs/{blocker}")
    assert service.status(queued)["status"] == "canceled"


def test_an_unknown_job_is_404(service) -> None:
    answer = service.http.get("/v1/jobs/not-a-job")
    assert answer.status_code == 404
    assert answer.json() == {"detail": "there is no job not-a-job"}


def png_announcing(width: int, height: int) -> bytes:
    """A few hundred bytes that announce width x height pixels: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 4096)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


BAD_INPUTS = {
    # name: (task, files builder from (photo PNG, mask PNG), fields, status, start of the detail)
    "not an image": (
        "colorize", lambda p, m: {"image": b"this is text"}, {}, 422, "image: not a PNG, JPEG or WebP",
    ),
    "truncated file": (
        "colorize", lambda p, m: {"image": p[: len(p) // 2]}, {}, 422, "image: the file is truncated",
    ),
    "mask of the wrong size": (
        "inpaint", lambda p, m: {"image": p, "mask": encode_png(Image.new("L", (100, 80), 255))}, {}, 422,
        "the mask is 100x80 but the image is 512x512",
    ),
    "empty mask": (
        "inpaint", lambda p, m: {"image": p, "mask": encode_png(Image.new("L", (512, 512), 0))}, {}, 422,
        "the mask is empty",
    ),
    "too many samples": (
        "colorize", lambda p, m: {"image": p}, {"num_samples": 5}, 422,
        "num_samples: Input should be less than or equal to 4",
    ),
    "unknown sampler": (
        "colorize", lambda p, m: {"image": p}, {"sampler": "euler"}, 422,
        "sampler: Input should be 'ddpm', 'ddim' or 'dpmpp_2m'",
    ),
    "oversized upload": (
        "colorize", lambda p, m: {"image": bytes(3 * 2**20)}, {}, 413,
        "the request is larger than the upload limit",
    ),
    "decompression bomb": (
        "colorize", lambda p, m: {"image": png_announcing(5000, 5000)}, {}, 422,
        "image: the image is 5000x5000 (25.0 megapixels); the limit is 4.0 megapixels",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_inputs_get_a_4xx_with_a_message(service, photo_png: bytes, mask_png: bytes, case: str) -> None:
    task, files, fields, status, detail = BAD_INPUTS[case]
    answer = service.http.post(
        f"/v1/{task}",
        files={name: (f"{name}.png", data) for name, data in files(photo_png, mask_png).items()},
        data={key: str(value) for key, value in fields.items()},
    )
    assert answer.status_code == status
    assert answer.json()["detail"].startswith(detail)


METRICS = {
    "palette_http_requests", "palette_http_request_duration_seconds",
    "palette_jobs_submitted", "palette_jobs_finished", "palette_jobs_failed", "palette_jobs_canceled",
    "palette_queue_depth", "palette_job_queue_wait_seconds", "palette_job_sampling_seconds",
    "palette_job_end_to_end_seconds", "palette_batch_size_images", "palette_images_generated",
    "palette_denoising_steps", "palette_denoising_steps_per_second", "palette_workers",
    "palette_model_load_seconds",
}  # fmt: skip


def test_metrics_expose_the_whole_cluster_after_a_job(service, inpainted: dict[str, Any]) -> None:
    families = {
        family.name: family for family in text_string_to_metric_families(service.http.get("/metrics").text)
    }
    assert families.keys() >= METRICS

    def value(name: str, suffix: str = "", **labels: str) -> float:
        return next(
            sample.value
            for sample in families[name].samples
            if sample.name == name + suffix and labels.items() <= sample.labels.items()
        )

    assert value("palette_jobs_finished", "_total", task="inpaint") >= 1
    assert value("palette_images_generated", "_total", task="inpaint") >= 3
    assert value("palette_job_end_to_end_seconds", "_count", task="inpaint") >= 1
    assert value("palette_batch_size_images", "_count") >= 1
    assert value("palette_workers") == 1
    assert value("palette_model_load_seconds", worker="e2e-worker") > 0
    assert value("palette_denoising_steps_per_second", worker="e2e-worker") > 0


def test_readyz_counts_the_live_worker(service) -> None:
    assert service.http.get("/readyz").json()["workers"] == 1
