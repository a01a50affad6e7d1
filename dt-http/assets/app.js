// The dashboard: a small page router over the admin API. Every view's state lives in the URL
// (path and query), so a link reproduces the view and Back restores it. All text from the
// server goes into the page with textContent, never as HTML.
"use strict";

const STATUSES = ["PENDING", "RUNNING", "SUSPENDED", "COMPLETED", "FAILED", "TERMINATED"];
const TERMINAL = new Set(["COMPLETED", "FAILED", "TERMINATED", "CANCELED"]);
const PAGE = 50;
const HISTORY_WINDOW = 500;

const app = {
  readOnly: false,
  view: null, // { refresh(change) } of the view on screen
  auto: localStorage.getItem("dt-auto") !== "off",
  source: null,
  poller: null,
};

// ---------------------------------------------------------------------------------------------
// DOM and API helpers.

/** Creates an element; string children become text nodes, never markup. */
function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** Replaces a node's children, skipping the empty ones (null, undefined, false). */
function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// ---------------------------------------------------------------------------------------------
// The access token: a server started with tokens answers 401 without one. The token is kept in
// sessionStorage (this tab only, gone when it closes) and sent on every API call and the live
// feed as `authorization: Bearer <token>`; it never goes into a URL.

const TOKEN_KEY = "dt-token";

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { authorization: "Bearer " + token } : {};
}

/** Shows the token field after a 401. */
function needToken() {
  const form = document.getElementById("token-form");
  const first = form.hidden;
  form.hidden = false;
  banner(sessionStorage.getItem(TOKEN_KEY)
    ? "The server refused the access token: enter another one above."
    : "This server needs an access token: enter it above.");
  document.getElementById("banner").dataset.kind = "token";
  if (first) document.getElementById("token").focus();
}

function setupToken() {
  const form = document.getElementById("token-form");
  if (sessionStorage.getItem(TOKEN_KEY)) form.hidden = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = document.getElementById("token");
    const token = input.value.trim();
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
    input.value = "";
    input.placeholder = token ? "token set (enter another)" : "bearer token";
    banner("");
    await load();
  });
  if (sessionStorage.getItem(TOKEN_KEY)) document.getElementById("token").placeholder = "token set (enter another)";
}

async function api(path, options = {}) {
  const init = { method: options.method || "GET", headers: authHeaders() };
  if (options.body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  const response = await fetch("/api/v1" + path, init);
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch (_) {
    json = null;
  }
  if (response.status === 401) needToken();
  if (!response.ok) {
    const err = (json && json.error) || {};
    throw new ApiError(response.status, err.code || String(response.status), err.message || text || response.statusText);
  }
  return json;
}

const enc = encodeURIComponent;
const instanceHref = (id) => "/instances/" + enc(id);
const entityHref = (id) => "/entities/" + enc(id);

function when(t) {
  if (!t) return "";
  const d = new Date(t);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** A payload as readable text: pretty JSON when it parses, as sent otherwise. */
function pretty(payload) {
  if (payload === undefined || payload === null) return "";
  try {
    return JSON.stringify(JSON.parse(payload), null, 2);
  } catch (_) {
    return payload;
  }
}

function statusBadge(status) {
  return h("span", { class: "status " + status }, status);
}

function toast(text) {
  const t = document.getElementById("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.hidden = true), 2500);
}

function banner(text) {
  const b = document.getElementById("banner");
  b.textContent = text || "";
  b.hidden = !text;
}

/**
 * Asks for confirmation and values in the page's dialog. Resolves to the values, or null when
 * cancelled. `fields`: { name, label, kind: "text" | "json" | "checkbox", value }. A JSON field
 * must parse before the dialog closes.
 */
function ask({ title, text, fields = [], ok = "OK", danger = false }) {
  const dialog = document.getElementById("dialog");
  document.getElementById("dialog-title").textContent = title;
  document.getElementById("dialog-text").textContent = text || "";
  const error = document.getElementById("dialog-error");
  error.hidden = true;
  const box = document.getElementById("dialog-fields");
  fill(box);
  const inputs = fields.map((f) => {
    const id = "field-" + f.name;
    let input;
    if (f.kind === "checkbox") {
      input = h("input", { type: "checkbox", id, name: f.name, checked: !!f.value });
      box.append(h("label", { for: id }, input, " ", f.label));
    } else if (f.kind === "json") {
      input = h("textarea", { id, name: f.name, placeholder: "any JSON value, e.g. {\"approved\": true}" });
      input.value = f.value || "";
      box.append(h("label", { for: id }, f.label), input);
    } else {
      input = h("input", { type: "text", id, name: f.name, autocomplete: "off" });
      input.value = f.value || "";
      box.append(h("label", { for: id }, f.label), input);
    }
    return [f, input];
  });
  const okButton = document.getElementById("dialog-ok");
  okButton.textContent = ok;
  okButton.className = danger ? "danger" : "primary";
  return new Promise((resolve) => {
    const form = document.getElementById("dialog-form");
    const cancel = document.getElementById("dialog-cancel");
    const finish = (value) => {
      form.removeEventListener("submit", submit);
      cancel.removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      dialog.close();
      resolve(value);
    };
    const submit = (event) => {
      event.preventDefault();
      const values = {};
      for (const [f, input] of inputs) {
        if (f.kind === "checkbox") values[f.name] = input.checked;
        else if (f.kind === "json") {
          const raw = input.value.trim();
          if (!raw) values[f.name] = null;
          else {
            try {
              values[f.name] = JSON.parse(raw);
            } catch (e) {
              error.textContent = f.label + " is not valid JSON: " + e.message;
              error.hidden = false;
              return;
            }
          }
        } else {
          if (f.required && !input.value.trim()) {
            error.textContent = f.label + " is required";
            error.hidden = false;
            return;
          }
          values[f.name] = input.value.trim() || null;
        }
      }
      finish(values);
    };
    const onCancel = (event) => {
      event.preventDefault();
      finish(null);
    };
    form.addEventListener("submit", submit);
    cancel.addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
    dialog.showModal();
    const first = inputs.find(([f]) => f.kind !== "checkbox");
    (first ? first[1] : okButton).focus();
  });
}

// ---------------------------------------------------------------------------------------------
// Routing.

function navigate(url, replace = false) {
  const state = { scroll: 0 };
  if (replace) history.replaceState(state, "", url);
  else {
    history.replaceState({ ...(history.state || {}), scroll: window.scrollY }, "");
    history.pushState(state, "", url);
  }
  render();
}

document.addEventListener("click", (event) => {
  const a = event.target.closest && event.target.closest("a[href]");
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  // getAttribute: an SVG link's `href` property is not a string.
  const url = new URL(a.getAttribute("href"), location.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/api/") || url.pathname === "/metrics") return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});

window.addEventListener("popstate", () => render());

async function render() {
  const path = location.pathname;
  const section = path.startsWith("/entities") ? "entities" : "instances";
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.section === section);
  const main = document.getElementById("view");
  const decode = (s) => {
    try {
      return decodeURIComponent(s);
    } catch (_) {
      return s;
    }
  };
  let view;
  if (path.startsWith("/instances/")) view = instanceView(decode(path.slice("/instances/".length)));
  else if (path.startsWith("/entities/")) view = entityView(decode(path.slice("/entities/".length)));
  else if (path === "/entities") view = entitiesView();
  else view = listView();
  app.view = view;
  fill(main, view.root);
  await view.refresh({ any: true, first: true });
  if (!view.header) refreshHeader();
  if (app.view === view) {
    const scroll = (history.state && history.state.scroll) || 0;
    window.scrollTo(0, scroll);
  }
}

// ---------------------------------------------------------------------------------------------
// The instance list.

function listFilters() {
  const q = new URLSearchParams(location.search);
  const status = (q.get("status") || "").split(",").filter((s) => STATUSES.includes(s));
  return {
    status,
    id: q.get("id") || "",
    name: q.get("name") || "",
    from: q.get("from") || "",
    to: q.get("to") || "",
  };
}

function listUrl(f) {
  const q = new URLSearchParams();
  if (f.status.length) q.set("status", f.status.join(","));
  for (const k of ["id", "name", "from", "to"]) if (f[k]) q.set(k, f[k]);
  const s = q.toString();
  return "/" + (s ? "?" + s : "");
}

function listView() {
  const f = listFilters();
  sessionStorage.setItem("dt-list", location.pathname + location.search);
  const chips = h("div", { class: "chips", role: "group", "aria-label": "Filter by status" });
  const tbody = h("tbody");
  const more = h("div", { class: "more" });
  const setFilter = (change) => navigate(listUrl({ ...f, ...change }));
  const localInput = (v) => (v ? v.slice(0, 16) : "");
  const field = (label, name, type, value, placeholder) =>
    h("label", {}, label, h("input", {
      name, type, value, placeholder,
      onchange: (e) => {
        let v = e.target.value.trim();
        if (type === "datetime-local" && v) v = new Date(v).toISOString();
        setFilter({ [name]: v });
      },
    }));
  const newButton = app.readOnly ? null : h("button", { class: "primary", onclick: startDialog }, "New orchestration");
  // Instances picked for a bulk action; kept across live refreshes of the rows.
  const selected = new Set();
  const bulkBar = h("div", { class: "bulk", hidden: true });
  const results = h("div", { id: "bulk-results" });
  const selectAll = app.readOnly ? null : h("input", {
    type: "checkbox", "aria-label": "Select all shown",
    onchange: (e) => {
      for (const box of tbody.querySelectorAll("input[data-select]")) {
        box.checked = e.target.checked;
        e.target.checked ? selected.add(box.dataset.select) : selected.delete(box.dataset.select);
      }
      showBulk();
    },
  });
  const bulkActions = {
    terminate: { label: "Terminate", run: (id) => api(`/instances/${enc(id)}/terminate`, { method: "POST", body: { reason: "bulk terminate" } }) },
    purge: { label: "Purge", run: (id) => api(`/instances/${enc(id)}`, { method: "DELETE" }) },
    restart: { label: "Restart", run: (id) => api(`/instances/${enc(id)}/restart`, { method: "POST", body: {} }) },
  };
  function showBulk() {
    bulkBar.hidden = selected.size === 0;
    fill(bulkBar, h("b", {}, `${selected.size} selected`),
      Object.entries(bulkActions).map(([k, a]) => h("button", { "data-bulk": k, class: k === "restart" ? "" : "danger", onclick: () => runBulk(k) }, a.label + "…")),
      h("button", { onclick: () => { selected.clear(); refreshRows(); showBulk(); } }, "Clear selection"));
  }
  async function runBulk(kind) {
    const action = bulkActions[kind];
    const ids = [...selected];
    const ok = await ask({ title: `${action.label} ${ids.length} instance${ids.length === 1 ? "" : "s"}?`,
      text: ids.join(", "), ok: action.label, danger: kind !== "restart" });
    if (!ok) return;
    const outcomes = [];
    for (const id of ids) {
      try {
        await action.run(id);
        outcomes.push({ id, ok: true });
      } catch (e) {
        outcomes.push({ id, ok: false, message: e.message });
      }
    }
    const failed = outcomes.filter((o) => !o.ok).length;
    fill(results, h("div", { class: "panel" },
      h("b", {}, `${action.label}: ${outcomes.length - failed} done, ${failed} failed`),
      h("ul", {}, outcomes.map((o) => h("li", { class: o.ok ? "" : "error", "data-outcome": o.ok ? "ok" : "failed" },
        h("span", { class: "mono" }, o.id), o.ok ? " — done" : " — " + o.message)))));
    selected.clear();
    showBulk();
    await refresh();
  }
  const root = h("section", {},
    h("div", { class: "head" }, h("h1", {}, "Orchestrations"), h("span", { class: "spacer" }), newButton),
    chips,
    results,
    h("div", { class: "filters" },
      field("Instance id starts with", "id", "search", f.id, "e.g. order-"),
      field("Name starts with", "name", "search", f.name, "orchestrator name"),
      field("Created from", "from", "datetime-local", localInput(f.from && toLocal(f.from))),
      field("Created before", "to", "datetime-local", localInput(f.to && toLocal(f.to))),
      (f.status.length || f.id || f.name || f.from || f.to)
        ? h("button", { onclick: () => navigate("/") }, "Clear filters") : null),
    bulkBar,
    h("div", { class: "table-wrap" }, h("table", { id: "instances" },
      h("thead", {}, h("tr", {}, selectAll ? h("th", { class: "pick" }, selectAll) : null,
        ["Instance ID", "Name", "Status", "Created", "Last updated"].map((c) => h("th", {}, c)))),
      tbody)),
    more);

  let token = null;
  let loaded = 0;
  let lastPage = { instances: [] };

  const query = (size, from) => {
    const q = new URLSearchParams();
    for (const s of f.status) q.append("status", s);
    if (f.id) q.set("instanceIdPrefix", f.id);
    if (f.name) q.set("namePrefix", f.name);
    if (f.from) q.set("createdFrom", f.from);
    if (f.to) q.set("createdTo", f.to);
    q.set("pageSize", String(size));
    if (from) q.set("continuationToken", from);
    return "/instances?" + q.toString();
  };

  const pick = (id) => app.readOnly ? null : h("td", { class: "pick" }, h("input", {
    type: "checkbox", "data-select": id, "aria-label": "Select " + id, checked: selected.has(id),
    onchange: (e) => {
      e.target.checked ? selected.add(id) : selected.delete(id);
      showBulk();
    },
  }));
  const row = (i) => h("tr", { "data-id": i.instanceId },
    pick(i.instanceId),
    h("td", { class: "id mono" }, h("a", { href: instanceHref(i.instanceId) }, i.instanceId)),
    h("td", {}, i.name),
    h("td", {}, statusBadge(i.status)),
    h("td", {}, when(i.createdAt)),
    h("td", {}, when(i.lastUpdatedAt)));

  const showMore = () => {
    fill(more,
      token ? h("button", { onclick: loadMore }, "Load more") : null,
      h("span", { class: "muted" }, loaded ? `${loaded} shown` : ""));
  };

  async function loadMore() {
    const page = await api(query(PAGE, token));
    lastPage.instances.push(...page.instances);
    tbody.append(...page.instances.map(row));
    loaded += page.instances.length;
    token = page.continuationToken;
    showMore();
  }

  async function refreshChips() {
    const stats = await api("/stats");
    updateWorkers(stats);
    fill(chips,
      h("button", { class: "chip", "aria-pressed": String(!f.status.length), onclick: () => setFilter({ status: [] }) },
        "All", h("span", { class: "n" }, String(stats.total))),
      ...STATUSES.map((s) => {
        const on = f.status.includes(s);
        return h("button", {
          class: "chip", "data-status": s, "aria-pressed": String(on),
          onclick: () => setFilter({ status: on ? f.status.filter((x) => x !== s) : [...f.status, s] }),
        }, statusBadge(s), h("span", { class: "n" }, String(stats.instances[s] || 0)));
      }));
  }

  function refreshRows() {
    fill(tbody, lastPage.instances.map(row));
  }

  async function refresh() {
    // Re-reads as many instances as are shown (at least a page), so live updates keep the
    // list as long as the person made it.
    const size = Math.min(1000, Math.max(PAGE, loaded));
    const [page] = await Promise.all([api(query(size, null)), refreshChips()]);
    lastPage = page;
    refreshRows();
    if (!page.instances.length) {
      tbody.append(h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No orchestrations match.")));
    }
    loaded = page.instances.length;
    token = page.continuationToken;
    showMore();
  }

  return { root, refresh: () => refresh(), header: true };
}

function toLocal(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return "";
  const off = d.getTimezoneOffset() * 60000;
  return new Date(d - off).toISOString();
}

async function refreshHeader() {
  try {
    updateWorkers(await api("/stats"));
  } catch (_) {
    // The view's own refresh reports a server that does not answer.
  }
}

function updateWorkers(stats) {
  const n = stats.workers;
  document.getElementById("workers").textContent = n === 1 ? "1 worker connected" : `${n} workers connected`;
}

async function startDialog() {
  const values = await ask({
    title: "New orchestration",
    fields: [
      { name: "name", label: "Orchestrator name", required: true },
      { name: "instanceId", label: "Instance id (optional)" },
      { name: "input", label: "Input (JSON, optional)", kind: "json" },
    ],
    ok: "Start",
  });
  if (!values) return;
  try {
    const body = { name: values.name };
    if (values.instanceId) body.instanceId = values.instanceId;
    if (values.input !== null) body.input = values.input;
    const started = await api("/instances", { method: "POST", body });
    toast("Started " + started.instanceId);
    navigate(instanceHref(started.instanceId));
  } catch (e) {
    banner("Could not start: " + e.message);
  }
}

// ---------------------------------------------------------------------------------------------
// One instance.

/** Which actions an instance in `status` offers (the server has the last word). */
function actionsFor(status) {
  const live = !TERMINAL.has(status);
  return {
    raise: live,
    suspend: live && status !== "SUSPENDED",
    resume: status === "SUSPENDED",
    terminate: live,
    restart: !live,
    rewind: status === "FAILED",
    purge: !live,
  };
}

function instanceView(id) {
  const root = h("section", {});
  const q = new URLSearchParams(location.search);
  let historyType = q.get("type") || "";
  let failedOnly = q.get("failed") === "1";
  let showAll = false;
  let current = null;

  const act = async (label, path, body, after) => {
    try {
      await api(path, body === undefined ? { method: "DELETE" } : { method: "POST", body });
      toast(label);
      if (after) after();
      else await refresh({ any: true });
    } catch (e) {
      banner(label + " failed: " + e.message);
    }
  };
  const base = "/instances/" + enc(id);
  const actions = {
    raise: async () => {
      const v = await ask({ title: "Raise an event", fields: [
        { name: "name", label: "Event name", required: true },
        { name: "data", label: "Data (JSON, optional)", kind: "json" }], ok: "Raise event" });
      if (v) await act(`Event '${v.name}' raised`, base + "/raise-event", { name: v.name, data: v.data });
    },
    suspend: async () => {
      const v = await ask({ title: "Suspend " + id, fields: [{ name: "reason", label: "Reason (optional)" }], ok: "Suspend" });
      if (v) await act("Suspend requested", base + "/suspend", { reason: v.reason });
    },
    resume: async () => {
      const v = await ask({ title: "Resume " + id, fields: [{ name: "reason", label: "Reason (optional)" }], ok: "Resume" });
      if (v) await act("Resume requested", base + "/resume", { reason: v.reason });
    },
    terminate: async () => {
      const v = await ask({ title: "Terminate " + id + "?", text: "The orchestration stops; this cannot be undone.",
        fields: [{ name: "reason", label: "Reason (optional)" }, { name: "recursive", label: "Also terminate its sub-orchestrations", kind: "checkbox" }],
        ok: "Terminate", danger: true });
      if (v) await act("Terminate requested", base + "/terminate", { reason: v.reason, recursive: v.recursive });
    },
    restart: async () => {
      const v = await ask({ title: "Restart " + id + "?", text: "Runs it again with the same name, version and input.",
        fields: [{ name: "newInstanceId", label: "Under a new instance id", kind: "checkbox" }], ok: "Restart" });
      if (!v) return;
      try {
        const r = await api(base + "/restart", { method: "POST", body: { newInstanceId: v.newInstanceId } });
        toast("Restarted as " + r.instanceId);
        if (r.instanceId !== id) navigate(instanceHref(r.instanceId));
        else await refresh({ any: true });
      } catch (e) {
        banner("Restart failed: " + e.message);
      }
    },
    rewind: async () => {
      const v = await ask({ title: "Rewind " + id + "?", text: "Its failed tasks run again.", fields: [{ name: "reason", label: "Reason (optional)" }], ok: "Rewind" });
      if (v) await act("Rewind requested", base + "/rewind", { reason: v.reason });
    },
    purge: async () => {
      const v = await ask({ title: "Purge " + id + "?", text: "Deletes the instance and its history.", ok: "Purge", danger: true });
      if (v) await act("Purged " + id, base, undefined, () => navigate(sessionStorage.getItem("dt-list") || "/"));
    },
  };
  const labels = { raise: "Raise event", suspend: "Suspend", resume: "Resume", terminate: "Terminate", restart: "Restart", rewind: "Rewind", purge: "Purge" };

  const fact = (label, value) => (value ? h("div", {}, h("span", {}, label), h("b", {}, value)) : null);

  function failureBlock(failure, depth = 0) {
    if (!failure) return null;
    return h("div", { class: depth ? "" : "panel failure" },
      depth ? h("h2", {}, "Caused by") : h("h2", {}, "Failure"),
      h("p", {}, h("b", {}, failure.errorType), ": ", failure.errorMessage),
      failure.stackTrace ? h("pre", { class: "stack" }, failure.stackTrace) : null,
      failureBlock(failure.innerFailure, depth + 1));
  }

  function historyTable(events) {
    const types = [...new Set(events.map((e) => e.type))].sort();
    const isFailure = (e) => /Failed$|executionTerminated/.test(e.type) || (e.type === "executionCompleted" && e.details.orchestrationStatus === "ORCHESTRATION_STATUS_FAILED");
    const position = new Map(events.map((e, n) => [e, n + 1]));
    const shown = events.filter((e) => (!historyType || e.type === historyType) && (!failedOnly || isFailure(e)));
    const setHistory = (change) => {
      const p = new URLSearchParams(location.search);
      for (const [k, v] of Object.entries(change)) v ? p.set(k, v) : p.delete(k);
      const s = p.toString();
      navigate(location.pathname + (s ? "?" + s : ""));
    };
    // A long history renders its first rows only, until asked for all of them.
    const windowed = showAll ? shown : shown.slice(0, HISTORY_WINDOW);
    const rows = windowed.map((e) => h("tr", { class: isFailure(e) ? "failed-event" : "" },
      h("td", { class: "muted" }, String(position.get(e))),
      h("td", { class: "mono" }, when(e.timestamp)),
      h("td", { class: "event-type" }, e.type),
      h("td", {}, e.eventId >= 0 ? String(e.eventId) : ""),
      h("td", {}, Object.keys(e.details).length
        ? h("details", {}, h("summary", {}, summary(e)), h("pre", {}, JSON.stringify(e.details, null, 2)))
        : "")));
    return h("div", {},
      h("div", { class: "filters" },
        h("label", {}, "Event type", h("select", { name: "type", onchange: (ev) => setHistory({ type: ev.target.value }) },
          h("option", { value: "" }, "All types"),
          types.map((t) => h("option", { value: t, selected: t === historyType }, t)))),
        h("label", { class: "auto" }, h("input", { type: "checkbox", name: "failed", checked: failedOnly, onchange: (ev) => setHistory({ failed: ev.target.checked ? "1" : "" }) }), "Failures only"),
        h("span", { class: "muted" }, `${shown.length} of ${events.length} events`)),
      h("div", { class: "table-wrap" }, h("table", { id: "history" },
        h("thead", {}, h("tr", {}, ["#", "Time", "Type", "Event ID", "Details"].map((c) => h("th", {}, c)))),
        h("tbody", {}, rows))),
      windowed.length < shown.length
        ? h("div", { class: "more" }, h("button", { onclick: () => { showAll = true; refresh({ any: true }); } }, `Show all ${shown.length} events`))
        : null);
  }

  async function refresh(change) {
    if (!change.any && !(change.instanceIds || []).includes(id)) return;
    let instance;
    let events;
    try {
      [instance, { events }] = await Promise.all([api(base), api(base + "/history")]);
    } catch (e) {
      if (e.status === 404) {
        fill(root, h("h1", {}, id), h("p", { class: "error" }, "No orchestration instance with this id (it may have been purged)."),
          h("a", { href: sessionStorage.getItem("dt-list") || "/" }, "← Orchestrations"));
        return;
      }
      throw e;
    }
    current = instance;
    const allowed = actionsFor(instance.status);
    const buttons = app.readOnly ? null : h("div", { class: "actions" },
      Object.keys(labels).map((k) => h("button", {
        "data-action": k, disabled: !allowed[k], class: k === "terminate" || k === "purge" ? "danger" : "",
        onclick: actions[k],
      }, labels[k])));
    const timeline = window.DtTimeline.render(events, Date.now(), instanceHref);
    fill(root,
      h("p", {}, h("a", { href: sessionStorage.getItem("dt-list") || "/" }, "← Orchestrations")),
      h("h1", { class: "mono", id: "instance-id" }, instance.instanceId),
      h("div", { class: "head" }, statusBadge(instance.status), h("b", {}, instance.name), h("span", { class: "spacer" }), buttons),
      h("div", { class: "panel facts" },
        fact("Name", instance.name), fact("Version", instance.version), fact("Execution id", instance.executionId),
        fact("Created", when(instance.createdAt)), fact("Last updated", when(instance.lastUpdatedAt)),
        fact("Completed", when(instance.completedAt)), fact("Scheduled start", when(instance.scheduledStartAt)),
        instance.parentInstanceId ? h("div", {}, h("span", {}, "Parent"), h("a", { href: instanceHref(instance.parentInstanceId), class: "mono" }, instance.parentInstanceId)) : null,
        Object.keys(instance.tags || {}).length ? fact("Tags", Object.entries(instance.tags).map(([k, v]) => `${k}=${v}`).join(", ")) : null),
      failureBlock(instance.failure),
      h("h2", {}, "Payloads"),
      h("div", { class: "payloads" },
        h("div", {}, h("span", { class: "muted" }, "Input"), h("pre", { id: "input" }, pretty(instance.input) || "—")),
        h("div", {}, h("span", { class: "muted" }, "Output"), h("pre", { id: "output" }, pretty(instance.output) || "—")),
        h("div", {}, h("span", { class: "muted" }, "Custom status"), h("pre", { id: "custom-status" }, pretty(instance.customStatus) || "—"))),
      h("h2", {}, "Timeline"),
      timeline ? h("div", { class: "panel timeline" }, timeline,
        h("div", { class: "legend" },
          h("span", {}, h("i", { class: "lg-activity" }), "activity"),
          h("span", {}, h("i", { class: "lg-timer" }), "timer"),
          h("span", {}, h("i", { class: "lg-child" }), "sub-orchestration"),
          h("span", {}, h("i", { class: "lg-failed" }), "failed"),
          h("span", {}, h("i", { class: "lg-point" }), "event"))) : h("p", { class: "muted" }, "Nothing has run yet."),
      h("h2", {}, "History"),
      historyTable(events));
  }

  return { root, refresh };
}

/** One line saying what an event is about. */
function summary(e) {
  const d = e.details;
  const parts = [d.name, d.instanceId, d.fireAt && "fires " + when(d.fireAt), d.taskScheduledId !== undefined && "task " + d.taskScheduledId, d.timerId !== undefined && "timer " + d.timerId];
  if (d.failureDetails) parts.push(d.failureDetails.errorType + ": " + d.failureDetails.errorMessage);
  if (d.result !== undefined) parts.push("→ " + String(d.result).slice(0, 80));
  const s = parts.filter(Boolean).join(" · ");
  return s || "details";
}

// ---------------------------------------------------------------------------------------------
// Entities.

function entitiesView() {
  const q = new URLSearchParams(location.search);
  const prefix = q.get("id") || "";
  const tbody = h("tbody");
  const more = h("div", { class: "more" });
  let token = null;
  const root = h("section", {},
    h("h1", {}, "Entities"),
    h("div", { class: "filters" },
      h("label", {}, "Entity id starts with", h("input", {
        type: "search", name: "id", value: prefix, placeholder: "@counter@",
        onchange: (e) => navigate("/entities" + (e.target.value.trim() ? "?id=" + enc(e.target.value.trim()) : "")),
      }))),
    h("div", { class: "table-wrap" }, h("table", { id: "entities" },
      h("thead", {}, h("tr", {}, ["Entity ID", "Name", "Key", "Last modified", "Backlog", "Locked by", "State"].map((c) => h("th", {}, c)))),
      tbody)),
    more);
  const row = (e) => h("tr", { "data-id": e.entityId },
    h("td", { class: "id mono" }, h("a", { href: entityHref(e.entityId) }, e.entityId)),
    h("td", {}, e.name), h("td", {}, e.key), h("td", {}, when(e.lastModifiedAt)), h("td", {}, String(e.backlog)),
    h("td", { class: "mono" }, e.lockedBy ? h("a", { href: instanceHref(e.lockedBy) }, e.lockedBy) : ""),
    h("td", { class: "clip mono" }, e.state === undefined ? "" : e.state));
  const path = (from) => "/entities?pageSize=100" + (prefix ? "&idPrefix=" + enc(prefix) : "") + (from ? "&continuationToken=" + enc(from) : "");
  const showMore = () => fill(more, token ? h("button", { onclick: loadMore }, "Load more") : null);
  async function loadMore() {
    const page = await api(path(token));
    tbody.append(...page.entities.map(row));
    token = page.continuationToken;
    showMore();
  }
  async function refresh(change) {
    if (!change.any && !(change.entityIds || []).length) return;
    const page = await api(path(null));
    fill(tbody, ...page.entities.map(row));
    if (!page.entities.length) tbody.append(h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No entities with state.")));
    token = page.continuationToken;
    showMore();
  }
  return { root, refresh };
}

function entityView(id) {
  const root = h("section", {});
  async function refresh(change) {
    if (!change.any && !(change.entityIds || []).includes(id)) return;
    let e;
    try {
      e = await api("/entities/" + enc(id));
    } catch (err) {
      if (err.status !== 404) throw err;
      fill(root, h("p", {}, h("a", { href: "/entities" }, "← Entities")), h("h1", { class: "mono" }, id), h("p", { class: "muted" }, "This entity has no state."));
      return;
    }
    const signal = app.readOnly ? null : h("button", {
      class: "primary",
      onclick: async () => {
        const v = await ask({ title: "Signal " + id, fields: [{ name: "operation", label: "Operation", required: true }, { name: "input", label: "Input (JSON, optional)", kind: "json" }], ok: "Signal" });
        if (!v) return;
        try {
          await api("/entities/" + enc(id) + "/signal", { method: "POST", body: { operation: v.operation, input: v.input } });
          toast(`Signalled '${v.operation}'`);
        } catch (err) {
          banner("Signal failed: " + err.message);
        }
      },
    }, "Signal");
    fill(root,
      h("p", {}, h("a", { href: "/entities" }, "← Entities")),
      h("div", { class: "head" }, h("h1", { class: "mono" }, e.entityId), h("span", { class: "spacer" }), signal),
      h("div", { class: "panel facts" },
        h("div", {}, h("span", {}, "Name"), h("b", {}, e.name)), h("div", {}, h("span", {}, "Key"), h("b", {}, e.key)),
        h("div", {}, h("span", {}, "Last modified"), h("b", {}, when(e.lastModifiedAt))),
        h("div", {}, h("span", {}, "Backlog"), h("b", {}, String(e.backlog))),
        e.lockedBy ? h("div", {}, h("span", {}, "Locked by"), h("a", { href: instanceHref(e.lockedBy) }, e.lockedBy)) : null),
      h("h2", {}, "State"),
      h("pre", { class: "panel", id: "entity-state" }, pretty(e.state) || "—"));
  }
  return { root, refresh };
}

// ---------------------------------------------------------------------------------------------
// Live updates: server-sent events, with polling while the stream is down.

let pending = null;
let running = false;

function onChange(change) {
  if (!app.auto || document.hidden || !app.view) return;
  pending = pending ? { any: pending.any || change.any,
    instanceIds: [...(pending.instanceIds || []), ...(change.instanceIds || [])],
    entityIds: [...(pending.entityIds || []), ...(change.entityIds || [])] } : change;
  drain();
}

async function drain() {
  if (running || !pending) return;
  running = true;
  const change = pending;
  pending = null;
  const view = app.view;
  try {
    await view.refresh(change);
    if (change.any && !view.header) await refreshHeader();
    if (document.getElementById("banner").dataset.kind === "refresh") banner("");
  } catch (e) {
    if (e.status === 401) return; // needToken() has said what to do
    banner("Could not refresh: " + e.message);
    document.getElementById("banner").dataset.kind = "refresh";
  } finally {
    running = false;
    // Coalesce bursts: at most a few refreshes a second.
    setTimeout(drain, 300);
  }
}

// The live feed is read with fetch rather than EventSource, which cannot send the token header.
function connect() {
  disconnect();
  if (!app.auto) return;
  const controller = new AbortController();
  app.source = controller;
  follow(controller.signal);
}

/** Reads the feed until aborted; while it is down, polls and retries every few seconds. */
async function follow(signal) {
  const dot = document.getElementById("live-dot");
  while (!signal.aborted) {
    try {
      const response = await fetch("/api/v1/events", {
        headers: { accept: "text/event-stream", ...authHeaders() }, cache: "no-store", signal });
      if (response.status === 401) needToken();
      if (response.ok && response.body) {
        dot.classList.add("on");
        clearInterval(app.poller);
        app.poller = null;
        onChange({ any: true });
        await readEvents(response.body, signal);
      }
    } catch (_) {
      // A dropped connection, or the abort: decided below.
    }
    if (signal.aborted) return;
    dot.classList.remove("on");
    // Meanwhile poll, so the view stays current.
    if (!app.poller) app.poller = setInterval(() => onChange({ any: true }), 5000);
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, 3000);
      signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
    });
  }
}

/** Parses a server-sent event stream (`event:` and `data:` lines, a blank line ends each). */
async function readEvents(body, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  signal.addEventListener("abort", () => reader.cancel().catch(() => {}), { once: true });
  let buffer = "";
  let event = "message";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).replace(/\r$/, "");
      buffer = buffer.slice(nl + 1);
      if (line === "") {
        if (event === "change" && data.length) {
          try {
            onChange(JSON.parse(data.join("\n")));
          } catch (_) {
            onChange({ any: true });
          }
        }
        event = "message";
        data = [];
      } else if (!line.startsWith(":")) {
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event = value;
        else if (field === "data") data.push(value);
      }
    }
  }
}

function disconnect() {
  if (app.source) app.source.abort();
  app.source = null;
  clearInterval(app.poller);
  app.poller = null;
  document.getElementById("live-dot").classList.remove("on");
}

async function main() {
  if ("scrollRestoration" in history) history.scrollRestoration = "manual";
  const auto = document.getElementById("auto-refresh");
  auto.checked = app.auto;
  auto.addEventListener("change", () => {
    app.auto = auto.checked;
    localStorage.setItem("dt-auto", app.auto ? "on" : "off");
    app.auto ? connect() : disconnect();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) onChange({ any: true });
  });
  setupToken();
  await load();
}

/** Loads the server's settings and the view, and follows the live feed (again after a new token). */
async function load() {
  try {
    const info = await api("/info");
    app.readOnly = info.readOnly;
    document.body.classList.toggle("read-only", info.readOnly);
  } catch (e) {
    if (e.status !== 401) banner("The server does not answer: " + e.message);
  }
  try {
    await render();
  } catch (e) {
    if (e.status !== 401) banner("Could not load: " + e.message);
  }
  connect();
}

main();
