// One /kis_socket connection per tab: auth first, then subscriptions counted per (tr_id, code) so pages
// can share them; reconnects with back-off and subscribes again. Pages listen by message type.
import { session } from "./api.js";

const TR = { trade: "H0STCNT0", book: "H0STASP0" };
const handlers = new Map(); // type -> Set(fn)
const wanted = new Map(); // "tr|code" -> count
let ws = null;
let authed = false;
let retry = 0;
let stopped = true;
export let state = "closed";

export function on(type, fn) {
  if (!handlers.has(type)) handlers.set(type, new Set());
  handlers.get(type).add(fn);
  return () => handlers.get(type).delete(fn);
}

function emit(type, msg) {
  for (const fn of handlers.get(type) || []) {
    try { fn(msg); } catch (err) { console.error(err); }
  }
}

function setState(s) { state = s; emit("state", s); }

export function start() {
  if (!stopped) return;
  stopped = false;
  connect();
}

export function stop() {
  stopped = true;
  wanted.clear();
  if (ws) ws.close(1000);
  ws = null;
  setState("closed");
}

function connect() {
  if (stopped || !session.token) return;
  setState("connecting");
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/kis_socket`;
  const sock = (ws = new WebSocket(url));
  authed = false;
  sock.onopen = () => sock.send(JSON.stringify({ type: "auth", token: session.token, strategy_type: "basic" }));
  sock.onmessage = (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch { return; }
    if (msg.type === "ack" && msg.message === "authenticated") {
      authed = true;
      retry = 0;
      setState("live");
      for (const key of wanted.keys()) send("1", ...key.split("|"));
      return;
    }
    if (msg.type === "status") setState(msg.status === "live" ? "live" : "reconnecting");
    emit(msg.type, msg);
  };
  sock.onclose = (ev) => {
    if (ws !== sock) return;
    ws = null;
    authed = false;
    setState("closed");
    if (stopped || ev.code === 1008) return; // 1008: the token is bad or expired: sign in again
    const delay = Math.min(10000, 500 * 2 ** retry++);
    setTimeout(connect, delay);
  };
}

function send(trType, trId, code) {
  if (ws && authed && ws.readyState === WebSocket.OPEN) {
    ws.send(JSON.stringify({ tr_type: trType, tr_id: trId, st_code: code }));
  }
}

export function subscribe(kind, code) {
  const key = `${TR[kind]}|${code}`;
  const n = (wanted.get(key) || 0) + 1;
  wanted.set(key, n);
  if (n === 1) send("1", TR[kind], code);
  return () => unsubscribe(kind, code);
}

export function unsubscribe(kind, code) {
  const key = `${TR[kind]}|${code}`;
  const n = (wanted.get(key) || 0) - 1;
  if (n > 0) { wanted.set(key, n); return; }
  if (!wanted.has(key)) return;
  wanted.delete(key);
  send("2", TR[kind], code);
}
