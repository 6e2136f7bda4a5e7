// Auto swings: register (every parameter with its default explained), the swings' status, SIGNAL 0–3,
// position and P&L, the chosen swing's events as a timeline with reasons and indicator values, its
// trades on the chart, and stop / stop with liquidation.
import { api, get } from "../api.js";
import { BAR_SIZES, barStart, buyMarker, priceChart, sellMarker } from "../chart.js";
import { clear, h, toast } from "../dom.js";
import { banner, clearErrors, field, showErrors } from "../form.js";
import { chartTime, ema, kst, num, signed, won } from "../fmt.js";
import { t } from "../i18n.js";
import { foldTrade, loadBars } from "../market_data.js";
import * as socket from "../socket.js";
import { registerAccountForm } from "./accounts.js";

const DEMO = { stock_code: "005380", unit_amount: 1000000, bar_size: "1Min", short_term: 1, medium_term: 3, long_term: 5,
  rsi_threshold: 1, adx_threshold: 0, obv_threshold: 0 };
const DEFAULTS = { stock_code: "005930", unit_amount: 1000000, bar_size: "1H", short_term: 5, medium_term: 20,
  long_term: 60, rsi_threshold: 30, adx_threshold: 25, obv_threshold: 1000 };
const NUMERIC = ["unit_amount", "short_term", "medium_term", "long_term", "rsi_threshold", "adx_threshold",
  "obv_threshold", "stop_loss_pct"];

export function mount(view) {
  const offs = [];
  let selected = null;
  let swings = [];
  let chart = null;
  let chartCode = null;
  let chartSize = null;
  let events = [];

  const inputs = {};
  const mk = (name, attrs) => (inputs[name] = h("input", { value: DEFAULTS[name] ?? "", ...attrs }));
  const sizeSel = (inputs.bar_size = h("select", Object.keys(BAR_SIZES).map((s) => h("option", { value: s, selected: s === "1H" }, s))));
  const repeat = (inputs.repeat = h("input", { type: "checkbox" }));
  const form = h("form.card.swing-form", { id: "swing-form", "aria-labelledby": "swing-h" },
    h("h2", { id: "swing-h" }, t("swing.register")),
    h("button.ghost", { type: "button", id: "swing-demo", on: { click: () => {
      for (const [k, v] of Object.entries(DEMO)) inputs[k].value = String(v);
    } } }, t("swing.demo")),
    h("div.fields",
      field("stock_code", t("col.code"), mk("stock_code", { maxlength: 6, required: true }), t("help.stock_code")),
      field("unit_amount", `unit_amount (${t("price")})`, mk("unit_amount", { type: "number", min: 1 }), t("help.unit_amount")),
      field("bar_size", "bar_size", sizeSel, t("help.bar_size")),
      field("short_term", "short_term", mk("short_term", { type: "number", min: 1 }), t("help.short_term")),
      field("medium_term", "medium_term", mk("medium_term", { type: "number", min: 2 }), t("help.medium_term")),
      field("long_term", "long_term", mk("long_term", { type: "number", min: 3, max: 240 }), t("help.long_term")),
      field("rsi_threshold", "rsi_threshold", mk("rsi_threshold", { type: "number", step: "any" }), t("help.rsi_threshold")),
      field("adx_threshold", "adx_threshold", mk("adx_threshold", { type: "number", step: "any" }), t("help.adx_threshold")),
      field("obv_threshold", "obv_threshold", mk("obv_threshold", { type: "number", step: "any" }), t("help.obv_threshold")),
      field("stop_loss_pct", "stop_loss_pct", mk("stop_loss_pct", { type: "number", step: "any", placeholder: "–" }), t("help.stop_loss_pct")),
      field("repeat", "repeat", repeat, t("help.repeat"))),
    banner(), h("button", { type: "submit" }, t("swing.submit")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const body = { stock_code: inputs.stock_code.value.trim(), bar_size: sizeSel.value, repeat: repeat.checked };
    for (const k of NUMERIC) if (inputs[k].value !== "") body[k] = Number(inputs[k].value);
    try {
      const { data } = await api("POST", "/swing/register", body);
      toast(t("swing.done", { id: data.swing_id }), "ok");
      selected = data.swing_id;
      await refresh();
    } catch (err) { showErrors(form, err); }
  });

  const tbody = h("tbody");
  const empty = h("p.empty", t("swings.empty"));
  const table = h("table.grid", { id: "swings-table" }, h("thead", h("tr",
    ["#", t("col.code"), t("col.status"), t("col.signal"), t("col.decision"), t("col.shares"), t("col.avg"),
      t("col.realized"), t("col.unrealized"), t("col.actions")].map((x) => h("th", x)))), tbody);

  function signalSteps(n) {
    return h("span.steps", { "aria-label": `SIGNAL ${n}`, title: t(`signal.${n}`) },
      [0, 1, 2, 3].map((i) => h(`span.step${i === n ? ".on" : i < n ? ".past" : ""}`, String(i))));
  }
  function paintTable() {
    empty.hidden = swings.length > 0;
    clear(tbody, swings.map((s) => {
      const live = !["completed", "stopped"].includes(s.status);
      const pick = () => { selected = s.swing_id; paintTable(); loadEvents(true); };
      return h(`tr.clickable${s.swing_id === selected ? ".selected" : ""}`, { tabindex: 0, "data-swing-id": s.swing_id,
        on: { click: pick, keydown: (ev) => { if (ev.key === "Enter") pick(); } } },
      h("th", { scope: "row" }, `#${s.swing_id}`), h("td", s.stock_code),
      h("td", h(`span.badge.${s.status}`, s.halted_reason ? { title: s.halted_reason } : {}, s.status),
        s.halted_reason ? h("div.muted.halted-reason", s.halted_reason) : null), h("td", signalSteps(s.signal_state)),
      h("td", s.last_decision || "–"), h("td.num", won(s.shares)), h("td.num", s.average_price ? won(s.average_price) : "–"),
      h("td.num", signed(s.realized_pnl)), h("td.num", signed(s.unrealized_pnl)),
      h("td.actions", live ? [
        h("button.small", { type: "button", on: { click: (ev) => { ev.stopPropagation(); stop(s, false); } } }, t("stop")),
        h("button.small.ghost", { type: "button", on: { click: (ev) => { ev.stopPropagation(); stop(s, true); } } }, t("stop.liquidate")),
      ] : "–"));
    }));
  }
  async function stop(s, liquidate) {
    try {
      await api("DELETE", `/swing/${s.swing_id}${liquidate ? "?liquidate=true" : ""}`);
      await refresh();
    } catch (err) { toast(`${err.message} (${err.code})`, "error"); }
  }

  // -- the chosen swing: events and chart
  const evTitle = h("h2", { id: "events-h" }, t("events.pick"));
  const timeline = h("ol.timeline", { id: "swing-events", "aria-live": "polite" });
  const evEmpty = h("p.empty", { hidden: true }, t("events.empty"));
  const chartEl = h("div.chart.small", { id: "swing-chart" });

  function paintEvents() {
    evEmpty.hidden = events.length > 0;
    clear(timeline, events.map((e) => h(`li.ev.${e.kind}`, { "data-kind": e.kind },
      h("div.ev-head", h("time", kst(e.time)), " ", h("strong", e.kind), " ",
        e.action && e.action !== "hold" ? h(`span.${e.action === "buy" ? "up" : "down"}`, e.action === "buy" ? `▲ ${t("buy")}` : `▼ ${t("sell")}`) : h("span.muted", e.action || ""),
        ` SIGNAL ${e.signal_before}→${e.signal_after}`),
      h("div.ev-reason", e.reason),
      Object.keys(e.indicators || {}).length ? h("div.ev-ind.muted", Object.entries(e.indicators).map(([k, v]) => `${k} ${num(v, 2)}`).join(" · ")) : null)));
    if (chart) {
      chart.setMarkers(events.filter((e) => e.kind === "fill").map((e) => {
        const time = barStart(chartTime(Date.parse(e.time)), chartSize);
        return e.action === "buy" ? buyMarker(time, `${t("buy")} S${e.signal_after}`) : sellMarker(time, `${t("sell")} S${e.signal_after}`);
      }).filter((m) => chart.bars.length && m.time >= chart.bars[0].time));
    }
  }
  async function loadEvents(reset = false) {
    if (selected === null) return;
    const s = swings.find((x) => x.swing_id === selected);
    evTitle.textContent = t("events.title", { id: selected });
    const body = await get(`/swing/${selected}/events?limit=50`).catch(() => null);
    if (body) events = body.events;
    if (s && (reset || chartCode !== s.stock_code)) await loadChart(s);
    paintEvents();
  }
  async function loadChart(s) {
    if (chart) chart.remove();
    if (chartCode) socket.unsubscribe("trade", chartCode);
    chartCode = s.stock_code;
    chartSize = BAR_SIZES[s.params.bar_size] ? s.params.bar_size : "1Min";
    socket.subscribe("trade", chartCode);
    const p = s.params;
    chart = priceChart(chartEl, { emaLabels: [`EMA${p.short_term}`, `EMA${p.medium_term}`, `EMA${p.long_term}`] });
    const bars = await loadBars(chartCode, chartSize).catch(() => []);
    chart.setBars(bars);
    const closes = bars.map((b) => b.close);
    chart.setEmas([p.short_term, p.medium_term, p.long_term].map((n) => ema(closes, n)
      .map((v, i) => (v === null ? null : { time: bars[i].time, value: v })).filter(Boolean)));
    chart.fit();
  }
  offs.push(socket.on("trade", (tr) => {
    if (!chart || tr.code !== chartCode) return;
    const bar = foldTrade(chart.bars[chart.bars.length - 1], tr, chartSize);
    if (bar) chart.update(bar);
  }));

  async function refresh() {
    const body = await get("/swing/status");
    swings = body.swings;
    if (selected === null && swings.length) selected = swings[0].swing_id;
    paintTable();
    await loadEvents();
  }

  async function start() {
    const accounts = (await get("/accounts")).accounts;
    if (!accounts.length) {
      view.append(h("section.panel.narrow", h("p.empty", t("accounts.none")), registerAccountForm(() => { clear(view); start(); })));
      return;
    }
    view.append(h("div.swings",
      h("div.col", form),
      h("div.col.wide",
        h("section.panel", { "aria-labelledby": "swings-h" }, h("h2", { id: "swings-h" }, t("swings.title")), table, empty),
        h("section.panel", { "aria-labelledby": "events-h" }, evTitle, chartEl, timeline, evEmpty))));
    await refresh();
  }
  start();
  const timer = setInterval(() => { refresh().catch(() => {}); }, 3000);
  return () => { clearInterval(timer); offs.forEach((off) => off()); if (chartCode) socket.unsubscribe("trade", chartCode); if (chart) chart.remove(); };
}
