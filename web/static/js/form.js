// Form helpers: labelled fields with help text, and an API error shown on the fields it names.
import { h } from "./dom.js";

let seq = 0;
export function field(name, label, input, help) {
  const id = input.id || `f-${name}-${++seq}`;
  input.id = id;
  input.name = name;
  const helpEl = help ? h("small.help", { id: `${id}-help` }, help) : null;
  if (helpEl) input.setAttribute("aria-describedby", `${id}-help`);
  return h("div.field", { "data-field": name }, h("label", { for: id }, label), input, helpEl,
    h("small.field-error", { id: `${id}-err`, role: "alert" }));
}

export function showErrors(form, err, extra = {}) {
  clearErrors(form);
  const fields = { ...(err.fields || {}), ...extra };
  let first = null;
  for (const [name, message] of Object.entries(fields)) {
    const box = form.querySelector(`[data-field="${name.split(".")[0]}"]`);
    if (!box) continue;
    box.classList.add("invalid");
    box.querySelector(".field-error").textContent = message;
    const input = box.querySelector("input, select, textarea");
    if (input) { input.setAttribute("aria-invalid", "true"); first = first || input; }
  }
  const banner = form.querySelector(".form-error");
  if (banner) banner.textContent = `${err.message}${err.code ? ` (${err.code})` : ""}`;
  if (first) first.focus();
}

export function clearErrors(form) {
  form.querySelectorAll(".field.invalid").forEach((el) => el.classList.remove("invalid"));
  form.querySelectorAll(".field-error").forEach((el) => { el.textContent = ""; });
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  const banner = form.querySelector(".form-error");
  if (banner) banner.textContent = "";
}

export const banner = () => h("p.form-error", { role: "alert" });

export function values(form) {
  return Object.fromEntries(new FormData(form).entries());
}
