// The browser client: the protocol of PROTOCOL.md (version 2) over a
// WebSocket (connection.js). It fails over like the terminal client: it
// learns every live server's web address from `welcome.web` and
// `servers.web`, and when its server goes away it reconnects to another
// (failover.js), rejoins under the name it holds, in its rooms, with
// `last_seen` per origin, drops what it saw already, and sends again every
// line not yet known to be safe (outbox.js). This file holds the page's
// state and what it does with each frame from the server; what the user
// types is commands.js's.
"use strict";

const view = new View();
const outbox = new Outbox();
// Where failovers start among the survivors: drawn once per page.
const failover = new Failover(Math.floor(Math.random() * 2 ** 31));

const state = {
  name: "",
  joined: false, // holds a name on the current connection
  everJoined: false, // rejoin instead of join from now on
  ws: null,
  host: location.host, // the web address (ip:port) of the current server
  web: [], // every live server's web address, from the server
  lastSeen: new Map(), // origin hex -> newest seq of message/history
  shown: new Set(), // "origin#seq" of every line on screen
  lines: new SeenLines(), // (from, cid) of the lines shown lately (12.5)
  rooms: new Set(), // rooms we are in
  quietWho: new Set(), // rooms (lower case) whose next who_reply fills the sidebar only
  held: null, // our own message frame, waiting for its ack (12.5)
  keepaliveMs: 15000,
  lastHeard: 0,
  leaving: false,
  notify: false,
  rejoinedAt: 0, // when the last failover's rejoin was welcomed (0: not lately)
};

// Losing our name this soon after a rejoin is most likely our own old
// membership, relayed by the lost server just before it died and read by
// the new one after our rejoin (PROTOCOL.md 11): fail over again instead.
const GHOST_MS = 5000;
window.chatty = { state, view, outbox, failover, Wire, SeenLines, Failover }; // for people debugging, and the tests

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const idKey = (id) => hex(id.origin) + "#" + id.seq;

function lastSeenList() {
  const list = [];
  for (const [origin, seq] of state.lastSeen) {
    const bytes = new Uint8Array(origin.match(/../g).map((h) => parseInt(h, 16)));
    list.push({ origin: bytes, seq });
  }
  return list;
}

function see(id) {
  if (!id || !id.seq) return;
  const o = hex(id.origin);
  if ((state.lastSeen.get(o) || 0) < id.seq) state.lastSeen.set(o, id.seq);
}

/// Whether a message with this id was already received (12.3).
function seenBefore(id) {
  if (!id || !id.seq) return false;
  return (state.lastSeen.get(hex(id.origin)) || 0) >= id.seq || state.shown.has(idKey(id));
}

function mentions(text) {
  if (!state.name) return false;
  const escaped = state.name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp("(^|[^\\p{L}\\p{N}_])" + escaped + "($|[^\\p{L}\\p{N}_])", "iu").test(text);
}

function notify(title, body) {
  if (!state.notify || !document.hidden) return;
  try {
    new Notification(title, { body });
  } catch (err) {
    /* not allowed here */
  }
}

function showMessage(msg, kind) {
  const key = idKey(msg.id);
  if (msg.id.seq) state.shown.add(key);
  state.lines.add(msg.from, msg.cid);
  const own = msg.from === state.name;
  const mention = !own && mentions(msg.text);
  view.line(msg.room, {
    id: key,
    from: msg.from,
    text: msg.text,
    kind: msg.action ? "action" : kind,
    mention,
  });
  if (mention && kind !== "history") notify(msg.from + " in " + msg.room, msg.text);
}

function showPrivate(msg) {
  const key = idKey(msg.id);
  state.shown.add(key);
  state.lines.add(msg.from, msg.cid);
  const other = msg.from === state.name ? msg.to : msg.from;
  view.line("@" + other, { id: key, from: msg.from, text: msg.text, kind: msg.action ? "action" : "msg" });
  if (msg.from !== state.name) notify("Private message from " + msg.from, msg.text);
}

/// Our own echo waits for the frame after it: its ack tells whether a
/// resent line is on screen already (12.5).
function flushHeld() {
  const held = state.held;
  state.held = null;
  if (!held) return;
  if (held.type === "private") showPrivate(held);
  else showMessage(held, "msg");
}

function receive(msg) {
  if (state.held && msg.type !== "ack") flushHeld();
  outbox.heard(Date.now());
  switch (msg.type) {
    case "hello":
      state.keepaliveMs = msg.keepalive_ms || 15000;
      outbox.setRate(msg.rate);
      if (state.everJoined) {
        send({ type: "rejoin", name: state.name, last_seen: lastSeenList(), rooms: [...state.rooms].filter((r) => r !== "#lobby") });
      } else {
        send({ type: "join", name: state.name });
      }
      break;
    case "welcome":
      onWelcome(msg);
      break;
    case "servers":
      state.web = msg.web || [];
      break;
    case "room_state":
      onRoomState(msg);
      break;
    case "room_count": {
      // A large room's live count, at most about once a second (17.11).
      const conv = view.convs.get(msg.room);
      if (conv && conv.count != null) {
        conv.count = msg.count;
        if (msg.room === view.active) view.renderMembers();
      }
      break;
    }
    case "joined":
      view.conv(msg.room).members.set(msg.name, msg.server);
      if (msg.name !== state.name || msg.id.seq) view.line(msg.room, { text: msg.name + " joined", kind: "event" });
      if (msg.room === view.active) view.renderMembers();
      break;
    case "left":
      onLeft(msg);
      break;
    case "message":
    case "history":
      // A message at or below what we saw of its origin is a repeat (12.3);
      // history is older than that by nature and is shown unless on screen.
      // A line its sender resent after a failover, numbered anew by a
      // server that never had it, is known by its (from, cid) (12.5).
      if ((msg.type === "message" ? seenBefore(msg.id) : state.shown.has(idKey(msg.id))) || state.lines.has(msg.from, msg.cid)) {
        see(msg.id);
        break;
      }
      see(msg.id);
      if (msg.type === "message" && msg.from === state.name) state.held = msg;
      else showMessage(msg, msg.type === "history" ? "history" : "msg");
      break;
    case "private":
      // Private lines are resent and numbered anew like room lines (12.5).
      if (state.shown.has(idKey(msg.id)) || state.lines.has(msg.from, msg.cid)) break;
      if (msg.from === state.name) state.held = msg;
      else showPrivate(msg);
      break;
    case "ack":
      onAck(msg);
      break;
    case "nick":
      onNick(msg);
      break;
    case "topic":
      view.setTopic(msg.room, msg.text);
      view.line(msg.room, { text: msg.text ? "topic: " + msg.text + " (set by " + msg.by + ")" : "topic cleared by " + msg.by, kind: "event" });
      break;
    case "error":
      onError(msg);
      break;
    case "notice":
      view.line(view.active || "#lobby", { text: msg.text, kind: "event" });
      break;
    case "shutdown":
      state.web = (msg.servers && state.web.filter((w) => w !== state.host)) || [];
      view.banner("The server is shutting down; moving to another…");
      break;
    case "ping":
      send({ type: "pong", nonce: msg.nonce });
      break;
    case "who_reply":
      onWhoReply(msg);
      break;
    case "rooms_reply":
      view.line(view.active || "#lobby", { text: "rooms: " + msg.rooms.map((r) => r.room + " (" + r.members + ")").join(", "), kind: "event" });
      break;
    default:
      break;
  }
  pump();
}

function onWelcome(msg) {
  const first = !state.everJoined;
  state.name = msg.name;
  view.myName = msg.name;
  state.joined = true;
  state.everJoined = true;
  state.joinedAt = Date.now();
  state.rejoinedAt = first ? 0 : state.joinedAt;
  failover.reset();
  state.web = msg.web && msg.web.length ? msg.web : [state.host];
  if (first) for (const id of msg.seen || []) see(id); // the watermark, once (12.3)
  const lobby = view.conv("#lobby");
  lobby.members = new Map(msg.members.map((m) => [m.name, m.server]));
  state.rooms.add("#lobby");
  for (const room of msg.rooms || []) onRoomState(room);
  $("me-name").textContent = msg.name;
  $("me-server").textContent = "on " + state.host;
  view.banner("");
  if (first) {
    $("login").hidden = true;
    $("chat").hidden = false;
    view.show("#lobby");
    $("say").focus();
  } else {
    view.line(view.active || "#lobby", { text: "reconnected via " + state.host, kind: "event" });
    outbox.resendAll();
  }
}

function onRoomState(msg) {
  const conv = view.conv(msg.room);
  const pending = state.pendingShow && state.pendingShow.toLowerCase() === msg.room.toLowerCase();
  // Unasked, for a room we are in: it became large, or small again.
  if (state.rooms.has(msg.room) && !pending && state.joined && (conv.count != null) !== (msg.count != null)) {
    const text = msg.count != null
      ? "now has " + msg.count + " members: joins and leaves are no longer shown (/who lists them)"
      : "has " + msg.members.length + " members again: joins and leaves are shown again";
    view.line(msg.room, { text: msg.room + " " + text, kind: "event" });
  }
  state.rooms.add(msg.room);
  conv.count = msg.count != null ? msg.count : null;
  conv.members = new Map(msg.members.map((m) => [m.name, m.server]));
  // A large room lists nobody: the sidebar shows its first page.
  if (conv.count != null) {
    state.quietWho.add(msg.room.toLowerCase());
    send({ type: "who", room: msg.room });
  }
  view.setTopic(msg.room, msg.topic ? msg.topic.text : "");
  if (msg.room === view.active) view.renderMembers();
  // A room we asked to enter is shown once its state arrives.
  if (state.pendingShow && state.pendingShow.toLowerCase() === msg.room.toLowerCase()) {
    state.pendingShow = null;
    view.show(msg.room);
  }
}

/// A page of members: asked by the page itself for a large room's sidebar
/// (not shown as a line), or by /who.
function onWhoReply(msg) {
  const conv = view.conv(msg.room);
  const quiet = state.quietWho.delete(msg.room.toLowerCase());
  if (conv.count != null) {
    for (const m of msg.members) conv.members.set(m.name, m.server);
    if (msg.room === view.active) view.renderMembers();
  }
  if (quiet) return;
  let text = msg.room + ": " + msg.members.map((m) => m.name).join(", ");
  if (msg.count != null) text += " (" + msg.members.length + " of " + msg.count + " shown" + (msg.next ? "; /who " + msg.room + " " + msg.next + " for more)" : ")");
  view.line(view.active || msg.room, { text, kind: "event" });
}

function onLeft(msg) {
  const conv = view.conv(msg.room);
  conv.members.delete(msg.name);
  if (msg.name === state.name && msg.reason === "leave") {
    state.rooms.delete(msg.room);
    view.drop(msg.room);
    view.show(state.rooms.has("#lobby") ? "#lobby" : [...state.rooms][0] || "#lobby");
    return;
  }
  const why = msg.reason && msg.reason !== "leave" ? " (" + String(msg.reason).replace(/_/g, " ") + ")" : "";
  view.line(msg.room, { text: msg.name + " left" + why, kind: "event" });
  if (msg.room === view.active) view.renderMembers();
}

function onAck(msg) {
  const entry = outbox.acked(msg.cid, Date.now());
  const held = state.held;
  state.held = null;
  if (held && idKey(held.id) === idKey(msg.id)) {
    if (!(entry && entry.shown)) {
      if (held.type === "private") showPrivate(held);
      else showMessage(held, "msg");
    }
  } else {
    if (held) (held.type === "private" ? showPrivate : (h) => showMessage(h, "msg"))(held);
    // The old server died before our echo: the ack alone shows the line.
    if (entry && !entry.shown && !state.shown.has(idKey(msg.id))) {
      see(msg.id);
      const line = { id: msg.id, from: state.name, text: entry.text, action: entry.action, cid: entry.cid };
      if (entry.kind === "private") showPrivate(Object.assign({ type: "private", to: entry.to }, line));
      else showMessage(Object.assign({ room: entry.room }, line), "msg");
    }
  }
  if (entry) entry.shown = true;
}

function onNick(msg) {
  if (msg.old === state.name) {
    state.rejoinedAt = 0; // a 211 from now on is about this change, not our past
    state.name = msg.new;
    view.myName = msg.new;
    $("me-name").textContent = msg.new;
  }
  for (const conv of view.convs.values()) {
    if (conv.members.has(msg.old)) {
      conv.members.delete(msg.old);
      conv.members.set(msg.new, msg.server);
      view.line(conv.key, { text: msg.old + " is now " + msg.new, kind: "event" });
    }
  }
  view.renderMembers();
}

function onError(msg) {
  if (msg.cid !== undefined) {
    const entry = outbox.refused(msg.cid, msg.code, Date.now());
    if (entry && msg.code === 230) return; // sent again shortly
  }
  const ghost = state.joined && msg.code === 211 && msg.cid === undefined && state.rejoinedAt &&
    Date.now() - state.rejoinedAt < GHOST_MS;
  // Or, answering our rejoin: this server still counts our old membership,
  // until it declares the lost server dead; another may have done so
  // already (failover.js).
  if (ghost || (!state.joined && msg.code === 211 && state.everJoined)) {
    state.rejoinedAt = 0;
    state.joined = false;
    const ws = state.ws;
    state.ws = null;
    if (ws) ws.close();
    failover.begin(state.host, Date.now());
    moveOn(true);
    return;
  }
  if (!state.everJoined) {
    $("login-error").textContent = msg.text;
    state.leaving = true;
    if (state.ws) state.ws.close();
    return;
  }
  view.line(view.active || "#lobby", { text: "error: " + msg.text, kind: "error" });
}

