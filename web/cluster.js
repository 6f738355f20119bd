// The live cluster view: a snapshot per server-sent event from
// /cluster/events, drawn with textContent only.
"use strict";

const $ = (id) => document.getElementById(id);

function cell(row, text, cls) {
  const td = document.createElement("td");
  if (cls) {
    const badge = document.createElement("span");
    badge.className = cls;
    badge.textContent = text;
    td.appendChild(badge);
  } else {
    td.textContent = text;
  }
  row.appendChild(td);
}

function draw(snap) {
  $("me").textContent = "as seen by " + snap.me.slice(-8);
  const body = $("servers");
  body.replaceChildren();
  for (const s of snap.servers) {
    const row = document.createElement("tr");
    row.dataset.server = s.id;
    row.dataset.state = s.state;
    cell(row, s.short + (s.me ? " (this one)" : ""));
    const state = s.state === "restarted" && s.replaced_by ? "restarted as " + s.replaced_by : s.state;
    cell(row, state, "state state-" + s.state);
    cell(row, s.addr);
    cell(row, s.web || "—");
    const live = s.state === "alive" || s.state === "suspect";
    cell(row, live ? String(s.clients) : "—");
    cell(row, live ? String(s.rooms) : "—");
    cell(row, s.state === "alive" || s.state === "suspect" ? s.last_heard_ms + " ms" : "—");
    body.appendChild(row);
  }
  $("rooms").textContent = snap.rooms.length
    ? snap.rooms.map((r) => r.room + " " + r.members + (r.topic ? " — " + r.topic : "")).join(", ")
    : "no rooms";
  const relay = $("relay");
  relay.replaceChildren();
  for (const [name, value] of Object.entries(snap.relay)) {
    const box = document.createElement("span");
    box.className = "counter";
    box.textContent = name.replace(/_/g, " ") + ": " + value;
    relay.appendChild(box);
  }
  const timeline = $("timeline");
  timeline.replaceChildren();
  for (const c of snap.timeline.slice().reverse()) {
    const item = document.createElement("li");
    item.textContent = new Date(c.at).toTimeString().slice(0, 8) + "  " + c.server + " (" + c.addr + ") " + c.change;
    timeline.appendChild(item);
  }
}

const events = new EventSource("/cluster/events");
events.onmessage = (event) => {
  $("banner").hidden = true;
  draw(JSON.parse(event.data));
};
events.onerror = () => {
  $("banner").textContent = "This server is not answering; retrying…";
  $("banner").hidden = false;
};
