// The shell: hash routes (#/market?code=005930), the navigation, sign-in guard, language toggle, KST clock.
import { api, onUnauthorized, session } from "./api.js";
import { clear, h, toast } from "./dom.js";
import { kst } from "./fmt.js";
import { lang, onLang, setLang, t } from "./i18n.js";
import * as socket from "./socket.js";
import * as login from "./pages/login.js";
import * as market from "./pages/market.js";
import * as trade from "./pages/trade.js";
import * as swings from "./pages/swings.js";
import * as backtest from "./pages/backtest.js";
import * as risk from "./pages/risk.js";
import * as admin from "./pages/admin.js";

const PAGES = { login, market, trade, swings, backtest, risk, admin };
const NAV = ["market", "trade", "swings", "backtest", "risk", "admin"];
let cleanup = null;

function route() {
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  return { name: path || (session.token ? "market" : "login"), params: new URLSearchParams(query || "") };
}

export function go(name, params = {}) {
  const q = new URLSearchParams(params).toString();
  location.hash = `#/${name}${q ? "?" + q : ""}`;
}

function renderNav(current) {
  const nav = document.getElementById("nav");
  clear(nav, session.token ? NAV.map((name) => h("a", {
    href: `#/${name}`, "aria-current": name === current ? "page" : null,
  }, t(`nav.${name}`))) : [], h("a", { href: "/docs" }, t("nav.docs")));
  document.getElementById("lang").textContent = t("lang.switch");
  const out = document.getElementById("logout");
  out.hidden = !session.token;
  out.textContent = t("logout");
  document.getElementById("who").textContent = session.email;
}

function render() {
  let { name, params } = route();
  if (!session.token && name !== "login") name = "login";
  if (session.token && name === "login") name = "market";
  if (!PAGES[name]) name = session.token ? "market" : "login";
  if (cleanup) { try { cleanup(); } catch (err) { console.error(err); } }
  cleanup = null;
  renderNav(name);
  const view = document.getElementById("view");
  clear(view);
  document.title = `${t(name === "login" ? "login.title" : `nav.${name}`)} · Auto-Trader`;
  if (session.token) socket.start();
  cleanup = PAGES[name].mount(view, params) || null;
}

async function logout() {
  try { await api("POST", "/users/logout"); } catch { /* older servers have no revocation: the token just goes */ }
  session.clear();
  socket.stop();
  go("login");
  render();
}

function wsState(s) {
  const el = document.getElementById("ws-state");
  el.textContent = session.token ? `● ${t(`ws.${s}`) || s}` : "";
  el.className = `ws-state ${s}`;
}

document.getElementById("lang").addEventListener("click", () => setLang(lang() === "ko" ? "en" : "ko"));
document.getElementById("logout").addEventListener("click", logout);
onLang(() => { render(); wsState(socket.state); });
onUnauthorized(() => {
  session.clear();
  socket.stop();
  toast(t("login.title"), "error");
  go("login");
});
socket.on("state", wsState);
window.addEventListener("hashchange", render);
window.addEventListener("unhandledrejection", (ev) => {
  toast(String(ev.reason && ev.reason.message ? ev.reason.message : ev.reason), "error");
});
const tick = () => { document.getElementById("clock").textContent = `${kst(Date.now())} KST`; };
setInterval(tick, 1000);
tick();
document.documentElement.lang = lang();
render();
