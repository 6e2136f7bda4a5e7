// The REST client. The token lives in sessionStorage (this tab only, gone when it closes), never in persistent storage.
const KEY = "autotrader.token";

export const session = {
  get token() { return sessionStorage.getItem(KEY) || ""; },
  get email() { return sessionStorage.getItem(KEY + ".email") || ""; },
  set(token, email) { sessionStorage.setItem(KEY, token); sessionStorage.setItem(KEY + ".email", email); },
  clear() { sessionStorage.removeItem(KEY); sessionStorage.removeItem(KEY + ".email"); },
};

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || "http_" + status;
    this.fields = e.fields || {};
  }
}

const listeners = new Set();
export function onUnauthorized(fn) { listeners.add(fn); }

export async function api(method, path, body, headers = {}) {
  const init = { method, headers: { ...headers } };
  if (session.token) init.headers.Authorization = "Bearer " + session.token;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  const type = resp.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await resp.json() : await resp.text();
  if (!resp.ok) {
    if (resp.status === 401 && session.token && !path.startsWith("/users/")) listeners.forEach((fn) => fn());
    throw new ApiError(resp.status, data);
  }
  return { status: resp.status, data };
}

export const get = (path) => api("GET", path).then((r) => r.data);

export function newKey() {
  return crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2);
}
