// Numbers in won, times in KST, and up/down shown by sign and arrow as well as colour.
import { h } from "./dom.js";
import { lang } from "./i18n.js";

const KST = "Asia/Seoul";
const nf = () => new Intl.NumberFormat(lang() === "ko" ? "ko-KR" : "en-US");

export const won = (n) => (n === null || n === undefined ? "–" : nf().format(Math.round(n)));
export const num = (n, digits = 2) => (n === null || n === undefined || Number.isNaN(n) ? "–"
  : new Intl.NumberFormat("en-US", { maximumFractionDigits: digits }).format(n));
export const pct = (n) => (n === null || n === undefined ? "–" : `${num(n, 2)} %`);

// "2026-12-01 18:03:05" in KST, from epoch ms, an ISO string or a Date.
export function kst(when, { date = true, seconds = true } = {}) {
  if (when === null || when === undefined || when === "") return "–";
  const d = when instanceof Date ? when : new Date(typeof when === "number" ? when : Date.parse(when));
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", {
    timeZone: KST, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    second: "2-digit", hourCycle: "h23",
  }).formatToParts(d).map((p) => [p.type, p.value]));
  const time = `${parts.hour}:${parts.minute}${seconds ? ":" + parts.second : ""}`;
  return date ? `${parts.year}-${parts.month}-${parts.day} ${time}` : time;
}

export const kstDate = (when) => kst(when).slice(0, 10);

// Chart time: lightweight-charts draws UTC, so bars are shifted by +9 h to read as KST on the axis.
export const chartTime = (epochMs) => Math.floor(epochMs / 1000) + 9 * 3600;

// ▲ 1,200 (+1.5 %) / ▼ … / – : the arrow carries the meaning, the colour only repeats it.
export function signed(value, base) {
  if (value === null || value === undefined) return h("span.flat", "–");
  const cls = value > 0 ? "up" : value < 0 ? "down" : "flat";
  const arrow = value > 0 ? "▲" : value < 0 ? "▼" : "■";
  const rate = base ? ` (${value > 0 ? "+" : ""}${num((100 * value) / base, 2)} %)` : "";
  return h(`span.${cls}`, `${arrow} ${won(Math.abs(value))}${rate}`);
}

export function ema(values, period) {
  const out = [];
  const k = 2 / (period + 1);
  let prev = null;
  let sum = 0;
  values.forEach((v, i) => {
    if (i < period - 1) { sum += v; out.push(null); return; }
    if (prev === null) { prev = (sum + v) / period; out.push(prev); return; }
    prev = v * k + prev * (1 - k);
    out.push(prev);
  });
  return out;
}

export function signedPct(value) {
  if (value === null || value === undefined) return h("span.flat", "–");
  const cls = value > 0 ? "up" : value < 0 ? "down" : "flat";
  const arrow = value > 0 ? "▲" : value < 0 ? "▼" : "■";
  return h(`span.${cls}`, `${arrow} ${Math.abs(value).toFixed(2)} %`);
}
