// The account picker and the paper-account registration form (the empty state of trade, swings and risk).
import { api } from "../api.js";
import { h, toast } from "../dom.js";
import { banner, clearErrors, field, showErrors, values } from "../form.js";
import { t } from "../i18n.js";

export function accountPicker(accounts, current, onPick) {
  if (accounts.length < 2) {
    const a = accounts[0];
    return a ? h("p.muted", `${t("account")}: #${a.account_id} ${a.account_number} (${a.broker})`) : null;
  }
  const select = h("select", { on: { change: () => onPick(Number(select.value)) } },
    accounts.map((a) => h("option", { value: a.account_id, selected: a.account_id === current },
      `#${a.account_id} ${a.account_number} (${a.broker})`)));
  return field("account_id", t("account"), select);
}

export function registerAccountForm(done) {
  const n = String(Math.floor(10000000 + Math.random() * 89999999));
  const form = h("form.card", { id: "account-form" }, h("h2", t("account.register")),
    h("p.muted", t("account.paper.help")),
    field("account_number", t("account.number"), h("input", { value: `${n}-01`, required: true, pattern: "\\d{8}-\\d{2}" })),
    field("api_key", t("api_key"), h("input", { value: "paper-app-key", required: true, autocomplete: "off" })),
    field("secret_key", t("secret_key"), h("input", { type: "password", value: "paper-app-secret", required: true, autocomplete: "off" })),
    banner(), h("button", { type: "submit" }, t("account.register")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    try {
      await api("POST", "/accounts/register", values(form));
      toast(t("account.done"), "ok");
      done();
    } catch (err) { showErrors(form, err); }
  });
  return form;
}
