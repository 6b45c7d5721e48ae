// The large view of a run's samples: one sample at a time over its input, a slider that moves the line
// between them (the input left of it, the sample right of it), ← and → between samples, Esc to close.

const $ = (selector) => document.querySelector(selector);

export class Viewer {
  #dialog = $('#viewer');
  #title = $('#viewer-title');
  #compare = $('#compare');
  #before = $('#viewer-before');
  #after = $('#viewer-after');
  #slider = $('#compare-slider');
  #download = $('#viewer-download');
  #previous = $('#viewer-previous');
  #next = $('#viewer-next');
  #samples = []; // [{url, seed, filename}] of the run being viewed, in order
  #index = 0;

  constructor() {
    this.#slider.addEventListener('input', () => this.#split());
    this.#previous.addEventListener('click', () => this.show(this.#index - 1));
    this.#next.addEventListener('click', () => this.show(this.#index + 1));
    $('#viewer-close').addEventListener('click', () => this.#dialog.close());
    this.#dialog.addEventListener('keydown', (event) => {
      if (event.target === this.#slider) return; // its own arrow keys move the line
      if (event.key === 'ArrowLeft') this.show(this.#index - 1);
      else if (event.key === 'ArrowRight') this.show(this.#index + 1);
      else return;
      event.preventDefault();
    });
    // A click on the backdrop (outside the dialog's box) closes it, as Esc does.
    this.#dialog.addEventListener('click', (event) => {
      if (event.target === this.#dialog) this.#dialog.close();
    });
    this.#split();
  }

  /** Opens the view on ``samples[index]``, compared with the input at ``inputUrl``. */
  open(samples, index, inputUrl) {
    this.#samples = samples;
    this.#before.src = inputUrl;
    this.show(index);
    if (!this.#dialog.open) this.#dialog.showModal();
  }

  show(index) {
    const count = this.#samples.length;
    if (!count) return;
    this.#index = (index + count) % count; // wraps around, both ways
    const sample = this.#samples[this.#index];
    this.#after.src = sample.url;
    this.#after.alt = `Sample ${this.#index + 1}, seed ${sample.seed}`;
    this.#title.textContent = `Sample ${this.#index + 1} of ${count} · seed ${sample.seed}`;
    this.#download.href = sample.url;
    this.#download.download = sample.filename;
    this.#previous.disabled = this.#next.disabled = count < 2;
    // The box takes the sample's shape; the input is fitted into it (same size for inpainting and
    // colorization, so the two line up pixel for pixel).
    const fit = () => {
      const aspect = this.#after.naturalWidth / this.#after.naturalHeight;
      this.#compare.style.setProperty('--aspect', String(aspect));
    };
    if (this.#after.complete && this.#after.naturalWidth) fit();
    else this.#after.addEventListener('load', fit, { once: true });
  }

  #split() {
    this.#compare.style.setProperty('--split', `${this.#slider.value}%`);
  }
}
