// Charts on TradingView's lightweight-charts (vendored, see static/vendor/lightweight-charts/VERSION).
// Korean convention: up red, down blue; markers also carry ▲/▼ shapes and text, never colour alone.
import {
  AreaSeries, CandlestickSeries, HistogramSeries, LineSeries, createChart, createSeriesMarkers,
} from "../vendor/lightweight-charts/lightweight-charts.standalone.production.mjs";

export const UP = "#d62d2d";
export const DOWN = "#1f5fd1";
const EMA_COLORS = ["#e08a00", "#2a9d8f", "#7b3fb5"];

const BASE = {
  autoSize: true,
  // attributionLogo off: it injects an inline <style> the CSP refuses; index.html credits TradingView in its footer.
  layout: { background: { color: "#ffffff" }, textColor: "#1b2330", fontFamily: "system-ui, sans-serif", attributionLogo: false },
  grid: { vertLines: { color: "#eef1f5" }, horzLines: { color: "#eef1f5" } },
  timeScale: { timeVisible: true, secondsVisible: false, borderColor: "#c9d1dc" },
  rightPriceScale: { borderColor: "#c9d1dc" },
  localization: { priceFormatter: (p) => Math.round(p).toLocaleString("ko-KR") },
};

// Candles + volume + up to three EMA lines + markers; times are chart times (KST-shifted epoch seconds).
export function priceChart(el, { emaLabels = [] } = {}) {
  const chart = createChart(el, BASE);
  const candles = chart.addSeries(CandlestickSeries, {
    upColor: UP, downColor: DOWN, borderUpColor: UP, borderDownColor: DOWN, wickUpColor: UP, wickDownColor: DOWN,
    priceFormat: { type: "price", precision: 0, minMove: 1 },
  });
  const volume = chart.addSeries(HistogramSeries, { priceFormat: { type: "volume" }, priceScaleId: "vol",
    lastValueVisible: false, priceLineVisible: false });
  volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  candles.priceScale().applyOptions({ scaleMargins: { top: 0.05, bottom: 0.25 } });
  const emas = emaLabels.map((title, i) => chart.addSeries(LineSeries, {
    color: EMA_COLORS[i % 3], lineWidth: 1, title, lastValueVisible: false, priceLineVisible: false,
    crosshairMarkerVisible: false,
  }));
  const markers = createSeriesMarkers(candles, []);
  let bars = [];
  let alive = true;
  const volOf = (b) => ({ time: b.time, value: b.volume, color: b.close >= b.open ? "rgba(214,45,45,.45)" : "rgba(31,95,209,.45)" });
  return guard(() => alive, {
    chart,
    get bars() { return bars; },
    setBars(list) {
      bars = list.slice();
      candles.setData(bars);
      volume.setData(bars.map(volOf));
    },
    update(bar) { // the last bar changed, or a new one began
      if (bars.length && bars[bars.length - 1].time === bar.time) bars[bars.length - 1] = bar;
      else if (!bars.length || bar.time > bars[bars.length - 1].time) bars.push(bar);
      else return;
      candles.update(bar);
      volume.update(volOf(bar));
    },
    setEmas(lines) { lines.forEach((data, i) => emas[i] && emas[i].setData(data)); },
    updateEma(i, point) { if (emas[i]) emas[i].update(point); },
    setMarkers(list) { markers.setMarkers(list.slice().sort((a, b) => a.time - b.time)); },
    fit() { chart.timeScale().fitContent(); },
    remove() { if (alive) { alive = false; chart.remove(); } },
  });
}

// Calls on a removed chart (an answer that lands after its page was left) do nothing.
function guard(isAlive, api) {
  for (const key of Object.keys(api)) {
    const desc = Object.getOwnPropertyDescriptor(api, key);
    if (typeof desc.value === "function" && key !== "remove") {
      const fn = desc.value;
      api[key] = (...args) => (isAlive() ? fn(...args) : undefined);
    }
  }
  return api;
}

export function lineChart(el, lines) {
  const chart = createChart(el, { ...BASE, localization: { priceFormatter: (p) => p.toLocaleString("ko-KR", { maximumFractionDigits: 2 }) } });
  const series = lines.map((l) => chart.addSeries(l.area ? AreaSeries : LineSeries, l.area
    ? { lineColor: l.color, topColor: "rgba(214,45,45,.05)", bottomColor: "rgba(214,45,45,.35)", lineWidth: 1,
      title: l.title, invertFilledArea: true }
    : { color: l.color, lineWidth: l.width || 2, title: l.title, lineStyle: l.dashed ? 2 : 0 }));
  let alive = true;
  return guard(() => alive, {
    chart,
    setData(i, data) { series[i].setData(data); },
    fit() { chart.timeScale().fitContent(); },
    remove() { if (alive) { alive = false; chart.remove(); } },
  });
}

export const buyMarker = (time, text) => ({ time, position: "belowBar", color: UP, shape: "arrowUp", text });
export const sellMarker = (time, text) => ({ time, position: "aboveBar", color: DOWN, shape: "arrowDown", text });

// Bar sizes of /realtime/ohlc and their length in seconds.
export const BAR_SIZES = { "1Min": 60, "5Min": 300, "15Min": 900, "30Min": 1800, "1H": 3600, "1D": 86400 };

// The start (chart time) of the bar of `size` a chart time falls in; KST-shifted, so 1D cuts at KST midnight.
export const barStart = (time, size) => time - (time % BAR_SIZES[size]);
