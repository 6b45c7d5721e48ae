// Talking to the Palette API: the API key, readable errors, and the form limits from the OpenAPI document.

const KEY_STORAGE = 'palette.apiKey';
let currentKey = null; // the key in use once one has been saved (or forgotten) during this visit

// localStorage throws in some privacy modes; the page still works, the key just isn't remembered.
export function loadKey() {
  if (currentKey !== null) return currentKey;
  try {
    return localStorage.getItem(KEY_STORAGE) ?? '';
  } catch {
    return '';
  }
}

/** Uses ``key`` from now on; true if it is also remembered for later visits. */
export function saveKey(key) {
  currentKey = key;
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
    return true;
  } catch {
    return false;
  }
}

/** An answer other than success, with a message meant for the person using the page. */
export class ApiError extends Error {
  constructor(message, { status = 0, retryAfter = null } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status; // 0: the server could not be reached
    this.retryAfter = retryAfter; // seconds, from Retry-After (413/429/503), or null
  }
}

/**
 * The URL to call for a path or an absolute URL the API returned. The API builds absolute URLs from the
 * Host header, which a proxy may have rewritten; the page only ever talks to its own origin (its CSP allows
 * nothing else), so a foreign origin is replaced by the page's.
 */
export function apiUrl(pathOrUrl) {
  const url = new URL(pathOrUrl, document.baseURI);
  return url.origin === location.origin ? url : new URL(url.pathname + url.search, location.origin);
}

/** fetch() with the API key, turning every failure into an ApiError; resolves to the Response. */
export async function call(pathOrUrl, { method = 'GET', body, signal } = {}) {
  const headers = {};
  const key = loadKey();
  if (key) headers.Authorization = `Bearer ${key}`; // a header, never the URL: URLs end up in logs
  let response;
  try {
    response = await fetch(apiUrl(pathOrUrl), { method, body, headers, signal, cache: 'no-store' });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError('The server could not be reached. Check your connection; the page will keep trying.');
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

export async function callJson(pathOrUrl, options) {
  return (await call(pathOrUrl, options)).json();
}

async function errorFrom(response) {
  const retryAfter = parseRetryAfter(response.headers.get('Retry-After'));
  let detail = '';
  try {
    detail = (await response.json()).detail ?? ''; // every error of the API is {"detail": "..."}
  } catch {
    // not JSON: a proxy's error page, say; the status line will have to do
  }
  return new ApiError(describe(response.status, String(detail), retryAfter), {
    status: response.status,
    retryAfter,
  });
}

/** 'the job failed' -> 'The job failed.': the API's details are lower-case fragments. */
export function sentence(text) {
  const trimmed = text.trim();
  if (!trimmed) return '';
  const capitalised = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?)]$/.test(capitalised) ? capitalised : `${capitalised}.`;
}

function describe(status, detail, retryAfter) {
  const told = sentence(detail);
  const retry = retryAfter === null ? '' : ` You can try again in ${formatSeconds(retryAfter)}.`;
  switch (status) {
    case 401: // the detail explains the HTTP headers, which the page sends itself
      return loadKey()
        ? 'The API key was not accepted: check it under “API key” and press Save.'
        : 'This server needs an API key: enter yours under “API key” and press Save.';
    case 413:
      return `The image is too large for this server. ${told}`;
    case 422:
      return `The server could not use this request. ${told}`;
    case 429:
      return `Too many requests for now. ${told}${retry}`;
    case 503:
      return `The service is busy or unavailable. ${told}${retry}`;
    default:
      return told || `The server answered ${status}.${retry}`;
  }
}

/** Retry-After is either seconds or an HTTP date. */
export function parseRetryAfter(value) {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.round((date - Date.now()) / 1000));
}

export function formatSeconds(seconds) {
  if (seconds < 60) return `${seconds} s`;
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

// Form limits ----------------------------------------------------------------------------------------------

// Used when the OpenAPI document is unavailable (a deployment may switch it off).
export const FALLBACK_LIMITS = {
  num_samples: { min: 1, max: 8, default: 4 },
  steps: { min: 1, max: 1000 },
  eta: { min: 0, max: 1, default: 0 },
  seed: { min: 0, max: 2 ** 31 - 1 },
};

let openapi = null;

/**
 * Limits of a task's form fields, read from the API's own OpenAPI document. The samplers and their default
 * steps come from GET /v1/samplers instead.
 */
export async function formLimits(task) {
  try {
    openapi ??= await callJson('openapi.json');
    const path = apiUrl(task.endpoint).pathname;
    const body = openapi.paths[path].post.requestBody.content['multipart/form-data'].schema;
    const fields = resolve(body).properties;
    return {
      num_samples: numberLimits(fields.num_samples),
      steps: numberLimits(fields.steps),
      eta: numberLimits(fields.eta),
      seed: numberLimits(fields.seed),
    };
  } catch {
    openapi = null; // try again next time (the key may have been missing)
    return FALLBACK_LIMITS;
  }
}

function resolve(schema) {
  if (!schema?.$ref) return schema;
  const name = schema.$ref.split('/').pop();
  return { ...openapi.components.schemas[name], ...schema };
}

// Optional fields are `anyOf: [{type: integer, minimum, maximum}, {type: null}]`.
function numberLimits(schema) {
  const variants = schema.anyOf ?? [schema];
  const numeric = variants.find((v) => v.type === 'integer' || v.type === 'number') ?? {};
  return { min: numeric.minimum, max: numeric.maximum, default: schema.default ?? undefined };
}
