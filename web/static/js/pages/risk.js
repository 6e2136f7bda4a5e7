// Risk: the account's effective limits and overrides, and the kill switch (halt / resume) one click away.
import { api, get } from "../api.js";
import { clear, h, toast } from "../dom.js";
import { banner, clearErrors, field, showErrors } from "../form.js";
import { won } from "../fmt.js";
import { t } from "../i18n.js";
import { accountPicker, registerAccountForm } from "./accounts.js";

const LIMITS = ["max_order_value", "max_position_value", "daily_loss_limit"];

export function mount(view) {
  let accounts = [];
  let accountId = null;
  const root = h("div.risk");
  view.append(root);

  async function paint() {
    const r = await get(`/accounts/${accountId}/risk`);
    const reason = h("input", { id: "halt-reason", placeholder: t("risk.reason") });
    const state = h(`p.risk-state.${r.halted ? "halted" : "active"}`,
      { id: "risk-state", role: "status", "data-halted-by": r.halted_by || "" },
      r.halted ? `■ ${t("risk.halted")}${r.halted_by ? ` (${t(`risk.by_${r.halted_by}`)})` : ""}`
        + `${r.halted_reason ? ` — ${r.halted_reason}` : ""}` : `▶ ${t("risk.active")}`);
    const note = r.halted && r.halted_by === "admin" ? h("p.muted", { id: "admin-halt-note" }, t("risk.admin_halt")) : null;
    const toggle = r.halted
      ? h("button.big", { type: "button", id: "resume", on: { click: () => act("resume") } }, t("risk.resume"))
      : h("button.big.danger", { type: "button", id: "halt", on: { click: () => act("halt", reason.value) } }, t("risk.halt"));
    const inputs = Object.fromEntries(LIMITS.map((k) => [k, h("input", { type: "number", min: 0, step: 1,
      value: r.overrides && r.overrides[k] !== undefined && r.overrides[k] !== null ? r.overrides[k] : "", placeholder: won(r[k]) })]));
    const form = h("form.card", { id: "risk-form" }, h("h3", t("risk.title")),
      h("table.grid", h("tbody", LIMITS.map((k) => h("tr", h("th", { scope: "row" }, t(`risk.${k}`)),
        h("td.num", { "data-limit": k }, r[k] ? `${won(r[k])}원` : "∞"))))),
      LIMITS.map((k) => field(k, t(`risk.${k}`), inputs[k])), h("p.muted", t("risk.help")), banner(),
      h("button", { type: "submit" }, t("risk.save")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      clearErrors(form);
      const body = Object.fromEntries(LIMITS.map((k) => [k, inputs[k].value === "" ? null : Number(inputs[k].value)]));
      try { await api("PUT", `/accounts/${accountId}/risk`, body); toast(t("risk.saved"), "ok"); paint(); } catch (err) { showErrors(form, err); }
    });
    clear(root, h("section.panel.narrow", h("h2", t("risk.title")),
      accountPicker(accounts, accountId, (id) => { accountId = id; paint(); }),
      state, note, h("div.row", r.halted ? null : reason, toggle), form));
  }

  async function act(what, reason) {
    try {
      await api("POST", `/accounts/${accountId}/${what}`, reason ? { reason } : {});
      await paint();
      document.getElementById(what === "halt" ? "resume" : "halt").focus();
    } catch (err) { toast(`${err.message} (${err.code})`, "error"); }
  }

  async function start() {
    accounts = (await get("/accounts")).accounts;
    if (!accounts.length) {
      clear(root, h("section.panel.narrow", h("p.empty", t("accounts.none")), registerAccountForm(start)));
      return;
    }
    accountId = accounts[0].account_id;
    await paint();
  }
  start();
}
