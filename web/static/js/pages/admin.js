// Operators: the actor tree live (filterable; faulted actors stand out) and key figures from /metrics.
import { api } from "../api.js";
import { clear, h } from "../dom.js";
import { num, won } from "../fmt.js";
import { t } from "../i18n.js";

const BAD = new Set(["faulted", "restarting", "stopped"]);

// Prometheus text → {name: [{labels, value}]}
export function parseMetrics(text) {
  const out = {};
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = Object.fromEntries([...(m[3] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    (out[m[1]] = out[m[1]] || []).push({ labels, value: Number(m[4]) });
  }
  return out;
}

export function mount(view) {
  let rows = [];
  const filter = h("input", { type: "search", id: "actor-filter", placeholder: t("admin.filter"), "aria-label": t("admin.filter") });
  const faultedOnly = h("input", { type: "checkbox", id: "faulted-only" });
  const count = h("span.muted", { id: "actor-count" });
  const tbody = h("tbody");
  const figures = h("dl.figures", { id: "metrics-figures" });
  const deadList = h("ol.dead", { id: "dead-letters" });
  const deadEmpty = h("p.muted", t("admin.nodead"));
  const cols = ["col.path", "col.kind", "col.state", "col.mailbox", "col.handled", "col.rejected", "col.conflated",
    "col.dead", "col.restarts", "col.error"];
  const body = h("div.admin",
    h("section.panel", { "aria-labelledby": "metrics-h" }, h("h2", { id: "metrics-h" }, t("admin.metrics")), figures),
    h("section.panel", { "aria-labelledby": "actors-h" }, h("h2", { id: "actors-h" }, t("admin.title")),
      h("div.row", filter, h("label.radio", faultedOnly, ` ${t("admin.faulted")}`), count),
      h("div.scroll", h("table.grid.actors", { id: "actor-table" }, h("thead", h("tr", cols.map((k) => h("th", t(k))))), tbody))),
    h("section.panel", { "aria-labelledby": "dead-h" }, h("h2", { id: "dead-h" }, t("admin.dead")), deadList, deadEmpty));
  filter.addEventListener("input", paint);
  faultedOnly.addEventListener("change", paint);

  function paint() {
    const q = filter.value.trim().toLowerCase();
    const shown = rows.filter((r) => (!q || r.path.toLowerCase().includes(q) || r.kind.toLowerCase().includes(q))
      && (!faultedOnly.checked || BAD.has(r.state) || r.restarts > 0 || r.failed > 0));
    count.textContent = t("actors.count", { shown: shown.length, total: rows.length });
    clear(tbody, shown.map((r) => {
      const bad = BAD.has(r.state);
      const depth = r.path.split("/").length - 2;
      const path = h("th.path", { scope: "row" }, r.path);
      path.style.paddingLeft = `${0.4 + depth * 0.9}rem`;
      return h(`tr${bad ? ".faulted" : r.restarts ? ".restarted" : ""}`, { "data-path": r.path, "data-state": r.state },
        path, h("td", r.kind), h("td", h(`span.badge.${r.state}`, `${bad ? "◆ " : ""}${r.state}`)),
        h("td.num", `${r.mailbox_depth}/${r.mailbox_limit} (${r.mailbox_peak})`), h("td.num", won(r.handled)),
        h("td.num", won(r.rejected)), h("td.num", won(r.conflated)),
        h("td.num", won(r.dead_letters || 0)),
        h("td.num", { "data-col": "restarts" }, String(r.restarts)), h("td.error", r.last_error || ""));
    }));
  }

  function paintMetrics(m) {
    const one = (name) => (m[name] || []).reduce((s, x) => s + x.value, 0);
    const orders = (m.autotrader_orders || []).filter((x) => x.value > 0).map((x) => `${x.labels.status} ${x.value}`).join(" · ") || "–";
    const lag = m.autotrader_event_loop_lag_seconds || [];
    const lagText = lag.length ? lag.map((x) => `${x.labels.quantile || x.labels.stat || ""} ${num(x.value * 1000, 1)} ms`.trim()).join(" · ") : "–";
    const card = (label, value, id) => h("div", h("dt", label), h("dd", { id }, value));
    clear(figures, card(t("m.actors"), won(rows.length), "m-actors"), card(t("m.feeds"), won(one("autotrader_feeds")), "m-feeds"),
      card(t("m.clients"), won(one("autotrader_websocket_clients")), "m-clients"),
      card(t("m.upstream"), one("autotrader_upstream_live") ? "● live" : "○ down", "m-upstream"),
      card(t("m.faulted"), won(one("autotrader_actors_faulted")), "m-faulted"),
      card(t("m.orders"), orders, "m-orders"), card(t("m.lag"), lagText, "m-lag"));
  }

  let stopped = false;
  let timer = 0;
  async function refresh() {
    try {
      const [tree, metrics] = await Promise.all([api("GET", "/admin/actors"), api("GET", "/metrics")]);
      rows = tree.data.actors;
      paint();
      const dead = (tree.data.dead_letters || []).slice(-20).reverse();
      deadEmpty.hidden = dead.length > 0;
      clear(deadList, dead.map((d) => h("li", h("code", d.target), ` ← ${d.sender || "?"} · ${d.msg_type} · `, h("span.muted", d.reason))));
      paintMetrics(parseMetrics(metrics.data));
      if (!body.isConnected) view.append(body);
    } catch (err) {
      if (err.status === 403) { clear(view, h("p.empty", { id: "admin-forbidden" }, t("admin.forbidden"))); return; }
      throw err;
    }
    if (!stopped) timer = setTimeout(refresh, 2000);
  }
  refresh();
  return () => { stopped = true; clearTimeout(timer); };
}
