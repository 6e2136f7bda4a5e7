// Shared market-data helpers: the watch list, OHLC loading, and folding live trades into bars.
import { get } from "./api.js";
import { BAR_SIZES, barStart } from "./chart.js";
import { chartTime } from "./fmt.js";

const WATCH_KEY = "autotrader.watch";
export const DEFAULT_WATCH = ["005930", "000660", "005380", "035420"];

export function watchList() {
  try { return JSON.parse(sessionStorage.getItem(WATCH_KEY)) || DEFAULT_WATCH.slice(); } catch { return DEFAULT_WATCH.slice(); }
}
export function saveWatch(list) { sessionStorage.setItem(WATCH_KEY, JSON.stringify(list)); }

export const isCode = (s) => /^[0-9A-Z]{6}$/.test(s);

export async function loadBars(code, size, limit = 300) {
  const body = await get(`/realtime/ohlc/${code}?bar_size=${size}&limit=${limit}`);
  return body.data.map((r) => ({
    time: chartTime(Date.parse(r.time)), open: r.open, high: r.high, low: r.low, close: r.close, volume: r.volume,
  }));
}

// The bar a trade makes of the current last bar (or a new bar), or null if the trade is older than it.
export function foldTrade(last, trade, size) {
  const time = chartTime(trade.ts_ms);
  const span = BAR_SIZES[size];
  if (last && time >= last.time && time < last.time + span) {
    return { ...last, high: Math.max(last.high, trade.price), low: Math.min(last.low, trade.price),
      close: trade.price, volume: last.volume + trade.volume };
  }
  if (last && time < last.time) return null;
  const start = Math.max(barStart(time, size), last ? last.time + span : 0);
  return { time: start, open: trade.price, high: trade.price, low: trade.price, close: trade.price, volume: trade.volume };
}
