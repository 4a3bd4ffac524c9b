// Rollgate approvals page: the pending list refreshes every two seconds; a ticket opens a detail
// view with everything needed to decide. Talks only to this gateway's /api (no external scripts).
"use strict";
const state = { token: sessionStorage.getItem("rollgate-approver-token") || "", selected: null };
const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { "Authorization": "Bearer " + state.token, "Content-Type": "application/json" },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function text(element, value) { element.textContent = value == null || value === "" ? "—" : String(value); }

function item(ticket) {
  const li = document.createElement("li");
  li.dataset.id = ticket.id;
  if (ticket.id === state.selected) li.classList.add("selected");
  const tool = document.createElement("div");
  tool.className = "tool";
  tool.textContent = ticket.tool;
  for (const label of [ticket.reversibility, ticket.impact]) {
    if (!label) continue;
    const badge = document.createElement("span");
    badge.className = "badge " + label;
    badge.textContent = label;
    tool.appendChild(badge);
  }
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = `${ticket.agent} · ${ticket.workflow} · ${ticket.state}` +
    (ticket.awaiting.length ? " · needs " + ticket.awaiting.join("; ") : "");
  li.append(tool, meta);
  li.addEventListener("click", () => open(ticket.id));
  return li;
}

async function refresh() {
  if (!state.token) { text($("status"), "Paste your approver token to see the queue."); return; }
  try {
    const all = (await api("/api/approvals")).approvals;
    const pending = all.filter((t) => t.state === "pending");
    $("pending").replaceChildren(...pending.map(item));
    $("recent").replaceChildren(...all.filter((t) => t.state !== "pending").slice(0, 15).map(item));
    $("count").textContent = pending.length;
    $("status").textContent = pending.length ? "" : "Nothing waits for you.";
    if (state.selected) await open(state.selected, true);
  } catch (error) {
    $("status").textContent = "Cannot load approvals: " + error.message;
  }
}

function list(element, values) {
  element.replaceChildren(...(values.length ? values : ["—"]).map((value) => {
    const li = document.createElement("li");
    li.textContent = value;
    return li;
  }));
}

async function open(id, quiet = false) {
  state.selected = id;
  const t = await api("/api/approvals/" + encodeURIComponent(id));
  $("detail").hidden = false;
  text($("d-title"), `${t.tool} — ${t.id}`);
  text($("d-agent"), t.agent);
  text($("d-workflow"), t.workflow + (t.step ? ` (step ${t.step})` : ""));
  text($("d-tool"), t.tool);
  text($("d-rev"), t.reversibility);
  text($("d-impact"), t.impact);
  text($("d-state"), t.state + (t.denial_reason ? `: ${t.denial_reason}` : "") + (t.error ? `: ${t.error}` : ""));
  text($("d-awaiting"), t.awaiting.join("; "));
  text($("d-expires"), t.expires_at);
  list($("d-reasons"), t.reasons);
  list($("d-effects"), t.side_effects);
  $("d-args").textContent = JSON.stringify(t.arguments, null, 2);
  $("d-comp").textContent = t.compensation ? JSON.stringify(t.compensation, null, 2) : "none declared";
  $("d-snapshot").textContent = t.snapshot == null ? "no snapshot" : JSON.stringify(t.snapshot, null, 2);
  list($("d-approvals"), t.approvals.map((a) => `${a.approver} (${a.roles.join(", ")})${a.comment ? ": " + a.comment : ""}`));
  list($("d-timeline"), t.timeline);
  const open = t.state === "pending";
  $("approve").disabled = !open;
  $("deny").disabled = !open;
  if (!quiet) $("d-message").textContent = "";
  document.querySelectorAll(".tickets li").forEach((li) => li.classList.toggle("selected", li.dataset.id === id));
}

async function decide(action) {
  const comment = $("comment").value.trim();
  const body = action === "approve" ? { comment } : { reason: comment };
  try {
    const t = await api(`/api/approvals/${encodeURIComponent(state.selected)}/${action}`, {
      method: "POST", body: JSON.stringify(body),
    });
    $("d-message").className = "status";
    $("d-message").textContent = action === "approve"
      ? (t.state === "approved" ? "Approved: the call runs now." : "Approval recorded; " + t.awaiting.join("; "))
      : "Denied.";
    $("comment").value = "";
    await refresh();
  } catch (error) {
    $("d-message").className = "status error";
    $("d-message").textContent = error.message;
  }
}

async function showWorkflow(id) {
  const w = await api("/api/workflows/" + encodeURIComponent(id));
  $("workflow").hidden = false;
  $("w-status").textContent = `${w.workflow}: ${w.status}` + (w.reason ? ` (${w.reason})` : "");
  list($("w-steps"), w.steps.map((s) => `step ${s.step} ${s.tool} — ${s.status}` +
    (s.compensation ? `, undo: ${s.compensation}` : s.reversibility === "irreversible" ? ", cannot be undone" : "")));
}

async function workflowAction(path, body) {
  const id = $("workflow-id").value.trim();
  try {
    const answer = await api(`/api/workflows/${encodeURIComponent(id)}/${path}`, {
      method: "POST", body: JSON.stringify(body),
    });
    $("w-result").textContent = JSON.stringify(answer, null, 2);
    await showWorkflow(id);
  } catch (error) {
    $("w-result").textContent = "Failed: " + error.message;
  }
}

$("workflow-form").addEventListener("submit", (event) => {
  event.preventDefault();
  showWorkflow($("workflow-id").value.trim()).catch((error) => { $("w-result").textContent = error.message; });
});
$("w-plan").addEventListener("click", () => workflowAction("rollback", { dry_run: true }));
$("w-rollback").addEventListener("click", () => {
  if (confirm("Undo every step of this workflow that can be undone?")) workflowAction("rollback", {});
});
$("w-quarantine").addEventListener("click", () => {
  const reason = prompt("Why quarantine this workflow?");
  if (reason) workflowAction("quarantine", { reason });
});
$("w-release").addEventListener("click", () => workflowAction("release", {}));

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  state.token = $("token").value.trim();
  sessionStorage.setItem("rollgate-approver-token", state.token);
  $("token").value = "";
  refresh();
});
$("approve").addEventListener("click", () => decide("approve"));
$("deny").addEventListener("click", () => decide("deny"));
if (location.hash.length > 1) state.selected = location.hash.slice(1);
refresh();
setInterval(refresh, 2000);
