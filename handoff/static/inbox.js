// Agent inbox: renders the queue and one conversation, keeps both live through server-sent events.
"use strict";
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const me = { id: Number(document.body.dataset.agentId), role: document.body.dataset.role };
let current = null; // ticket id on screen
let view = null;

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, text = "") => Object.assign(document.createElement(tag), props, text ? { textContent: text } : {});

async function api(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body),
  };
  const resp = await fetch(path, { credentials: "same-origin", ...opts });
  if (resp.status === 401) { location.href = "/login"; throw new Error("signed out"); }
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(data.error || resp.statusText);
  return data;
}

function waited(s) { return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m` : `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`; }

function renderList(id, items) {
  const ul = $(id); if (!ul) return;
  ul.replaceChildren(...items.map((t) => {
    const li = el("li", { className: t.id === current ? "active" : "" });
    li.dataset.ticket = t.id;
    li.append(el("b", {}, `#${t.id} ${t.investor}`), el("small", {}, `${t.reason.replaceAll("_", " ")} · ${t.status} · waiting ${waited(t.wait_seconds)}${t.assigned_agent ? " · " + t.assigned_agent : ""}`), el("small", {}, t.preview));
    li.onclick = () => openTicket(t.id);
    return li;
  }));
}

async function refreshLists() {
  const data = await api("/api/tickets");
  $("queue-count").textContent = data.queue.length;
  renderList("queue", data.queue); renderList("mine", data.mine); renderList("others", data.others);
}

function renderMessage(m) {
  const li = el("li", { className: m.kind });
  li.dataset.messageId = m.id;
  const body = m.media_type ? `[${m.media_type}] ${m.text || ""}` : (m.text || "");
  li.append(document.createTextNode(body));
  const meta = [m.kind === "agent" ? (m.agent || "agent") : m.kind, new Date(m.at).toLocaleTimeString()];
  if (m.intent) meta.push(`intent ${m.intent} (${m.confidence == null ? "?" : Number(m.confidence).toFixed(2)})`);
  if (m.delivery) meta.push(m.delivery);
  li.append(el("span", { className: "meta" }, meta.join(" · ")));
  return li;
}

function renderView() {
  const t = view.ticket;
  $("conversation").hidden = false;
  $("t-title").textContent = `Ticket #${t.id} · ${t.investor}`;
  $("t-meta").textContent = `Reason: ${t.reason.replaceAll("_", " ")} · status ${t.status} · waited ${waited(t.wait_seconds)} · ${t.assigned_agent ? "with " + t.assigned_agent : "unassigned"} · channel ${view.channel || "?"}`;
  $("t-identity").textContent = "Identity: " + Object.entries(view.identity).map(([k, v]) => `${k} ${v}`).join(", ");
  const w = view.window;
  $("t-window").textContent = w.open ? `24-hour window open, ${Math.floor(w.seconds_left / 3600)}h ${Math.floor((w.seconds_left % 3600) / 60)}m left` : "24-hour window closed: only the approved template can be sent";
  $("t-window").className = w.open ? "" : "window-closed";
  $("send-template").hidden = w.open; $("send-template").textContent = `Send approved template (${view.template})`;
  $("send").disabled = !w.open;
  const mine = t.assigned_agent_id === me.id;
  $("claim").hidden = mine || t.status === "resolved";
  $("close").disabled = !(mine || me.role === "supervisor") || t.status === "resolved";
  $("t-status").value = t.status === "pending" ? "pending" : "open";
  $("transcript").replaceChildren(...view.messages.map(renderMessage));
  $("notes").replaceChildren(...view.notes.map((n) => el("li", {}, `${n.agent}: ${n.body}`)));
  $("transcript").lastElementChild?.scrollIntoView({ block: "end" });
}

async function openTicket(id) {
  current = id;
  view = await api(`/api/tickets/${id}`);
  renderView();
  refreshLists();
  if ($("reassign")) {
    const agents = await api("/api/agents");
    $("reassign").replaceChildren(el("option", { value: "" }, "Reassign to…"), ...agents.map((a) => el("option", { value: a.id }, `${a.name} (${a.load}/${a.capacity})`)));
  }
}

async function act(fn) {
  $("reply-error").textContent = "";
  try { await fn(); } catch (e) { $("reply-error").textContent = e.message; }
  if (current) await openTicket(current);
}

$("claim").onclick = () => act(() => api(`/api/tickets/${current}/claim`, {}));
$("close").onclick = () => act(() => api(`/api/tickets/${current}/close`, {}));
$("t-status").onchange = (e) => act(() => api(`/api/tickets/${current}/status`, { status: e.target.value }));
if ($("reassign")) $("reassign").onchange = (e) => e.target.value && act(() => api(`/api/tickets/${current}/assign`, { agent_id: Number(e.target.value) }));
$("reply-form").onsubmit = (e) => {
  e.preventDefault();
  const text = $("reply").value.trim(); if (!text) return;
  $("reply").value = "";
  act(() => api(`/api/tickets/${current}/reply`, { text }));
};
$("send-template").onclick = () => act(() => api(`/api/tickets/${current}/reply`, { template: true }));
$("note-form").onsubmit = (e) => {
  e.preventDefault();
  const body = $("note").value.trim(); if (!body) return;
  $("note").value = "";
  act(() => api(`/api/tickets/${current}/notes`, { body }));
};
$("canned").onchange = (e) => { if (e.target.value) { $("reply").value = e.target.value; e.target.value = ""; } };
$("available").onchange = (e) => api("/api/me/availability", { available: e.target.checked }).then(refreshLists);
$("logout").onclick = () => api("/logout", {}).finally(() => { location.href = "/login"; });

api("/api/canned").then((rows) => $("canned").append(...rows.map((c) => el("option", { value: c.body }, c.title))));

function connect() {
  const es = new EventSource("/events");
  es.addEventListener("hello", () => { $("live").classList.add("on"); refreshLists(); });
  es.addEventListener("message", (e) => {
    const m = JSON.parse(e.data);
    const existing = document.querySelector(`#transcript li[data-message-id="${m.id}"]`);
    if (current && (m.ticket_id === current || existing)) {
      const li = renderMessage({ ...m, agent: m.kind === "agent" ? "agent" : null });
      if (existing) existing.replaceWith(li); else { $("transcript").append(li); li.scrollIntoView({ block: "end" }); }
    }
    refreshLists();
  });
  es.addEventListener("ticket", (e) => {
    const d = JSON.parse(e.data);
    refreshLists();
    if (d.ticket_id === current) openTicket(current);
  });
  es.addEventListener("changed", () => refreshLists()); // a ticket this agent may not read left the queue
  es.addEventListener("reload", () => location.reload());
  es.onerror = () => $("live").classList.remove("on");
}
connect();
refreshLists();
setInterval(refreshLists, 30000); // wait times keep counting
