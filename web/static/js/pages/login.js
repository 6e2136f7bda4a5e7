// Sign in and register.
import { api, session } from "../api.js";
import { h, toast } from "../dom.js";
import { banner, clearErrors, field, showErrors, values } from "../form.js";
import { t } from "../i18n.js";

export function mount(view) {
  const loginForm = h("form.card", { id: "login-form", "aria-labelledby": "login-h" },
    h("h2", { id: "login-h" }, t("login.title")),
    field("email", t("email"), h("input", { type: "email", required: true, autocomplete: "username" })),
    field("password", t("password"), h("input", { type: "password", required: true, autocomplete: "current-password" })),
    banner(), h("button", { type: "submit" }, t("login.submit")), h("p.note", t("login.note")));
  const registerForm = h("form.card", { id: "register-form", "aria-labelledby": "register-h" },
    h("h2", { id: "register-h" }, t("register.title")),
    field("email", t("email"), h("input", { type: "email", required: true, autocomplete: "username" })),
    field("password", t("password"), h("input", { type: "password", required: true, autocomplete: "new-password" }),
      t("password.help")),
    banner(), h("button", { type: "submit" }, t("register.submit")));

  loginForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(loginForm);
    const body = values(loginForm);
    try {
      const { data } = await api("POST", "/users/login", body);
      session.set(data.access_token, body.email);
      location.hash = "#/market";
    } catch (err) { showErrors(loginForm, err); }
  });
  registerForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(registerForm);
    const body = values(registerForm);
    try {
      await api("POST", "/users/register", body);
      toast(t("register.done"), "ok");
      loginForm.elements.email.value = body.email;
      loginForm.elements.password.focus();
    } catch (err) { showErrors(registerForm, err); }
  });
  view.append(h("div.auth", loginForm, registerForm));
  loginForm.elements.email.focus();
}
