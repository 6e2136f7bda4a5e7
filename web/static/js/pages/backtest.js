// Backtest: the swing rules over a bundled data file or an uploaded CSV, run by the server off its event
// loop (POST /backtests, then GET /backtests/{id} for progress); the report, price with EMAs and trades,
// equity against buy and hold, and the drawdown.
import { api, get } from "../api.js";
import { buyMarker, lineChart, priceChart, sellMarker } from "../chart.js";
import { clear, h } from "../dom.js";
import { banner, clearErrors, field, showErrors } from "../form.js";
import { chartTime, kst, kstDate, num, pct, signed, signedPct, won } from "../fmt.js";
import { t } from "../i18n.js";

const PARAMS = [
  ["short_term", 5, "help.short_term"], ["medium_term", 20, "help.medium_term"], ["long_term", 60, "help.long_term"],
  ["rsi_threshold", 30, "help.rsi_threshold"], ["adx_threshold", 25, "help.adx_threshold"],
  ["obv_threshold", 1000, "help.obv_threshold"], ["unit_amount", 5000000, "help.unit_amount"],
  ["stop_loss_pct", "", "help.stop_loss_pct"],
];

export function mount(view) {
  const charts = [];
  let timer = 0;
  let uploaded = null;
  const fileSel = h("select", { id: "bt-file" });
  const upload = h("input", { type: "file", accept: ".csv,text/csv", id: "bt-upload" });
  upload.addEventListener("change", async () => {
    const f = upload.files[0];
    uploaded = f ? { name: f.name, text: await f.text() } : null;
    fileSel.disabled = uploaded !== null;
  });
  const inputs = {};
  const num_ = (name, value, attrs = {}) => (inputs[name] = h("input", { type: "number", step: "any", value, ...attrs }));
  const repeat = (inputs.repeat = h("input", { type: "checkbox", checked: true }));
  const start = (inputs.start = h("input", { type: "date" }));
  const end = (inputs.end = h("input", { type: "date" }));
  const progress = h("progress", { id: "bt-progress", max: 100, value: 0, hidden: true });
  const progressText = h("span.muted", { "aria-live": "polite" });
  const runBtn = h("button", { type: "submit", id: "bt-run" }, t("bt.run"));
  const form = h("form.card.bt-form", { id: "bt-form", "aria-labelledby": "bt-h" }, h("h2", { id: "bt-h" }, t("bt.title")),
    field("data_file", t("bt.file"), fileSel), field("csv", t("bt.upload"), upload),
    h("div.fields",
      field("start", t("bt.start"), start), field("end", t("bt.end"), end),
      PARAMS.map(([name, value, help]) => field(name, name, num_(name, value), t(help))),
      field("repeat", "repeat", repeat, t("help.repeat")),
      field("cash", t("bt.cash"), num_("cash", 10000000)),
      field("commission_pct", t("bt.commission"), num_("commission_pct", 0.015)),
      field("tax_pct", t("bt.tax"), num_("tax_pct", "", { placeholder: "KRX" }), t("bt.tax.help")),
      field("market", t("bt.market"), (inputs.market = h("select", h("option", { value: "KOSPI" }, "KOSPI"), h("option", { value: "KOSDAQ" }, "KOSDAQ"))))),
    banner(), h("div.row", runBtn, progress, progressText));
  const report = h("section.panel.bt-report", { id: "bt-report", "aria-live": "polite" }, h("p.empty", t("bt.empty")));
  view.append(h("div.backtest", h("div.col", form), h("div.col.wide", report)));

  get("/backtests/data").then((body) => {
    if (!body.files.length) { fileSel.append(h("option", { value: "" }, t("bt.nofiles"))); return; }
    for (const f of body.files) {
      fileSel.append(h("option", { value: f.name, selected: f.name === "krx_daily_005930.csv" }, `${f.name} (${f.format})`));
    }
  });

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const body = { repeat: repeat.checked };
    if (uploaded) body.csv = uploaded.text; else body.data_file = fileSel.value;
    for (const [k, el] of Object.entries(inputs)) {
      if (k === "repeat" || el.value === "") continue;
      body[k] = el.type === "date" || el.tagName === "SELECT" ? el.value : Number(el.value);
    }
    runBtn.disabled = true;
    try {
      const { data } = await api("POST", "/backtests", body);
      progress.hidden = false;
      poll(data.backtest_id);
    } catch (err) { showErrors(form, err); runBtn.disabled = false; }
  });

  async function poll(id) {
    const job = await get(`/backtests/${id}`).catch((err) => ({ status: "failed", error: err.message, fields: {} }));
    progress.value = job.progress || 0;
    progressText.textContent = t("bt.running", { p: num(job.progress || 0, 0) });
    if (job.status === "running") { timer = setTimeout(() => poll(id), 250); return; }
    runBtn.disabled = false;
    progress.hidden = true;
    progressText.textContent = "";
    if (job.status === "failed") { showErrors(form, { message: job.error, code: "backtest_failed", fields: job.fields || {} }); return; }
    paint(job.report);
  }

  function paint(r) {
    charts.splice(0).forEach((c) => c.remove());
    const m = r.metrics;
    const daily = r.parameters.bar_size === "1D";
    const when = (iso) => (daily ? kstDate(iso) : kst(iso, { seconds: false }));
    const priceEl = h("div.chart", { id: "bt-price-chart" });
    const equityEl = h("div.chart.small", { id: "bt-equity-chart" });
    const ddEl = h("div.chart.tiny", { id: "bt-dd-chart" });
    const card = (label, value, id) => h("div", h("dt", label), h("dd", { id }, value));
    clear(report,
      h("h2", `${r.parameters.stock_code} · ${when(m.start)} → ${when(m.end)} · ${m.bars} × ${r.parameters.bar_size}`),
      h("dl.figures", { id: "bt-metrics" },
        card(t("bt.final"), `${won(m.final_equity)}원`, "bt-final"),
        card(t("bt.return"), signedPct(m.total_return_pct), "bt-return"),
        card(t("bt.bh"), signedPct(m.buy_and_hold_return_pct)), card(t("bt.mdd"), pct(m.max_drawdown_pct)),
        card(t("bt.trades"), `${m.trades} (${t("sell")} ${m.sells})`, "bt-trades"),
        card(t("bt.winrate"), m.win_rate_pct === null ? "–" : pct(m.win_rate_pct)),
        card(t("bt.exposure"), pct(m.exposure_pct))),
      priceEl, h("h3", t("bt.equity")), equityEl, h("h3", t("bt.drawdown")), ddEl,
      tradesTable(r, when));
    const s = r.series;
    const times = s.time.map((sec) => chartTime(sec * 1000));
    const bars = times.map((time, i) => ({ time, open: s.open[i], high: s.high[i], low: s.low[i], close: s.close[i], volume: s.volume[i] }));
    const p = r.parameters;
    const price = priceChart(priceEl, { emaLabels: [`EMA${p.short_term}`, `EMA${p.medium_term}`, `EMA${p.long_term}`] });
    price.setBars(bars);
    const line = (values) => values.map((v, i) => (v === null ? null : { time: times[i], value: v })).filter(Boolean);
    price.setEmas([line(s.ema_short), line(s.ema_medium), line(s.ema_long)]);
    const index = new Map(s.time.map((sec, i) => [sec * 1000, times[i]]));
    price.setMarkers(r.trades.map((tr) => {
      const time = index.get(Date.parse(tr.time)) ?? chartTime(Date.parse(tr.time));
      const label = `${tr.side === "buy" ? t("buy") : t("sell")} ${won(tr.quantity)}`;
      return tr.side === "buy" ? buyMarker(time, label) : sellMarker(time, label);
    }));
    price.fit();
    const equity = lineChart(equityEl, [{ color: "#1b7f3b", title: t("bt.equity").split(" ")[0] }, { color: "#6b7785", title: t("bt.bh"), dashed: true, width: 1 }]);
    equity.setData(0, line(s.equity));
    equity.setData(1, line(s.buy_and_hold));
    equity.fit();
    const dd = lineChart(ddEl, [{ color: "#d62d2d", title: "DD %", area: true }]);
    dd.setData(0, line(s.drawdown_pct.map((x) => -x)));
    dd.fit();
    charts.push(price, equity, dd);
    report.dataset.done = "1";
  }

  function tradesTable(r, when) {
    if (!r.trades.length) return h("p.empty", t("bt.notrades"));
    return h("table.grid", { id: "bt-trades-table" }, h("thead", h("tr",
      [t("col.time"), t("col.side"), t("col.qty"), t("price"), "SIGNAL", "P&L", t("col.reason")].map((x) => h("th", x)))),
    h("tbody", r.trades.map((tr) => h("tr", h("td", when(tr.time)),
      h("td", tr.side === "buy" ? h("span.up", `▲ ${t("buy")}`) : h("span.down", `▼ ${t("sell")}`)),
      h("td.num", won(tr.quantity)), h("td.num", won(tr.price)), h("td", `${tr.signal_before}→${tr.signal_after}`),
      h("td.num", tr.pnl === null || tr.pnl === undefined ? "–" : signed(tr.pnl)), h("td.muted", tr.reason)))));
  }

  return () => { clearTimeout(timer); charts.forEach((c) => c.remove()); };
}
