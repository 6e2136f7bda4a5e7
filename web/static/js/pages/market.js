// Market watch: the watch list live from /kis_socket, the chosen code's candles (1Min–1D) with EMA 5/20,
// volume and the realtime strategy's signals, and its 10-level order book.
import { get } from "../api.js";
import { BAR_SIZES, barStart, buyMarker, priceChart, sellMarker } from "../chart.js";
import { clear, h } from "../dom.js";
import { chartTime, ema, kst, signed, won } from "../fmt.js";
import { t } from "../i18n.js";
import { foldTrade, isCode, loadBars, saveWatch, watchList } from "../market_data.js";
import * as socket from "../socket.js";

const EMA = [5, 20]; // the "basic" realtime strategy's EMA cross, which this tab's socket runs

export function mount(view, params) {
  let list = watchList();
  let code = params.get("code") || list[0] || "005930";
  let size = BAR_SIZES[params.get("bar")] ? params.get("bar") : "1Min";
  const offs = [];
  const rows = new Map();
  const lastTrade = new Map();
  let signals = [];

  // -- watch list
  const tbody = h("tbody");
  const watchEmpty = h("p.empty", t("watch.empty"));
  const addInput = h("input", { id: "watch-code", inputmode: "numeric", maxlength: 6, placeholder: "005930",
    "aria-label": t("watch.code"), size: 8 });
  const addForm = h("form.inline", { id: "watch-add" }, addInput, h("button", { type: "submit" }, t("watch.add")));
  addForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const c = addInput.value.trim().toUpperCase();
    if (!isCode(c) || list.includes(c)) { addInput.setAttribute("aria-invalid", "true"); return; }
    addInput.removeAttribute("aria-invalid");
    addInput.value = "";
    list.push(c);
    saveWatch(list);
    addRow(c);
  });

  function addRow(c) {
    offs.push(socket.subscribe("trade", c));
    const cells = { last: h("td.num"), change: h("td.num"), volume: h("td.num") };
    const remove = h("button.ghost.small", { type: "button", "aria-label": `${t("remove")} ${c}`,
      on: { click: (ev) => { ev.stopPropagation(); list = list.filter((x) => x !== c); saveWatch(list); tr.remove(); rows.delete(c); socket.unsubscribe("trade", c); renderEmpty(); } } }, "×");
    const tr = h("tr.clickable", { tabindex: 0, "data-code": c, on: {
      click: () => select(c), keydown: (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); select(c); } },
    } }, h("th", { scope: "row" }, c), cells.last, cells.change, cells.volume, h("td", remove));
    rows.set(c, { tr, ...cells });
    tbody.append(tr);
    const seen = lastTrade.get(c);
    if (seen) paintRow(seen);
    markSelected();
    renderEmpty();
  }
  function renderEmpty() { watchEmpty.hidden = list.length > 0; }
  function paintRow(tr) {
    const row = rows.get(tr.code);
    if (!row) return;
    row.last.textContent = won(tr.price);
    clear(row.change, signed(tr.change, tr.price - tr.change));
    row.volume.textContent = won(tr.cum_volume);
  }
  function markSelected() {
    for (const [c, row] of rows) row.tr.classList.toggle("selected", c === code);
  }

  // -- chart
  const title = h("h2", { id: "chart-title" }, t("chart.title", { code }));
  const sizeButtons = Object.keys(BAR_SIZES).map((s) => h("button.seg", { type: "button", "data-size": s,
    "aria-pressed": String(s === size), on: { click: () => { size = s; sizeButtons.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.size === s))); load(); } } }, s));
  const chartEl = h("div.chart", { id: "price-chart", role: "img", "aria-label": t("chart.title", { code }) });
  const chartEmpty = h("p.empty", { hidden: true }, t("chart.empty"));
  const lastLine = h("p.lastline", { id: "last-line", "aria-live": "polite" });
  const chart = priceChart(chartEl, { emaLabels: EMA.map((p) => `EMA${p}`) });
  let frame = 0;

  function emaLines() {
    const closes = chart.bars.map((b) => b.close);
    return EMA.map((p) => ema(closes, p).map((v, i) => (v === null ? null : { time: chart.bars[i].time, value: v }))
      .filter(Boolean));
  }
  function redraw() {
    frame = 0;
    chart.setEmas(emaLines());
    chart.setMarkers(signals.filter((s) => s.code === code).map((s) => {
      const time = barStart(chartTime(s.ts_ms), size);
      const label = `${s.side === "buy" ? t("buy") : t("sell")} ${won(s.price)}`;
      return s.side === "buy" ? buyMarker(time, label) : sellMarker(time, label);
    }).filter((m) => chart.bars.length && m.time >= chart.bars[0].time));
  }
  const schedule = () => { if (!frame) frame = requestAnimationFrame(redraw); };

  let loadSeq = 0;
  async function load() {
    const mine = ++loadSeq;
    const bars = await loadBars(code, size).catch(() => []);
    if (mine !== loadSeq) return;
    chart.setBars(bars);
    chartEmpty.hidden = bars.length > 0;
    chartEl.dataset.bars = String(bars.length);
    redraw();
    chart.fit();
  }

  function onTrade(tr) {
    lastTrade.set(tr.code, tr);
    paintRow(tr);
    if (tr.code !== code) return;
    const bars = chart.bars;
    const bar = foldTrade(bars[bars.length - 1], tr, size);
    if (bar) {
      chart.update(bar);
      chartEmpty.hidden = true;
      chartEl.dataset.bars = String(chart.bars.length);
      chartEl.dataset.lastClose = String(bar.close);
      chartEl.dataset.lastTradeTs = String(tr.ts_ms);
      schedule();
    }
    clear(lastLine, h("strong", won(tr.price)), " ", signed(tr.change, tr.price - tr.change), ` · ${kst(tr.ts_ms)} KST`);
  }

  // -- signals
  const sigList = h("ol.signals", { id: "signals" });
  const sigEmpty = h("p.empty", t("signals.empty"));
  function paintSignals() {
    const mine = signals.filter((s) => s.code === code).slice(-8).reverse();
    sigEmpty.hidden = mine.length > 0;
    clear(sigList, mine.map((s) => h("li", h(`span.${s.side === "buy" ? "up" : "down"}`, s.side === "buy" ? `▲ ${t("buy")}` : `▼ ${t("sell")}`),
      ` ${won(s.price)} · ${kst(s.ts_ms)} · `,
      h("span.muted", Object.entries(s.indicators || {}).map(([k, v]) => `${k} ${Number(v).toFixed(1)}`).join(", ")))));
  }
  function onSignal(s) {
    signals.push(s);
    if (signals.length > 200) signals = signals.slice(-200);
    if (s.code === code) { schedule(); paintSignals(); }
  }

  // -- order book
  const bookBody = h("tbody");
  const bookEmpty = h("p.empty", t("book.empty"));
  const bookTable = h("table.book", { id: "order-book", "aria-label": t("book.title") },
    h("thead", h("tr", h("th", t("book.ask")), h("th.num", t("price")), h("th", t("book.bid")))), bookBody);
  function onQuote(q) {
    if (q.code !== code) return;
    bookEmpty.hidden = true;
    const max = Math.max(1, ...q.asks.map((a) => a.qty), ...q.bids.map((b) => b.qty));
    const bar = (qty, cls) => { const el = h(`span.qbar.${cls}`); el.style.width = `${Math.round((100 * qty) / max)}%`; return el; };
    clear(bookBody,
      q.asks.slice().reverse().map((a) => h("tr.ask", h("td.num.qty", bar(a.qty, "ask"), h("span", won(a.qty))), h("td.num.price", won(a.price)), h("td"))),
      q.bids.map((b) => h("tr.bid", h("td"), h("td.num.price", won(b.price)), h("td.num.qty", bar(b.qty, "bid"), h("span", won(b.qty))))),
      h("tr.total", h("td.num", won(q.total_ask_qty)), h("td.num", t("book.qty")), h("td.num", won(q.total_bid_qty))));
  }

  let bookOff = null;
  function select(c) {
    code = c;
    title.textContent = t("chart.title", { code });
    tradeLink.href = `#/trade?code=${code}`;
    markSelected();
    clear(bookBody);
    bookEmpty.hidden = false;
    clear(lastLine);
    if (bookOff) bookOff();
    bookOff = socket.subscribe("book", code);
    paintSignals();
    history.replaceState(null, "", `#/market?code=${code}&bar=${size}`);
    load();
  }

  const tradeLink = h("a.button", { href: `#/trade?code=${code}`, id: "trade-link" }, t("trade.here"));
  view.append(h("div.market",
    h("section.panel.watch", { "aria-labelledby": "watch-h" }, h("h2", { id: "watch-h" }, t("watch.title")), addForm,
      h("table.grid", { id: "watch-table" }, h("thead", h("tr", h("th", t("col.code")), h("th.num", t("col.last")),
        h("th.num", t("col.change")), h("th.num", t("col.volume")), h("th", h("span.sr", t("remove"))))), tbody), watchEmpty),
    h("section.panel.chart-panel", { "aria-labelledby": "chart-title" },
      h("div.toolbar", title, h("div.segs", { role: "group", "aria-label": "bar size" }, sizeButtons), tradeLink),
      lastLine, chartEl, chartEmpty, h("p.muted", t("chart.signals")),
      h("h3", t("signals.title")), sigList, sigEmpty),
    h("section.panel.book-panel", { "aria-labelledby": "book-h" }, h("h2", { id: "book-h" }, t("book.title")), bookTable, bookEmpty)));

  list.forEach(addRow);
  offs.push(socket.on("trade", onTrade), socket.on("signal", onSignal), socket.on("quote", onQuote));
  get("/realtime/strategy-data").then((body) => {
    for (const st of body.data.active_strategies) {
      for (const s of st.last_signals) signals.push({ ...s, strategy: st.strategy_type, ts_ms: Date.parse(s.time) });
    }
    for (const tr of Object.values(body.data.contract_data)) onTrade(tr);
    schedule();
    paintSignals();
  }).catch(() => {});
  select(code);
  return () => {
    offs.forEach((off) => off());
    if (bookOff) bookOff();
    if (frame) cancelAnimationFrame(frame);
    chart.remove();
  };
}
