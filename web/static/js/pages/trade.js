// Trade: the order ticket (market / limit on the tick grid, today's limits shown, the refused field
// highlighted), the orders table live from `order` events with cancel and modify, balance and positions.
import { api, get, newKey } from "../api.js";
import { clear, h, toast } from "../dom.js";
import { banner, clearErrors, field, showErrors } from "../form.js";
import { kst, signed, won } from "../fmt.js";
import { t } from "../i18n.js";
import { isCode } from "../market_data.js";
import * as socket from "../socket.js";
import { accountPicker, registerAccountForm } from "./accounts.js";

const OPEN = new Set(["pending", "accepted", "partially_filled"]);
const FIELD_OF = { off_tick: "price", outside_price_limits: "price", invalid_price: "price", invalid_quantity: "quantity",
  insufficient_cash: "quantity", insufficient_holdings: "quantity", max_order_value: "quantity",
  max_position_value: "quantity", bad_code: "stock_code" };

export function snap(price, bands, dir = "nearest") {
  if (!(price > 0) || !bands) return price;
  const band = bands.find((b) => b.below === null || price < b.below);
  const tick = band.tick;
  const down = price - (price % tick);
  if (down === price) return price;
  if (dir === "down") return down;
  if (dir === "up") return down + tick;
  return price - down >= down + tick - price ? down + tick : down;
}
const tickOf = (price, bands) => (bands ? bands.find((b) => b.below === null || price < b.below).tick : 1);

export function mount(view, params) {
  const offs = [];
  let accounts = [];
  let accountId = null;
  let limits = null;
  let code = isCode(params.get("code") || "") ? params.get("code") : "005930";
  let codeOff = null;
  const root = h("div.trade");
  view.append(root);

  // -- ticket
  const codeIn = h("input", { value: code, maxlength: 6, inputmode: "numeric", required: true, size: 8 });
  const sideBuy = h("input", { type: "radio", name: "order_type", value: "buy", checked: true, id: "side-buy" });
  const sideSell = h("input", { type: "radio", name: "order_type", value: "sell", id: "side-sell" });
  const kindMarket = h("input", { type: "radio", name: "kind", value: "market", checked: true, id: "kind-market" });
  const kindLimit = h("input", { type: "radio", name: "kind", value: "limit", id: "kind-limit" });
  const qtyIn = h("input", { type: "number", min: 1, step: 1, value: 1, required: true });
  const priceIn = h("input", { type: "number", min: 1, step: 1, disabled: true });
  const limitsLine = h("p.limits", { id: "limits-line", "aria-live": "polite" }, t("limits.unknown"));
  const quoteLine = h("p.lastline", { id: "ticket-last" });
  const ticket = h("form.card.ticket", { id: "order-ticket", "aria-labelledby": "ticket-h", novalidate: true },
    h("h2", { id: "ticket-h" }, t("ticket.title")),
    h("div.account-slot"),
    field("stock_code", t("col.code"), codeIn),
    quoteLine,
    h("fieldset.field", { "data-field": "order_type" }, h("legend", t("side")),
      h("label.radio.buy", sideBuy, ` ▲ ${t("buy")}`), h("label.radio.sell", sideSell, ` ▼ ${t("sell")}`)),
    h("fieldset.field", { "data-field": "kind" }, h("legend", t("ordertype")),
      h("label.radio", kindMarket, ` ${t("market")}`), h("label.radio", kindLimit, ` ${t("limit")}`)),
    field("quantity", t("quantity"), qtyIn),
    field("price", t("price"), priceIn),
    limitsLine, banner(), h("button", { type: "submit", id: "place-order" }, t("submit.order")));

  function paintLimits() {
    if (!limits || limits.base_price === null) { limitsLine.textContent = t("limits.unknown"); return; }
    const ref = Number(priceIn.value) || limits.base_price;
    limitsLine.textContent = t("limits.line", { base: won(limits.base_price), lower: won(limits.lower_limit),
      upper: won(limits.upper_limit), tick: won(tickOf(ref, limits.tick_bands)) });
    priceIn.min = String(limits.lower_limit);
    priceIn.max = String(limits.upper_limit);
  }
  async function loadCode() {
    const c = codeIn.value.trim().toUpperCase();
    if (!isCode(c)) return;
    code = c;
    if (codeOff) codeOff();
    codeOff = socket.subscribe("trade", code);
    clear(quoteLine);
    limits = await get(`/realtime/price-limits/${code}`).catch(() => null);
    paintLimits();
    history.replaceState(null, "", `#/trade?code=${code}`);
  }
  codeIn.addEventListener("change", loadCode);
  const syncKind = () => {
    priceIn.disabled = !kindLimit.checked;
    priceIn.required = kindLimit.checked;
    if (kindLimit.checked && !priceIn.value && lastPrice) priceIn.value = String(snap(lastPrice, limits && limits.tick_bands));
    paintLimits();
  };
  kindMarket.addEventListener("change", syncKind);
  kindLimit.addEventListener("change", syncKind);
  priceIn.addEventListener("change", () => {
    const p = Number(priceIn.value);
    const s = snap(p, limits && limits.tick_bands);
    if (s !== p && p > 0) { priceIn.value = String(s); toast(t("tick.snapped", { price: won(s) })); }
    paintLimits();
  });
  priceIn.addEventListener("keydown", (ev) => { // arrow keys walk the tick grid
    if (ev.key !== "ArrowUp" && ev.key !== "ArrowDown") return;
    ev.preventDefault();
    const p = Number(priceIn.value) || lastPrice || 0;
    const bands = limits && limits.tick_bands;
    const next = ev.key === "ArrowUp" ? snap(p + 1, bands, "up") : snap(p - 1, bands, "down");
    if (next > 0) priceIn.value = String(next);
    paintLimits();
  });
  let lastPrice = 0;
  offs.push(socket.on("trade", (tr) => {
    if (tr.code !== code) return;
    lastPrice = tr.price;
    clear(quoteLine, `${t("col.last")} `, h("strong", won(tr.price)), " ", signed(tr.change, tr.price - tr.change),
      ` · ${kst(tr.ts_ms, { date: false })}`);
  }));

  ticket.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(ticket);
    const body = { stock_code: codeIn.value.trim().toUpperCase(), order_type: sideBuy.checked ? "buy" : "sell",
      quantity: Number(qtyIn.value) };
    if (kindLimit.checked) body.price = Number(priceIn.value);
    if (accountId !== null) body.account_id = accountId;
    const button = ticket.querySelector("#place-order");
    button.disabled = true;
    try {
      const { status, data } = await api("POST", "/stocks/order", body, { "Idempotency-Key": newKey() });
      toast(t(status === 202 ? "order.pending" : "order.sent", { id: data.order_id }), "ok");
      refreshOrders();
      refreshBalance();
    } catch (err) {
      const extra = FIELD_OF[err.code] && !err.fields[FIELD_OF[err.code]] ? { [FIELD_OF[err.code]]: err.message } : {};
      showErrors(ticket, err, extra);
    } finally { button.disabled = false; }
  });

  // -- orders
  const ordersBody = h("tbody");
  const ordersEmpty = h("p.empty", t("orders.empty"));
  const orders = new Map();
  let editing = null; // the open modify form { id, row }: kept across repaints (events, refreshes)
  const ordersTable = h("table.grid", { id: "orders-table" }, h("thead", h("tr",
    ["col.time", "col.code", "col.side", "col.type", "col.qty", "col.filled", "col.avg", "col.status", "col.actions"]
      .map((k) => h(["col.qty", "col.filled", "col.avg"].includes(k) ? "th.num" : "th", t(k))))), ordersBody);

  function orderRow(o) {
    const open = OPEN.has(o.status);
    const actions = h("td.actions");
    if (open) {
      actions.append(
        h("button.small", { type: "button", "data-action": "cancel", on: { click: () => cancel(o) } }, t("cancel")),
        o.price !== null ? h("button.small.ghost", { type: "button", "data-action": "modify", on: { click: () => modify(o, tr) } }, t("modify")) : null);
    }
    const side = o.order_type === "buy" ? h("span.up", `▲ ${t("buy")}`) : h("span.down", `▼ ${t("sell")}`);
    const tr = h("tr", { "data-order-id": o.order_id, "data-status": o.status },
      h("td", kst(o.created_at)), h("td", o.stock_code), h("td", side),
      h("td", o.price === null ? t("market") : `${t("limit")} ${won(o.price)}`),
      h("td.num", won(o.quantity)), h("td.num", won(o.filled_quantity)), h("td.num", o.average_price ? won(o.average_price) : "–"),
      h("td", h(`span.badge.${o.status}`, t(`status.${o.status}`)), o.reason ? h("small.muted.block", o.reason) : null,
        (o.fills || []).length ? h("ul.fills", o.fills.map((f) => h("li", `${won(f.quantity)} @ ${won(f.price)} · ${kst(f.ts_ms || f.time, { date: false })}`,
          f.commission || f.tax ? h("span.muted", ` (${t("fees")} ${won((f.commission || 0) + (f.tax || 0))})`) : null))) : null),
      actions);
    return tr;
  }
  function paintOrders() {
    const list = [...orders.values()].sort((a, b) => (b.created_at || "").localeCompare(a.created_at || "") || b.order_id - a.order_id);
    clear(ordersBody, list.slice(0, 100).map(orderRow));
    ordersEmpty.hidden = list.length > 0;
    if (editing) { // what the user is typing survives an event that repaints the table
      const o = orders.get(editing.id);
      const tr = ordersBody.querySelector(`tr[data-order-id="${editing.id}"]`);
      if (o && OPEN.has(o.status) && tr) tr.after(editing.row);
      else editing = null; // filled, cancelled or gone meanwhile: nothing left to modify
    }
  }
  async function refreshOrders() {
    if (accountId === null) return;
    const body = await get(`/stocks/orders?account_id=${accountId}`);
    orders.clear();
    body.orders.forEach((o) => orders.set(o.order_id, o));
    paintOrders();
  }
  offs.push(socket.on("order", (msg) => {
    const o = msg.order;
    if (!o || (accountId !== null && o.account_id !== undefined && o.account_id !== accountId)) return;
    orders.set(o.order_id, { ...(orders.get(o.order_id) || {}), ...o });
    paintOrders();
    if (msg.event === "filled" || msg.event === "partially_filled" || msg.event === "cancelled") refreshBalance();
  }));

  async function cancel(o) {
    try {
      await api("DELETE", `/stocks/orders/${o.order_id}`);
      toast(t("cancel.sent"), "ok");
      refreshOrders();
    } catch (err) { toast(`${err.message} (${err.code})`, "error"); }
  }
  function modify(o, tr) {
    const wasOpen = editing && editing.id === o.order_id;
    if (editing) { editing.row.remove(); editing = null; }
    if (wasOpen) return;
    const p = h("input", { type: "number", value: o.price, min: 1, "aria-label": t("price") });
    const q = h("input", { type: "number", value: o.quantity, min: o.filled_quantity + 1, max: o.quantity, "aria-label": t("quantity") });
    const form = h("form.inline", field("price", t("price"), p), field("quantity", t("quantity.total"), q), banner(),
      h("button.small", { type: "submit" }, t("modify.apply")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const snapped = snap(Number(p.value), limits && limits.tick_bands);
      p.value = String(snapped);
      try {
        const now = orders.get(o.order_id) || o; // as it stands (events may have moved it since the form opened)
        const change = {}; // only what changed: the quantity may only go down, to above what is filled
        if (snapped !== now.price) change.price = snapped;
        if (Number(q.value) !== now.quantity) change.quantity = Number(q.value);
        await api("PATCH", `/stocks/orders/${o.order_id}`, change);
        toast(t("modify.sent"), "ok");
        if (editing && editing.id === o.order_id) { editing.row.remove(); editing = null; }
        refreshOrders();
      } catch (err) { showErrors(form, err, FIELD_OF[err.code] ? { [FIELD_OF[err.code]]: err.message } : {}); }
    });
    editing = { id: o.order_id, row: h("tr.modify-row", h("td", { colSpan: 9 }, form)) };
    tr.after(editing.row);
    p.focus();
  }

  // -- balance
  const balanceBox = h("div", { id: "balance" });
  async function refreshBalance() {
    if (accountId === null) return;
    const b = await get(`/accounts/balance?account_id=${accountId}`).catch(() => null);
    if (!b) return;
    const rows = b.stock_balance.map((s) => h("tr", { "data-code": s.stock_code }, h("th", { scope: "row" }, s.stock_code),
      h("td.num", won(s.quantity)), h("td.num", won(s.average_price)), h("td.num", won(s.current_price)),
      h("td.num", won(s.evaluation)), h("td.num", signed(s.profit_loss, s.average_price * s.quantity))));
    clear(balanceBox,
      h("dl.figures", h("div", h("dt", t("cash")), h("dd", { id: "cash" }, `${won(b.cash_balance)}원`)),
        h("div", h("dt", t("total.eval")), h("dd", `${won(b.total_evaluation)}원`)),
        h("div", h("dt", t("total.pl")), h("dd", signed(b.total_profit_loss)))),
      rows.length ? h("table.grid", { id: "positions-table" }, h("thead", h("tr", h("th", t("col.code")), h("th.num", t("col.qty")),
        h("th.num", t("col.avg")), h("th.num", t("col.current")), h("th.num", t("col.evaluation")), h("th.num", t("col.pl")))), h("tbody", rows))
        : h("p.empty", t("positions.empty")));
  }

  function layout() {
    clear(root,
      h("div.col", ticket),
      h("div.col.wide",
        h("section.panel", { "aria-labelledby": "orders-h" }, h("h2", { id: "orders-h" }, t("orders.title")), ordersTable, ordersEmpty),
        h("section.panel", { "aria-labelledby": "balance-h" }, h("h2", { id: "balance-h" }, t("balance.title")), balanceBox)));
    clear(ticket.querySelector(".account-slot"), accountPicker(accounts, accountId, (id) => { accountId = id; refreshOrders(); refreshBalance(); }));
  }

  async function start() {
    accounts = (await get("/accounts")).accounts;
    if (!accounts.length) {
      clear(root, h("section.panel.narrow", h("p.empty", { id: "no-account" }, t("accounts.none")),
        registerAccountForm(() => start())));
      return;
    }
    accountId = accountId ?? accounts[0].account_id;
    layout();
    await loadCode();
    syncKind();
    await Promise.all([refreshOrders(), refreshBalance()]);
  }
  start();
  const timer = setInterval(refreshBalance, 5000);
  return () => { clearInterval(timer); offs.forEach((off) => off()); if (codeOff) codeOff(); };
}
