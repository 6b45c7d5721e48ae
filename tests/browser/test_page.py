"""The page at `/`, driven in headless Chromium against a real API and worker: what a person does (upload,
paint, pick, submit, download) and what they must see (progress, samples, readable errors)."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from jobs.images import encode_png
from tests.browser.harness import API_KEY, open_page, save_screenshot

pytestmark = pytest.mark.browser


def expect(target: Any) -> Any:
    """Playwright's assertions, which retry until they hold or the browser fixture's timeout passes;
    imported here, late, because without Playwright the tests skip instead of failing to import."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


# What a person does


def upload(page: Any, data: bytes, name: str = "photo.png", mime: str = "image/png") -> None:
    page.locator("#image-input").set_input_files(files=[{"name": name, "mimeType": mime, "buffer": data}])


def choose(page: Any, task: str) -> None:
    page.locator(f'input[name="task"][value="{task}"]').check()


def fast_settings(page: Any, samples: int = 2) -> None:
    page.get_by_label("Samples").fill(str(samples))
    page.get_by_label("Steps").fill("4")


def paint_stroke(page: Any, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Drag the mouse over the mask canvas between two points given as fractions of its size."""
    box = page.locator("#mask-canvas").bounding_box()
    page.mouse.move(box["x"] + start[0] * box["width"], box["y"] + start[1] * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + end[0] * box["width"], box["y"] + end[1] * box["height"], steps=12)
    page.mouse.up()


def new_run(page: Any, action: Any) -> Any:
    """The run that ``action`` (a click) adds to the page, located by its own number."""
    count = page.locator(".run").count()
    action()
    expect(page.locator(".run")).to_have_count(count + 1)
    number = page.locator(".run").first.get_attribute("data-run")
    return page.locator(f'.run[data-run="{number}"]')


def generate(page: Any) -> Any:
    return new_run(page, page.get_by_role("button", name="Generate").click)


def wait_for_samples(run: Any, count: int) -> Any:
    """The run's sample images, once all ``count`` of them are displayed (decoded, not just requested)."""
    images = run.locator(".sample img")
    expect(images).to_have_count(count)
    for k in range(count):
        expect(images.nth(k)).to_have_js_property("complete", True)
        assert images.nth(k).evaluate("image => image.naturalWidth") > 0
    return images


def sample_seeds(run: Any) -> list[int]:
    return [
        int(seed)
        for seed in run.locator(".sample img").evaluate_all("images => images.map(i => i.dataset.seed)")
    ]


def sample_pixels(run: Any) -> list[str]:
    """Each displayed sample's pixels, as a PNG data URL re-encoded by the page."""
    return run.locator(".sample img").evaluate_all(
        """images => images.map((image) => {
            const canvas = document.createElement('canvas');
            canvas.width = image.naturalWidth;
            canvas.height = image.naturalHeight;
            canvas.getContext('2d').drawImage(image, 0, 0);
            return canvas.toDataURL();
        })"""
    )


# Chromium does not report the body of a multipart request with files to Playwright, so a spy installed
# before the page's own scripts keeps the last FormData the page hands to fetch().
RECORD_UPLOADS = """
const originalFetch = window.fetch;
window.fetch = (resource, options = {}) => {
  if (options.body instanceof FormData) window.lastFormData = options.body;
  return originalFetch(resource, options);
};
"""


def sent_files(page: Any) -> dict[str, bytes]:
    """The files of the last form the page submitted, as it sent them."""
    files = page.evaluate(
        """async () => {
            const files = {};
            for (const [name, value] of window.lastFormData.entries()) {
              if (value instanceof Blob) files[name] = [...new Uint8Array(await value.arrayBuffer())];
            }
            return files;
        }"""
    )
    return {name: bytes(data) for name, data in files.items()}


# An inpainting job done through the page once, shared by the tests that look at its outcome


@pytest.fixture(scope="module")
def inpainted(browser: Any, page_url: str, photo_png: bytes) -> Iterator[dict[str, Any]]:
    """The page after uploading the photo, painting one stroke and generating two samples: the page, the
    run, and the upload and mask the page sent."""
    context, page, errors = open_page(browser, page_url, init_script=RECORD_UPLOADS)
    upload(page, photo_png)
    choose(page, "inpaint")
    fast_settings(page, samples=2)
    paint_stroke(page, (0.2, 0.3), (0.7, 0.45))
    run = generate(page)
    sent = sent_files(page)
    wait_for_samples(run, 2)
    yield {"page": page, "run": run, "sent": sent, "errors": errors}
    context.close()


def decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


# The inpainting job's outcome


def test_inpainting_shows_each_sample_beside_the_input(inpainted: dict[str, Any]) -> None:
    run = inpainted["run"]
    expect(run.locator(".run-status")).to_have_text(re.compile(r"^Done"))
    wait_for_samples(run, 2)
    figures = run.locator("figure")
    expect(figures).to_have_count(3)
    boxes = [figures.nth(k).bounding_box() for k in range(3)]
    assert len({round(box["y"]) for box in boxes}) == 1  # one row: input, sample, sample
    assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"]
    expect(figures.first).to_contain_text("Input")
    save_screenshot(inpainted["page"], "inpainting-samples")


def test_the_mask_sent_is_the_uploads_size_and_white_where_painted(
    inpainted: dict[str, Any], photo_png: bytes
) -> None:
    sent = inpainted["sent"]
    assert sent["image"] == photo_png  # the upload goes as it is, never re-encoded
    mask = decode(sent["mask"])
    assert mask.shape[:2] == decode(photo_png).shape[:2]
    white = mask[..., 0] >= 128 if mask.ndim == 3 else mask >= 128
    height, width = white.shape
    assert white[int(0.3 * height), int(0.2 * width)] and white[int(0.45 * height), int(0.7 * width)]
    assert not white[int(0.9 * height), int(0.5 * width)]  # far from the stroke
    assert 0.005 < white.mean() < 0.3


def test_a_downloaded_sample_keeps_every_unpainted_pixel(inpainted: dict[str, Any], photo_png: bytes) -> None:
    page, run = inpainted["page"], inpainted["run"]
    with page.expect_download() as download:
        run.get_by_role("link", name="Download PNG").first.click()
    seed = sample_seeds(run)[0]
    assert download.value.suggested_filename == f"photo-inpaint-seed{seed}.png"
    sample = decode(download.value.path().read_bytes())
    original = decode(photo_png)
    mask = decode(inpainted["sent"]["mask"])
    keep = (mask[..., 0] if mask.ndim == 3 else mask) < 128
    assert sample.shape == original.shape
    np.testing.assert_array_equal(sample[keep], original[keep])
    assert (sample[~keep] != original[~keep]).any()  # and the painted region was generated


def test_more_like_this_gives_new_seeds_and_different_samples(inpainted: dict[str, Any]) -> None:
    page, first = inpainted["page"], inpainted["run"]
    second = new_run(page, first.get_by_role("button", name="More like this").click)
    wait_for_samples(second, 2)
    assert set(sample_seeds(second)).isdisjoint(sample_seeds(first))
    assert set(sample_pixels(second)).isdisjoint(sample_pixels(first))


def test_the_page_runs_without_script_errors_or_csp_violations(inpainted: dict[str, Any]) -> None:
    assert inpainted["errors"].errors == []


# The mask painter


def painted_pixels(page: Any) -> int:
    return page.locator("#mask-canvas").evaluate(
        """canvas => canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data
            .filter((value, index) => index % 4 === 3 && value >= 128).length"""
    )


@pytest.fixture
def painting(open_at: Any, page_url: str, photo_png: bytes) -> Any:
    """A page with the photo uploaded and inpainting chosen: the mask painter is showing."""
    page = open_at(page_url)
    upload(page, photo_png)
    choose(page, "inpaint")
    expect(page.get_by_role("toolbar", name="Mask brush")).to_be_visible()
    return page


def test_the_mask_canvas_has_the_uploads_natural_size_whatever_size_it_is_shown_at(painting: Any) -> None:
    canvas = painting.locator("#mask-canvas")
    assert canvas.evaluate("canvas => [canvas.width, canvas.height]") == [512, 512]
    shown = canvas.bounding_box()
    image = painting.locator("#preview").bounding_box()
    assert (shown["width"], shown["height"]) == (image["width"], image["height"])


def test_the_eraser_removes_paint_and_undo_brings_it_back(painting: Any) -> None:
    paint_stroke(painting, (0.1, 0.5), (0.9, 0.5))
    painted = painted_pixels(painting)
    assert painted > 0
    painting.get_by_role("radio", name="Erase").check()
    paint_stroke(painting, (0.5, 0.3), (0.5, 0.7))
    assert 0 < painted_pixels(painting) < painted
    painting.get_by_role("button", name="Undo").click()
    assert painted_pixels(painting) == painted


def test_a_cleared_mask_is_not_submitted_the_page_asks_for_paint(painting: Any) -> None:
    paint_stroke(painting, (0.1, 0.5), (0.9, 0.5))
    painting.get_by_role("button", name="Clear").click()
    assert painted_pixels(painting) == 0
    painting.get_by_role("button", name="Generate").click()
    expect(painting.locator("#form-message")).to_have_text(
        "Paint over the region to generate first: it shows in pink."
    )
    expect(painting.locator(".run")).to_have_count(0)


# Errors, read as a person would read them


def photo_as(photo: np.ndarray, image_format: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format=image_format)
    return buffer.getvalue()


def test_a_file_the_api_rejects_shows_the_reason(open_at: Any, page_url: str, photo: np.ndarray) -> None:
    page = open_at(page_url)
    upload(page, photo_as(photo, "GIF"), name="photo.gif", mime="image/gif")  # the browser shows GIFs
    choose(page, "colorize")
    run = generate(page)
    expect(run.get_by_role("alert")).to_have_text(
        "The server could not use this request. Image: not a PNG, JPEG or WebP image."
    )
    expect(run.locator(".run-status")).to_have_text("Not accepted")


def test_an_upload_over_the_size_limit_shows_the_limit(open_at: Any, page_url: str) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (1100, 1100, 3), dtype=np.uint8)
    page = open_at(page_url)
    upload(page, encode_png(Image.fromarray(noise)), name="noise.png")  # 3.6 MB; the tests' limit is 2 MiB
    choose(page, "colorize")
    run = generate(page)
    expect(run.get_by_role("alert")).to_contain_text("The image is too large for this server.")
    expect(run.get_by_role("alert")).to_contain_text("upload limit of 2.0 MiB")


def test_a_full_queue_says_when_to_try_again(open_at: Any, stalled_api: str, photo_png: bytes) -> None:
    answer = httpx.post(f"{stalled_api}/v1/colorize", files={"image": ("photo.png", photo_png)})
    assert answer.status_code == 202  # the stalled API's queue holds one job: now it is full
    page = open_at(f"{stalled_api}/")
    upload(page, photo_png)
    choose(page, "colorize")
    run = generate(page)
    expect(run.get_by_role("alert")).to_have_text(
        re.compile(r"^The service is busy or unavailable\. The queue is full .*You can try again in 7 s\.$")
    )
    expect(run.get_by_role("button", name=re.compile(r"^Try again \(\d s\)$"))).to_be_disabled()


def test_a_rate_limited_submission_says_when_to_try_again(
    open_at: Any, page_url: str, photo_png: bytes
) -> None:
    page = open_at(page_url)
    page.route(  # the API's answer when a key sends too much (simulated: no rate limit is configured here)
        "**/v1/colorize",
        lambda route: route.fulfill(
            status=429,
            headers={"Retry-After": "30", "Content-Type": "application/json"},
            body='{"detail": "at most 10 submissions per minute"}',
        ),
    )
    upload(page, photo_png)
    choose(page, "colorize")
    run = generate(page)
    expect(run.get_by_role("alert")).to_have_text(
        "Too many requests for now. At most 10 submissions per minute. You can try again in 30 s."
    )


# Job life


def test_a_queued_job_shows_its_place_and_can_be_canceled(
    open_at: Any, stalled_api: str, photo_png: bytes
) -> None:
    page = open_at(f"{stalled_api}/")
    upload(page, photo_png)
    choose(page, "colorize")
    run = generate(page)
    expect(run.locator(".run-status")).to_have_text("Queued: yours is next")
    run.get_by_role("button", name="Cancel").click()
    expect(run.locator(".run-status")).to_have_text("Canceled")
    job = httpx.get(f"{stalled_api}/v1/jobs/{run.get_attribute('data-job-id')}").json()
    assert job["status"] == "canceled"


def test_a_running_job_shows_its_progress(open_at: Any, page_url: str, photo_png: bytes) -> None:
    page = open_at(page_url)
    upload(page, photo_png)
    choose(page, "restore")
    page.get_by_label("Samples").fill("1")
    page.get_by_label("Steps").fill("1000")  # long enough to watch
    run = generate(page)
    expect(run.locator(".run-status")).to_have_text(re.compile(r"^Generating… [1-9]\d?%$"))
    assert 0 < run.locator("progress").evaluate("bar => bar.value") < 1
    expect(run.locator(".run-elapsed")).to_have_text(re.compile(r"^\d+:\d\d$"))
    run.get_by_role("button", name="Cancel").click()  # and free the worker for the other tests
    expect(run.locator(".run-status")).to_have_text("Canceled")


def test_a_click_on_generate_while_the_photo_is_still_being_read_submits_that_photo(
    open_at: Any, stalled_api: str, photo_png: bytes
) -> None:
    page = open_at(f"{stalled_api}/")
    # A large photo on a busy machine takes a while to decode: here every decode takes a second.
    page.evaluate(
        """() => {
            const decode = HTMLImageElement.prototype.decode;
            HTMLImageElement.prototype.decode = function () {
                return new Promise((resolve) => setTimeout(resolve, 1000)).then(() => decode.call(this));
            };
        }"""
    )
    upload(page, photo_png)
    choose(page, "restore")
    run = generate(page)  # at once, before the photo is decoded
    expect(run).to_have_attribute("data-job-id", re.compile(r".+"))
    expect(page.locator("#form-message")).to_be_hidden()


def test_uncropping_sends_only_the_chosen_sides(open_at: Any, stalled_api: str, photo_png: bytes) -> None:
    page = open_at(f"{stalled_api}/")
    upload(page, photo_png)
    choose(page, "uncrop")
    page.get_by_role("checkbox", name="top").uncheck()
    page.get_by_role("checkbox", name="bottom").uncheck()
    run = generate(page)
    expect(run).to_have_attribute("data-job-id", re.compile(r".+"))
    job = httpx.get(f"{stalled_api}/v1/jobs/{run.get_attribute('data-job-id')}").json()
    assert job["parameters"]["options"] == {"sides": "left,right"}


# API keys


def test_with_keys_on_the_page_asks_for_a_key_and_refuses_a_wrong_one(
    open_at: Any, keyed_page_url: str
) -> None:
    page = open_at(keyed_page_url)
    message = page.locator("#form-message")
    expect(message).to_have_text("This server needs an API key: enter yours under “API key” and press Save.")
    page.get_by_label("API key").fill("not-the-key")
    page.get_by_role("button", name="Save").click()
    expect(message).to_have_text("The API key was not accepted: check it under “API key” and press Save.")


def test_a_saved_key_unlocks_the_page_and_is_remembered(
    open_at: Any, keyed_page_url: str, photo_png: bytes
) -> None:
    page = open_at(keyed_page_url)
    api_requests: list[Any] = []
    page.on("request", lambda request: "/v1/" in request.url and api_requests.append(request))
    page.get_by_label("API key").fill(API_KEY)
    page.get_by_role("button", name="Save").click()
    upload(page, photo_png)
    choose(page, "colorize")
    fast_settings(page, samples=1)
    wait_for_samples(generate(page), 1)
    assert all(request.headers["authorization"] == f"Bearer {API_KEY}" for request in api_requests)
    assert not [request.url for request in api_requests if API_KEY in request.url]  # never in a URL
    page.reload()
    expect(page.get_by_label("API key")).to_have_value(API_KEY)
    expect(page.locator('input[name="task"]')).not_to_have_count(0)
    expect(page.locator("#form-message")).to_be_hidden()


# Layout


def test_generate_is_in_sight_at_1280_by_900_without_scrolling(
    open_at: Any, page_url: str, photo_png: bytes
) -> None:
    page = open_at(page_url)  # the harness's window: 1280 x 900
    upload(page, photo_png)
    choose(page, "inpaint")  # the tallest form: the brush tools show too
    expect(page.get_by_role("toolbar", name="Mask brush")).to_be_visible()
    button = page.get_by_role("button", name="Generate")
    box = button.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= 900, box
    covering = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y)?.id",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert covering == "submit"  # nothing lies over it


# The large view: a sample over its input


def open_large(run: Any, index: int) -> Any:
    run.locator(".sample img").nth(index).click()
    viewer = run.page.get_by_role("dialog")
    expect(viewer).to_be_visible()
    return viewer


def test_a_sample_opens_large_over_its_input_and_the_slider_moves_the_line(inpainted: dict[str, Any]) -> None:
    page, run = inpainted["page"], inpainted["run"]
    viewer = open_large(run, 0)
    seed = sample_seeds(run)[0]
    expect(viewer.get_by_role("heading")).to_have_text(f"Sample 1 of 2 · seed {seed}")
    after, before = page.locator("#viewer-after"), page.locator("#viewer-before")
    assert after.get_attribute("src") == run.locator(".sample img").first.get_attribute("src")
    assert before.get_attribute("src") == run.locator(".input img").get_attribute("src")
    assert after.bounding_box()["height"] >= 500  # large: the thumbnails are about 200 px
    assert after.bounding_box() == before.bounding_box()  # one over the other, the same size
    viewer.get_by_role("slider").fill("20")
    assert after.evaluate("image => getComputedStyle(image).clipPath") == "inset(0px 0px 0px 20%)"
    line = page.locator(".compare-line").bounding_box()
    box = after.bounding_box()
    assert abs(line["x"] + line["width"] / 2 - (box["x"] + 0.2 * box["width"])) <= 2
    save_screenshot(page, "sample-large-view")
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()


def test_arrow_keys_move_between_samples_in_the_large_view_and_escape_closes_it(
    inpainted: dict[str, Any],
) -> None:
    page, run = inpainted["page"], inpainted["run"]
    thumbnails = [run.locator(".sample img").nth(k).get_attribute("src") for k in range(2)]
    viewer = open_large(run, 0)
    heading, after = viewer.get_by_role("heading"), page.locator("#viewer-after")
    page.keyboard.press("ArrowRight")
    expect(heading).to_have_text(re.compile(r"^Sample 2 of 2 · "))
    assert after.get_attribute("src") == thumbnails[1]
    page.keyboard.press("ArrowRight")  # wraps around
    expect(heading).to_have_text(re.compile(r"^Sample 1 of 2 · "))
    page.keyboard.press("ArrowLeft")
    expect(heading).to_have_text(re.compile(r"^Sample 2 of 2 · "))
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()


# What the page says about the model and about time


def test_the_page_says_what_the_model_is_good_at_in_the_apis_words(open_at: Any, page_url: str) -> None:
    model = httpx.get(f"{page_url}v1/model").json()
    page = open_at(page_url)
    about = page.get_by_role("region", name="About the model")
    expect(about).to_contain_text(model["summary"])
    expect(about).to_contain_text(model["weights"])


def score(
    task: str, model: float, baseline: str, baseline_score: float, measure: str = "fd_effnetlite0"
) -> dict[str, Any]:
    return {
        "task": task,
        "measure": measure,
        "model": model,
        "baseline": baseline,
        "baseline_score": baseline_score,
        "beats_baseline": model < baseline_score,
    }


# GET /v1/model for weights with an evaluation (the tests' tiny weights have none)
EVALUATED_MODEL = {
    "weights": "palette-default.safetensors",
    "resolution": 64,
    "parameters": 6_296_195,
    "training_steps": 4500,
    "tasks": ["inpaint", "colorize"],
    "summary": "It beats the classical baselines at inpainting.",
    "evaluation": {
        "sampler": "ddim:50",
        "photos": 6,
        "inputs_per_task": 24,
        "tasks": [
            score("inpaint", 50.0, "OpenCV Telea", 90.0),
            score("colorize", 204.8, "grayscale input", 89.8),
            score("colorize", 0.3561, "grayscale input", 0.3392, measure="perceptual"),
        ],
    },
}


def test_the_models_scores_against_the_baselines_are_listed(open_at: Any, page_url: str) -> None:
    page = open_at(page_url)
    page.route(
        "**/v1/model",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(EVALUATED_MODEL)
        ),
    )
    page.reload()
    about = page.get_by_role("region", name="About the model")
    expect(about).to_contain_text(
        "palette-default.safetensors, 64×64 px, 6.3 M parameters, 4,500 training steps. "
        "It beats the classical baselines at inpainting."
    )
    about.get_by_text("Scores against classical baselines").click()
    expect(about.get_by_role("listitem")).to_have_text(
        [
            "inpaint: better than OpenCV Telea (fd_effnetlite0 50.0 against 90.0; lower is better)",
            "colorize: worse than grayscale input (fd_effnetlite0 204.8 against 89.8; lower is better)",
            "colorize: worse than grayscale input (perceptual 0.356 against 0.339; lower is better)",
        ]
    )


def test_the_steps_field_shows_the_default_the_api_lists_for_the_task_and_sampler(
    open_at: Any, page_url: str
) -> None:
    """The page reads the samplers from GET /v1/samplers: their default steps per task, and which of them
    take eta (the field shows for those only)."""
    samplers = httpx.get(f"{page_url}v1/samplers").json()
    page = open_at(page_url)
    for task in ("restore", "colorize"):
        choose(page, task)
        for sampler in samplers:
            page.get_by_label("Sampler").select_option(sampler["name"])
            default = sampler["default_steps"][task]
            expect(page.get_by_label("Steps")).to_have_attribute("placeholder", f"{default} (default)")
            if sampler["takes_eta"]:
                expect(page.get_by_label("Eta")).to_be_visible()
            else:
                expect(page.get_by_label("Eta")).to_be_hidden()


def test_without_a_worker_the_page_says_there_is_no_time_estimate(open_at: Any, stalled_api: str) -> None:
    page = open_at(f"{stalled_api}/")
    expect(page.locator("#estimate")).to_have_text(
        "No time estimate yet: no worker is serving the queue, so there is no speed to estimate from."
    )


@pytest.fixture
def measured_worker(page_url: str, photo_png: bytes) -> str:
    """The page's API, once its worker has sampled a batch and so measured its speed."""
    with httpx.Client(base_url=page_url, timeout=30) as http:
        fields = {"num_samples": "1", "steps": "2"}
        job = http.post("v1/restore", files={"image": ("p.png", photo_png)}, data=fields).json()
        for _ in range(600):
            if http.get(job["status_url"]).json()["status"] == "finished":
                return page_url
            time.sleep(0.1)
    raise AssertionError("the worker did not finish a 2-step job in 60 s")


def test_the_page_estimates_how_long_the_chosen_settings_take_on_the_chosen_photo(
    open_at: Any, measured_worker: str, photo_png: bytes
) -> None:
    """The estimate counts the tiles a full-resolution job samples, so it follows the photo's size."""
    page = open_at(measured_worker)
    upload(page, photo_png)
    choose(page, "restore")
    page.get_by_label("Sampler").select_option("ddpm")
    page.get_by_label("Samples").fill("4")
    width, height = Image.open(io.BytesIO(photo_png)).size
    query = {"sampler": "ddpm", "num_samples": 4, "task": "restore", "width": width, "height": height}
    expected = httpx.get(f"{measured_worker}v1/estimate", params=query).json()
    estimate = page.locator("#estimate")
    expect(estimate).to_have_text(re.compile(r"^Estimated: (starts in .+, then )?about .+ to generate"))

    def shown_seconds() -> int:
        shown = re.search(r"about (?:(\d+) min )?(\d+) s to generate", estimate.inner_text())
        assert shown, estimate.inner_text()
        return 60 * int(shown[1] or 0) + int(shown[2])

    tolerance = max(2, 0.2 * expected["sampling_seconds"])
    deadline = time.monotonic() + 10  # the page refreshes its estimate 250 ms after the last change
    while abs(shown_seconds() - expected["sampling_seconds"]) > tolerance and time.monotonic() < deadline:
        time.sleep(0.2)
    assert abs(shown_seconds() - expected["sampling_seconds"]) <= tolerance


def test_a_queued_job_shows_when_it_should_start(
    open_at: Any, measured_worker: str, photo_png: bytes
) -> None:
    with httpx.Client(base_url=measured_worker, timeout=30) as http:
        fields = {"num_samples": "1", "steps": "1000"}
        busy = http.post("v1/restore", files={"image": ("p.png", photo_png)}, data=fields).json()
        try:
            for _ in range(600):
                if http.get(busy["status_url"]).json()["status"] == "started":
                    break
                time.sleep(0.1)
            page = open_at(measured_worker)
            upload(page, photo_png)
            choose(page, "colorize")
            fast_settings(page, samples=1)
            run = generate(page)
            expect(run.locator(".run-status")).to_have_text(
                re.compile(r"^Queued: yours is next · starts in (about \d.*|under a second)$")
            )
            save_screenshot(page, "queued-with-estimate")
            run.get_by_role("button", name="Cancel").click()
            expect(run.locator(".run-status")).to_have_text("Canceled")
        finally:
            http.delete(busy["status_url"])  # and free the worker for the other tests
