/* Talking to Hearth's API: who the browser is, JSON requests, server-sent events.
 *
 * Identity: an API key the person pasted (sessionStorage: gone with the tab) sent as a bearer
 * header; otherwise a random anonymous session id (localStorage) in X-Hearth-Session so the
 * browser's conversations are its own. Behind an SSO proxy the proxy's headers win. Every
 * state-changing request carries one of these custom headers, which a cross-site form or
 * a cross-origin fetch without CORS cannot send.
 */

const KEY_STORE = "hearth.apiKey";
const SESSION_STORE = "hearth.session";
const memory = new Map(); // when storage is disabled

function stored(area, key, value) {
  try {
    const storage = area === "session" ? window.sessionStorage : window.localStorage;
    if (value === undefined) return storage.getItem(key);
    if (value === null) storage.removeItem(key);
    else storage.setItem(key, value);
  } catch {
    if (value === undefined) return memory.get(area + key) || null;
    memory.set(area + key, value);
  }
  return value;
}

function randomId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function sessionId() {
  const id = stored("local", SESSION_STORE);
  return id && id.length >= 16 ? id : stored("local", SESSION_STORE, randomId());
}

export const apiKey = () => stored("session", KEY_STORE);
export const setApiKey = (key) => stored("session", KEY_STORE, key || null);

export class ApiError extends Error {
  constructor(status, message, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

let onUnauthorized = () => {};
/** Called with the server's message whenever it answers 401. */
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

function headers(json) {
  const result = { "X-Hearth-Session": sessionId(), Accept: "application/json" };
  const key = apiKey();
  if (key) result.Authorization = "Bearer " + key;
  if (json) result["Content-Type"] = "application/json";
  return result;
}

async function failure(response) {
  let message = "The server answered " + response.status + ".";
  try {
    const body = await response.json();
    if (body && body.error && typeof body.error.message === "string") message = body.error.message;
  } catch {
    /* not JSON: keep the status line */
  }
  if (response.status === 401) onUnauthorized(message);
  return new ApiError(response.status, message, response.headers.get("Retry-After"));
}

/** What a person reads when the server cannot be reached (fetch's "Failed to fetch" is not). */
export const UNREACHABLE = "Hearth cannot be reached. Check your connection or try again in a moment.";
const LOST = "The connection to Hearth was lost before the answer was complete.";

/** fetch() with the caller's identity; throws ApiError for any non-2xx answer and for a
 * network failure (status 0), and an AbortError when `signal` aborts. */
export async function request(method, path, body, signal) {
  const init = { method, headers: headers(body !== undefined), credentials: "same-origin", signal };
  if (body !== undefined) init.body = JSON.stringify(body);
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, UNREACHABLE);
  }
  if (!response.ok) throw await failure(response);
  return response;
}

/** A JSON request; resolves to the parsed body (null for 204). */
export async function api(method, path, body) {
  const response = await request(method, path, body);
  return response.status === 204 ? null : response.json();
}

/** The {event, data} server-sent events of a streaming response, as they arrive. */
export async function* serverEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(0, LOST);
    }
    const { value, done } = chunk;
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) yield { event, data: JSON.parse(data.join("\n")) };
    }
  }
}
