// The Palette page: pick an image and a task, paint a mask, submit, watch the job, get the samples.
// Plain modules, no build step; everything the page shows comes from the API it is served by.

import {
  ApiError,
  FALLBACK_LIMITS,
  call,
  callJson,
  formLimits,
  formatSeconds,
  loadKey,
  saveKey,
  sentence,
} from './api.js';
import { MaskPainter } from './painter.js';
import { Viewer } from './viewer.js';

const $ = (selector, root = document) => root.querySelector(selector);

const page = {
  keyForm: $('#key-form'),
  keyInput: $('#api-key'),
  keyState: $('#key-state'),
  form: $('#job-form'),
  dropZone: $('#drop-zone'),
  imageInput: $('#image-input'),
  imageInfo: $('#image-info'),
  taskList: $('#task-list'),
  taskOptions: $('#task-options'),
  numSamples: $('#num-samples'),
  sampler: $('#sampler'),
  steps: $('#steps'),
  eta: $('#eta'),
  seed: $('#seed'),
  seedRandom: $('#seed-random'),
  submit: $('#submit'),
  estimate: $('#estimate'),
  formMessage: $('#form-message'),
  aboutModel: $('#about-model'),
  modelFacts: $('#model-facts'),
  modelSummary: $('#model-summary'),
  modelDetails: $('#model-details'),
  modelScores: $('#model-scores'),
  stage: $('#stage'),
  preview: $('#preview'),
  maskTools: $('#mask-tools'),
  brushSize: $('#brush-size'),
  brushSizeValue: $('#brush-size-value'),
  undo: $('#undo'),
  clear: $('#clear'),
  runs: $('#runs'),
  runTemplate: $('#run-template'),
};

const painter = new MaskPainter($('#mask-canvas'), $('#brush-cursor'));
const viewer = new Viewer();

const state = {
  tasks: [],
  task: null, // the chosen entry of GET /v1/tasks
  samplers: [], // GET /v1/samplers: each with its default steps per task and whether it takes eta
  file: null, // the File to upload, sent as it is (never re-encoded)
  size: null, // { width, height } of the chosen photo, as the server will decode it
  previewUrl: null,
  reading: Promise.resolve(), // the chosen file's decoding; a submission waits for it
};

const MAX_RUNS = 8; // older runs are dropped, and their images released
let runCount = 0;
const POLL_FIRST_MS = 250;
const POLL_MAX_MS = 2000;

function showFormMessage(text) {
  page.formMessage.textContent = text;
  page.formMessage.hidden = !text;
}

// API key ----------------------------------------------------------------------------------------------------

function showKeyState(stored = true) {
  if (!loadKey()) page.keyState.textContent = '';
  else if (stored) page.keyState.textContent = 'Saved in this browser.';
  else page.keyState.textContent = 'Used for this visit only: this browser does not allow storing it.';
}

page.keyInput.value = loadKey();
showKeyState();

page.keyForm.addEventListener('submit', (event) => {
  event.preventDefault();
  showKeyState(saveKey(page.keyInput.value.trim()));
  loadTasks(); // the task list is the first thing a key unlocks
});

$('#key-forget').addEventListener('click', () => {
  saveKey('');
  page.keyInput.value = '';
  showKeyState();
});

// Tasks ------------------------------------------------------------------------------------------------------

async function loadTasks() {
  try {
    [state.tasks, state.samplers] = await Promise.all([callJson('v1/tasks'), callJson('v1/samplers')]);
  } catch (error) {
    page.taskList.replaceChildren(paragraph('The tasks could not be loaded.', 'hint'));
    showFormMessage(error.message);
    if (error.status === 401) page.keyInput.focus();
    return;
  }
  showFormMessage('');
  renderSamplers();
  renderTasks();
  loadModel(); // only once the API answers: before that, a key may be missing
}

// The model --------------------------------------------------------------------------------------------------

// Everything said about the model comes from GET /v1/model, which derives it from the served weights and
// their evaluation: retrained weights change what the page says without touching the page.
async function loadModel() {
  let model;
  try {
    model = await callJson('v1/model');
  } catch {
    return; // the task list already says what went wrong (a missing key, an unreachable server)
  }
  const facts = [model.weights];
  if (model.resolution) facts.push(`${model.resolution}×${model.resolution} px`);
  if (model.parameters) facts.push(`${(model.parameters / 1e6).toFixed(1)} M parameters`);
  if (model.training_steps) facts.push(`${model.training_steps.toLocaleString('en')} training steps`);
  page.modelFacts.textContent = `${facts.join(', ')}.`;
  page.modelSummary.textContent = model.summary;
  const scores = model.evaluation?.tasks ?? [];
  page.modelScores.replaceChildren(
    ...scores.map((score) => {
      const item = document.createElement('li');
      const verdict = score.beats_baseline ? 'better than' : 'worse than';
      item.textContent =
        `${score.condition ?? score.task}: ${verdict} ${score.baseline} ` +
        `(${score.measure} ${scoreText(score.model)} against ${scoreText(score.baseline_score)}; lower is better)`;
      return item;
    }),
  );
  page.modelDetails.hidden = !scores.length;
  page.aboutModel.hidden = false;
}

// An evaluation score as the report's tables print it: FD to 0.1, a perceptual distance (under 1) to 0.001.
function scoreText(value) {
  return value < 1 ? value.toFixed(3) : value.toFixed(1);
}

// localStorage may be unavailable (privacy modes); then nothing is remembered, and that is all.
function remembered(name) {
  try {
    return localStorage.getItem(name);
  } catch {
    return null;
  }
}

function remember(name, value) {
  try {
    localStorage.setItem(name, value);
  } catch {
    // not remembered
  }
}

function paragraph(text, className) {
  const p = document.createElement('p');
  p.textContent = text;
  if (className) p.className = className;
  return p;
}

// Built from the API's list, so a task added to the registry appears here without touching the page.
function renderTasks() {
  const previous = state.task?.name ?? remembered('palette.task');
  const choices = state.tasks.map((task) => {
    const label = document.createElement('label');
    label.className = 'task';
    const input = document.createElement('input');
    input.type = 'radio';
    input.name = 'task';
    input.value = task.name;
    input.addEventListener('change', () => selectTask(task));
    const title = document.createElement('span');
    title.className = 'task-title';
    title.textContent = task.title;
    const description = document.createElement('span');
    description.className = 'task-description';
    description.textContent = task.description;
    label.append(input, title, description);
    return label;
  });
  page.taskList.replaceChildren(...choices);
  page.taskList.setAttribute('role', 'radiogroup');
  page.taskList.setAttribute('aria-label', 'Task');
  const chosen = state.tasks.find((task) => task.name === previous) ?? state.tasks[0];
  if (chosen) {
    page.taskList.querySelector(`input[value="${CSS.escape(chosen.name)}"]`).checked = true;
    selectTask(chosen);
  }
}

async function selectTask(task) {
  state.task = task;
  remember('palette.task', task.name);
  renderTaskOptions(task);
  updateStage();
  updateSampler(); // the default steps are the task's
  applyLimits(await formLimits(task));
}

// Task options: "sides" gets a picker laid out around the image; any other option a text field.
function renderTaskOptions(task) {
  page.taskOptions.replaceChildren(
    ...task.options.map((option) => (option.name === 'sides' ? sidesPicker(option) : textOption(option))),
  );
}

const SIDES = ['top', 'left', 'right', 'bottom'];

function sidesPicker(option) {
  const fieldset = document.createElement('fieldset');
  fieldset.className = 'sides';
  fieldset.dataset.option = option.name;
  const legend = document.createElement('legend');
  legend.textContent = 'Extend on these sides';
  fieldset.append(legend);
  const defaults = option.default === 'all' ? SIDES : option.default.split(',').map((s) => s.trim());
  for (const side of SIDES) {
    const label = document.createElement('label');
    label.className = `side side-${side}`;
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.value = side;
    box.checked = defaults.includes(side);
    label.append(box, ` ${side}`);
    fieldset.append(label);
  }
  const picture = document.createElement('span');
  picture.className = 'side-picture';
  picture.setAttribute('aria-hidden', 'true');
  fieldset.append(picture);
  return fieldset;
}

function textOption(option) {
  const wrapper = document.createElement('div');
  wrapper.className = 'text-option';
  const id = `option-${option.name}`;
  const label = document.createElement('label');
  label.htmlFor = id;
  label.textContent = option.name;
  const input = document.createElement('input');
  input.id = id;
  input.dataset.option = option.name;
  input.value = option.default;
  const hint = paragraph(option.description, 'hint');
  wrapper.append(label, input, hint);
  return wrapper;
}

/** [name, value] pairs of the task's options; throws a readable Error if they are unusable. */
function taskOptionValues() {
  const values = [];
  for (const field of page.taskOptions.querySelectorAll('[data-option]')) {
    if (field.classList.contains('sides')) {
      const sides = [...field.querySelectorAll('input:checked')].map((box) => box.value);
      if (!sides.length) throw new Error('Choose at least one side to extend.');
      values.push([field.dataset.option, sides.length === SIDES.length ? 'all' : sides.join(',')]);
    } else {
      values.push([field.dataset.option, field.value]);
    }
  }
  return values;
}

// Sampling controls --------------------------------------------------------------------------------------------

function setRange(input, { min, max }) {
  if (min !== undefined) input.min = String(min);
  if (max !== undefined) input.max = String(max);
}

function applyLimits(found) {
  setRange(page.numSamples, found.num_samples);
  setRange(page.steps, found.steps);
  setRange(page.eta, found.eta);
  setRange(page.seed, found.seed);
  // The server's default number of samples, unless the person has chosen one already or is typing one now
  // (the limits may arrive mid-keystroke: replacing the value then would splice the two, '2' + '1' = '21').
  const typing = document.activeElement === page.numSamples;
  if (!page.numSamples.dataset.touched && !typing && found.num_samples.default !== undefined) {
    page.numSamples.value = String(found.num_samples.default);
  }
  estimateSoon();
}

// Built from the API's list, as the tasks are: the API's default sampler is chosen unless one already is.
function renderSamplers() {
  const chosen = page.sampler.value;
  page.sampler.replaceChildren(
    ...state.samplers.map((sampler) => {
      const option = document.createElement('option');
      option.value = option.textContent = sampler.name;
      option.title = sampler.description;
      return option;
    }),
  );
  const fallback = state.samplers.find((sampler) => sampler.default);
  page.sampler.value = chosenSampler(chosen) ? chosen : (fallback?.name ?? '');
  updateSampler();
}

function chosenSampler(name = page.sampler.value) {
  return state.samplers.find((sampler) => sampler.name === name);
}

/** The placeholder of the steps field says what an empty one runs: the sampler's default for the task. */
function updateSampler() {
  const sampler = chosenSampler();
  const defaultSteps = state.task && sampler?.default_steps[state.task.name];
  page.steps.placeholder = defaultSteps ? `${defaultSteps} (default)` : 'default';
  page.form.classList.toggle('takes-eta', Boolean(sampler?.takes_eta));
}

page.sampler.addEventListener('change', updateSampler);
page.numSamples.addEventListener('input', () => (page.numSamples.dataset.touched = 'yes'));

// The estimated time of a job with the form's settings, from the API (the workers' measured speed and the
// queue ahead); refreshed when the settings change and every little while, as the queue moves.
const ESTIMATE_REFRESH_MS = 15000;
let estimateTimer = null;
let estimateAbort = null;

function about(seconds) {
  return seconds < 1 ? 'under a second' : `about ${formatSeconds(Math.round(seconds))}`;
}

/** A sentence from an estimate of the API. */
function describeEstimate(estimate) {
  if (estimate.sampling_seconds === null) return `No time estimate yet: ${estimate.basis}.`;
  const sampling = `${about(estimate.sampling_seconds)} to generate`;
  if (!estimate.start_seconds) return `Estimated: ${sampling}, starting at once.`;
  return `Estimated: starts in ${about(estimate.start_seconds)}, then ${sampling}.`;
}

async function updateEstimate() {
  clearTimeout(estimateTimer);
  if (!state.task) return; // the API has not answered yet (a key may be missing): nothing to ask it
  estimateTimer = setTimeout(updateEstimate, ESTIMATE_REFRESH_MS);
  estimateAbort?.abort();
  estimateAbort = new AbortController();
  const query = new URLSearchParams(samplingValues().filter(([name]) => name !== 'eta' && name !== 'seed'));
  // The task and the photo's size let the API count the tiles the job will sample.
  query.set('task', state.task.name);
  if (state.size) {
    query.set('width', String(state.size.width));
    query.set('height', String(state.size.height));
  }
  try {
    const estimate = await callJson(`v1/estimate?${query}`, { signal: estimateAbort.signal });
    page.estimate.textContent = describeEstimate(estimate);
  } catch (error) {
    if (error.name !== 'AbortError') page.estimate.textContent = '';
  }
}

let estimateDebounce = null;
function estimateSoon() {
  clearTimeout(estimateDebounce);
  estimateDebounce = setTimeout(updateEstimate, 250);
}

for (const input of [page.numSamples, page.sampler, page.steps]) input.addEventListener('input', estimateSoon);
applyLimits(FALLBACK_LIMITS); // a usable form before the API has answered
page.seedRandom.addEventListener('change', () => {
  page.seed.disabled = page.seedRandom.checked;
  if (!page.seedRandom.checked) page.seed.focus();
});

/** [name, value] pairs of the sampling fields; empty fields are left to the server's defaults. */
function samplingValues() {
  const values = [
    ['num_samples', page.numSamples.value],
    ['sampler', page.sampler.value],
  ];
  if (page.steps.value) values.push(['steps', page.steps.value]);
  if (chosenSampler()?.takes_eta && Number(page.eta.value) > 0) values.push(['eta', page.eta.value]);
  if (!page.seedRandom.checked) values.push(['seed', page.seed.value]);
  return values;
}

// The image and the mask ---------------------------------------------------------------------------------------

/** Read `file` as the photo to use; a Generate click meanwhile waits for it (a large photo takes a while to
decode, and a quick click must not be told to choose the image it just chose). */
function useFile(file) {
  if (!file) return;
  state.reading = readFile(file);
}

async function readFile(file) {
  showFormMessage('');
  const url = URL.createObjectURL(file);
  const image = new Image();
  image.src = url;
  try {
    await image.decode();
  } catch {
    URL.revokeObjectURL(url);
    showFormMessage(`“${file.name}” can't be read as an image. Choose a PNG, JPEG or WebP file.`);
    return;
  }
  if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
  state.file = file;
  state.size = { width: image.naturalWidth, height: image.naturalHeight };
  state.previewUrl = url;
  page.preview.src = url;
  // naturalWidth/Height follow the EXIF orientation, as the server's decoding does, so the mask matches.
  painter.reset(image.naturalWidth, image.naturalHeight);
  const size = `${image.naturalWidth}×${image.naturalHeight}`;
  page.imageInfo.textContent = `${file.name} · ${size} · ${formatBytes(file.size)}`;
  updateStage();
  estimateSoon(); // the cost of a full-resolution job follows the photo's size
}

function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 2 ** 20) return `${(bytes / 1024).toFixed(0)} kB`;
  return `${(bytes / 2 ** 20).toFixed(1)} MB`;
}

function updateStage() {
  const masking = Boolean(state.file && state.task?.needs_mask);
  page.stage.classList.toggle('empty', !state.file);
  page.stage.classList.toggle('masking', masking);
  page.maskTools.hidden = !masking;
  updateMaskTools();
}

function updateMaskTools() {
  page.undo.disabled = !painter.canUndo;
}

painter.onchange = updateMaskTools;

page.imageInput.addEventListener('change', () => useFile(page.imageInput.files[0]));

// Files can be dropped on the drop zone or on the image area.
for (const target of [page.dropZone, page.stage]) {
  for (const type of ['dragenter', 'dragover']) {
    target.addEventListener(type, (event) => {
      event.preventDefault(); // allows dropping
      target.classList.add('dragging');
    });
  }
  for (const type of ['dragleave', 'drop']) {
    target.addEventListener(type, () => target.classList.remove('dragging'));
  }
  target.addEventListener('drop', (event) => {
    event.preventDefault();
    useFile(event.dataTransfer.files[0]);
  });
}
document.addEventListener('paste', (event) => {
  const file = [...(event.clipboardData?.files ?? [])].find((f) => f.type.startsWith('image/'));
  if (file) useFile(file);
});

function setBrushSize(size) {
  page.brushSize.value = String(size);
  painter.brushSize = Number(page.brushSize.value); // the range input clamps it
  page.brushSizeValue.textContent = `${painter.brushSize} px`;
}

page.brushSize.addEventListener('input', () => setBrushSize(page.brushSize.value));
for (const radio of document.querySelectorAll('input[name="brush-mode"]')) {
  radio.addEventListener('change', () => (painter.erasing = radio.value === 'erase' && radio.checked));
}
page.undo.addEventListener('click', () => painter.undo());
page.clear.addEventListener('click', () => painter.clear());

document.addEventListener('keydown', (event) => {
  if (page.maskTools.hidden || event.target.matches('input:not([type=range]), select, textarea')) return;
  if ((event.ctrlKey || event.metaKey) && event.key === 'z') {
    event.preventDefault();
    painter.undo();
  } else if (event.key === '[' || event.key === ']') {
    setBrushSize(painter.brushSize * (event.key === ']' ? 1.25 : 0.8));
  }
});

// Submitting ---------------------------------------------------------------------------------------------------

page.form.addEventListener('submit', async (event) => {
  event.preventDefault();
  showFormMessage('');
  await state.reading;
  if (!state.file) return showFormMessage('Choose an image first: drop it on the page or use “choose a file”.');
  if (!state.task) return showFormMessage('No task is available yet: the task list has not loaded.');
  let fields;
  try {
    fields = [...samplingValues(), ...taskOptionValues()];
  } catch (error) {
    return showFormMessage(error.message);
  }
  let mask = null;
  if (state.task.needs_mask) {
    if (painter.isEmpty()) return showFormMessage('Paint over the region to generate first: it shows in pink.');
    mask = await painter.toBlob();
  }
  page.submit.disabled = true; // against double clicks while uploading; a running job blocks nothing
  try {
    await startRun({ task: state.task, file: state.file, mask, fields });
  } finally {
    page.submit.disabled = false;
    estimateSoon(); // the new job is now ahead of the next one
  }
});

async function startRun(request) {
  const run = new Run(request);
  page.runs.prepend(run.element);
  const runs = page.runs.querySelectorAll('.run');
  for (const old of [...runs].slice(MAX_RUNS)) old.dispatchEvent(new Event('dispose'));
  run.element.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  await run.submit();
}

// A run: one submission and the job it became -------------------------------------------------------------------

class Run {
  #abort = new AbortController();
  #urls = []; // object URLs to release when the run is dropped
  #timer = null;
  #startedAt = 0;
  #statusUrl = null;
  #samples = []; // [{url, seed, filename}] by index, for the large view

  constructor(request) {
    this.request = request;
    this.element = page.runTemplate.content.firstElementChild.cloneNode(true);
    runCount += 1;
    this.element.dataset.run = String(runCount); // a stable handle, also for tests
    this.status = $('.run-status', this.element);
    this.progress = $('.run-progress', this.element);
    this.elapsed = $('.run-elapsed', this.element);
    this.error = $('.run-error', this.element);
    this.gallery = $('.gallery', this.element);
    this.cancelButton = $('.cancel', this.element);
    this.retryButton = $('.retry', this.element);
    this.moreButton = $('.more', this.element);

    const count = Number(new Map(request.fields).get('num_samples'));
    $('.run-title', this.element).textContent = `${request.task.title} · ${count} sample${count === 1 ? '' : 's'}`;
    const input = $('.input img', this.element);
    input.src = this.#url(request.file);
    this.cancelButton.addEventListener('click', () => this.cancel());
    this.retryButton.addEventListener('click', () => this.#resubmit(request.fields));
    // New seeds: the same request without a seed, so the server draws one (and reports it).
    this.moreButton.addEventListener('click', () =>
      this.#resubmit(request.fields.filter(([name]) => name !== 'seed')),
    );
    this.element.addEventListener('dispose', () => this.dispose());
  }

  #url(blob) {
    const url = URL.createObjectURL(blob);
    this.#urls.push(url);
    return url;
  }

  #resubmit(fields) {
    startRun({ ...this.request, fields });
  }

  #setStatus(text, progress) {
    this.status.textContent = text;
    if (progress === null) this.progress.removeAttribute('value'); // indeterminate
    else this.progress.value = progress;
  }

  #fail(message, { retryAfter = null } = {}) {
    this.error.textContent = message;
    this.error.hidden = false;
    this.#end();
    if (retryAfter !== null) this.#offerRetry(retryAfter);
  }

  // After a 429/503 the server says when to come back; the button counts down to it.
  #offerRetry(seconds) {
    const button = this.retryButton;
    button.hidden = false;
    let left = seconds;
    const tick = () => {
      button.disabled = left > 0;
      button.textContent = left > 0 ? `Try again (${formatSeconds(left)})` : 'Try again';
      left -= 1;
      if (left >= 0) setTimeout(tick, 1000);
    };
    tick();
  }

  #startClock() {
    this.#startedAt = performance.now();
    const show = () => {
      const seconds = Math.floor((performance.now() - this.#startedAt) / 1000);
      this.elapsed.textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
    };
    show();
    this.#timer = setInterval(show, 250);
  }

  #stopClock() {
    clearInterval(this.#timer);
  }

  async submit() {
    const body = new FormData();
    body.append('image', this.request.file, this.request.file.name);
    if (this.request.mask) body.append('mask', this.request.mask, 'mask.png');
    for (const [name, value] of this.request.fields) body.append(name, value);
    this.#setStatus('Uploading…', null);
    this.#startClock();
    let accepted;
    try {
      accepted = await callJson(this.request.task.endpoint, { method: 'POST', body, signal: this.#abort.signal });
    } catch (error) {
      if (error.name === 'AbortError') return;
      this.#setStatus('Not accepted', null);
      return this.#fail(error.message, { retryAfter: error.retryAfter ?? (error.status === 0 ? 0 : null) });
    }
    this.element.dataset.jobId = accepted.job_id;
    this.#statusUrl = accepted.status_url;
    this.#placeholders();
    this.#track(); // in the background: submit() is done once the job is accepted
  }

  #placeholders() {
    const count = Number(new Map(this.request.fields).get('num_samples'));
    for (let k = 0; k < count; k += 1) {
      const figure = document.createElement('figure');
      figure.className = 'sample pending';
      figure.append(paragraph('waiting…', 'hint'));
      this.gallery.append(figure);
    }
  }

  // Poll the job with a growing delay; transient failures (network, 429, 503) are retried, not fatal.
  async #track() {
    let delay = POLL_FIRST_MS;
    let lastState = null;
    for (;;) {
      let job;
      try {
        job = await callJson(this.#statusUrl, { signal: this.#abort.signal });
      } catch (error) {
        if (error.name === 'AbortError') return;
        if (!(error instanceof ApiError) || ![0, 429, 502, 503, 504].includes(error.status)) {
          return this.#fail(error.message);
        }
        this.status.textContent = `${error.message} Retrying…`;
        if (!(await this.#sleep(error.retryAfter ? error.retryAfter * 1000 : delay))) return;
        delay = Math.min(delay * 2, POLL_MAX_MS * 5);
        continue;
      }
      if (job.status !== lastState) delay = POLL_FIRST_MS; // a new phase: look closely again
      lastState = job.status;
      if (this.#show(job)) return;
      if (!(await this.#sleep(delay))) return;
      delay = Math.min(delay * 1.5, POLL_MAX_MS);
    }
  }

  /** Shows the job's state; true once it has ended. */
  #show(job) {
    this.element.dataset.status = job.status;
    switch (job.status) {
      case 'queued': {
        const ahead = job.queue_position;
        const where =
          ahead === null ? '' : ahead === 0 ? ': yours is next' : `: ${ahead} job${ahead === 1 ? '' : 's'} ahead`;
        const starts = job.estimate?.start_seconds;
        const when = starts === null || starts === undefined ? '' : ` · starts in ${about(starts)}`;
        this.#setStatus(`Queued${where}${when}`, null);
        return false;
      }
      case 'started':
        this.#setStatus(`Generating… ${Math.round(job.progress * 100)}%`, job.progress);
        return false;
      case 'finished':
        this.#finished(job);
        return true;
      case 'canceled':
        this.#setStatus('Canceled', null);
        this.#end();
        this.gallery.querySelectorAll('.pending').forEach((figure) => figure.remove());
        this.moreButton.hidden = false;
        return true;
      default: // failed
        this.#setStatus('Failed', null);
        this.#fail(sentence(job.error ?? 'the job failed'));
        this.moreButton.hidden = false;
        return true;
    }
  }

  #end() {
    this.#stopClock();
    this.elapsed.hidden = true; // the status says how long it took
    this.progress.hidden = true;
    this.cancelButton.hidden = true;
  }

  async #finished(job) {
    const total = job.timings.total_seconds;
    this.#setStatus(`Done${total ? ` in ${total.toFixed(1)} s` : ''}`, 1);
    this.#end();
    this.moreButton.hidden = false;
    const figures = [...this.gallery.querySelectorAll('.sample')];
    const base = this.request.file.name.replace(/\.[^.]*$/, '').replace(/[^\w-]+/g, '_') || 'image';
    // Fetched (not <img src>) so that the API key goes along in a header.
    await Promise.all(
      job.samples.map(async (sample, k) => {
        const figure = figures[k];
        try {
          const blob = await (await call(sample.url, { signal: this.#abort.signal })).blob();
          this.#showSample(figure, blob, sample, `${base}-${job.task}-seed${sample.seed}.png`);
        } catch (error) {
          if (error.name === 'AbortError') return;
          figure.replaceChildren(paragraph(error.message, 'message'));
        }
      }),
    );
  }

  #showSample(figure, blob, sample, filename) {
    const url = this.#url(blob);
    this.#samples[sample.index] = { url, seed: sample.seed, filename };
    const image = document.createElement('img');
    image.src = url;
    image.alt = `Sample ${sample.index + 1}, seed ${sample.seed}`;
    image.dataset.seed = String(sample.seed);
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'sample-open';
    open.title = 'Compare with the input, large';
    open.append(image);
    open.addEventListener('click', () => {
      const shown = this.#samples.filter(Boolean); // in index order, those that have arrived
      viewer.open(shown, shown.indexOf(this.#samples[sample.index]), $('.input img', this.element).src);
    });
    const caption = document.createElement('figcaption');
    const link = document.createElement('a');
    link.href = url;
    link.download = filename;
    link.textContent = 'Download PNG';
    caption.append(`Seed ${sample.seed} · `, link);
    figure.classList.remove('pending');
    figure.replaceChildren(open, caption);
  }

  async cancel() {
    this.cancelButton.disabled = true;
    try {
      const job = await callJson(this.#statusUrl, { method: 'DELETE' });
      this.#abort.abort(); // stop polling: the answer is the final status
      this.#abort = new AbortController();
      this.#show(job);
    } catch (error) {
      // 409: it ended meanwhile; polling shows how. Anything else is worth saying.
      if (error.status !== 409) this.status.textContent = `Could not cancel: ${error.message}`;
      this.cancelButton.disabled = false;
    }
  }

  /** Waits, unless the run is disposed or canceled meanwhile; false then. */
  #sleep(ms) {
    const signal = this.#abort.signal;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(true), ms);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
  }

  dispose() {
    this.#abort.abort();
    this.#stopClock();
    this.#urls.forEach((url) => URL.revokeObjectURL(url));
    this.element.remove();
  }
}

loadTasks();
