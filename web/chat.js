// The browser client: the protocol of PROTOCOL.md (version 2) over a
// WebSocket, one MessagePack frame per binary message. It fails over like
// the terminal client: it learns every live server's web address from
// `welcome.web` and `servers.web`, and when its server goes away it
// reconnects to another, rejoins under the name it holds, in its rooms,
// with `last_seen` per origin, drops what it saw already, and sends again
// every line not yet known to be safe (outbox.js).
"use strict";

const AGENT = "chatty-web/0.1";
const RETRY_TAKEN_MS = 150; // 211 on rejoin: the old server not yet declared dead
const GIVE_UP_MS = 60000;

const view = new View();
const outbox = new Outbox();

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
  lostAt: 0,
  attempt: 0,
  turn: Math.floor(Math.random() * 2 ** 31), // where failovers start among the survivors
  leaving: false,
  notify: false,
};
window.chatty = { state, view, outbox, Wire, SeenLines }; // for people debugging, and the tests

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const idKey = (id) => hex(id.origin) + "#" + id.seq;

function send(msg) {
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return false;
  state.ws.send(Wire.encode(msg));
  return true;
}

function wsUrl(host) {
  return (location.protocol === "https:" ? "wss://" : "ws://") + host + "/ws";
}

function connect(host) {
  state.host = host;
  state.joined = false;
  let ws;
  try {
    ws = new WebSocket(wsUrl(host));
  } catch (err) {
    setTimeout(lost, 0);
    return;
  }
  ws.binaryType = "arraybuffer";
  state.ws = ws;
  ws.onopen = () => {
    state.lastHeard = Date.now();
    send({ type: "hello", version: 2, agent: AGENT, features: ["ack"] });
  };
  ws.onmessage = (event) => {
    if (ws !== state.ws) return;
    let msg;
    try {
      msg = Wire.decode(new Uint8Array(event.data));
    } catch (err) {
      return; // a server never sends this; not worth ending the chat over
    }
    state.lastHeard = Date.now();
    receive(msg);
  };
  ws.onclose = () => {
    if (ws === state.ws) lost();
  };
}

/// The connection is gone: unless we left, try the servers we know.
function lost() {
  state.ws = null;
  state.joined = false;
  flushHeld();
  if (state.leaving) return;
  if (!state.everJoined) {
    $("login-error").textContent = "cannot reach the server at " + state.host;
    return;
  }
  if (!state.lostAt) state.lostAt = Date.now();
  if (Date.now() - state.lostAt > GIVE_UP_MS) {
    view.banner("No server can be reached. Reload the page to try again.");
    return;
  }
  const lostHost = state.host;
  // Every page of a dead server hears the same list: each starts its round
  // at a survivor of its own (state.turn), as the terminal client does
  // (src/client/survivors.rs), so they do not all land on one.
  const others = state.web.filter((w) => w !== lostHost);
  const turn = others.length ? state.turn % others.length : 0;
  const spread = others.slice(turn).concat(others.slice(0, turn));
  const candidates = spread.concat([lostHost]);
  const next = candidates[state.attempt % candidates.length];
  const delay = Math.min(2000, 100 * 2 ** Math.floor(state.attempt / candidates.length)) * (0.5 + Math.random() / 2);
  state.attempt++;
  view.banner("Lost the connection to " + lostHost + "; reconnecting via " + next + "…");
  setTimeout(() => connect(next), state.attempt === 1 ? 0 : delay);
}

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
      if (state.shown.has(idKey(msg.id))) break;
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
  state.lostAt = 0;
  state.attempt = 0;
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
  if (!state.joined && msg.code === 211 && state.everJoined) {
    // The lost server still holds our name until it is declared dead.
    const host = state.host;
    const ws = state.ws;
    state.ws = null;
    if (ws) ws.close();
    view.banner("Reconnecting: waiting for the cluster to free the name " + state.name + "…");
    setTimeout(() => connect(host), RETRY_TAKEN_MS);
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

/// Sends what the outbox holds, as the flood limit allows.
function pump() {
  if (!state.joined) return;
  const now = Date.now();
  for (let entry = outbox.next(now); entry; entry = outbox.next(now)) {
    if (entry.kind === "private") {
      send({ type: "private", to: entry.to, text: entry.text, cid: entry.cid, action: entry.action || undefined });
    } else {
      send({ type: "send", room: entry.room, text: entry.text, cid: entry.cid, action: entry.action || undefined });
    }
  }
}

setInterval(() => {
  pump();
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return;
  const quiet = Date.now() - state.lastHeard;
  // Acked lines are safe once the server is heard from a second later.
  if (outbox.waiting() && quiet > 500) send({ type: "ping", nonce: Date.now() });
  if (quiet > 3 * state.keepaliveMs) state.ws.close(); // a silent server is a lost one
}, 250);

window.chattyLine = function (text) {
  typed(text);
};

/// A line from the input box: a command or a message.
function typed(line) {
  const key = view.active || "#lobby";
  if (line.startsWith("//")) return say(key, line.slice(1), false);
  if (!line.trim().startsWith("/")) return say(key, line, false);
  const [, cmd, rest = ""] = line.trim().match(/^\/(\S+)\s*(.*)$/s) || [];
  const arg = rest.trim();
  switch ((cmd || "").toLowerCase()) {
    case "join":
      if (arg) {
        send({ type: "enter", room: arg });
        state.pendingShow = arg;
      }
      break;
    case "part":
      send({ type: "part", room: arg || (key.startsWith("#") ? key : "#lobby") });
      break;
    case "msg": {
      const m = arg.match(/^(\S+)\s+(.+)$/s);
      if (m) {
        view.show("@" + m[1]);
        say("@" + m[1], m[2], false);
      }
      break;
    }
    case "me":
      if (arg) say(key, arg, true);
      break;
    case "nick":
      if (arg) send({ type: "nick", name: arg });
      break;
    case "topic":
      if (key.startsWith("#")) send({ type: "topic", room: key, text: rest });
      break;
    case "who": {
      // /who, /who #room, /who #room NAME (the members after NAME).
      const first = arg.split(/\s+/)[0];
      const room = first.startsWith("#") ? first : key;
      const after = first.startsWith("#") ? arg.slice(first.length).trim().replace(/^"(.*)"$/, "$1") : "";
      send(after ? { type: "who", room, after } : { type: "who", room });
      break;
    }
    case "rooms":
      send({ type: "rooms" });
      break;
    default:
      view.line(key, {
        text: "commands: /join #room, /part, /msg NAME text, /me text, /nick NAME, /topic text, /who, /rooms, //text",
        kind: "event",
      });
  }
}

function say(key, text, action) {
  if (!text) return;
  if (key.startsWith("@")) outbox.add({ kind: "private", to: key.slice(1), text, action });
  else outbox.add({ kind: "send", room: key, text, action });
  pump();
}

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  state.name = $("name").value.trim();
  state.leaving = false;
  $("login-error").textContent = "";
  connect(location.host);
});

$("say-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("say");
  if (input.value) typed(input.value);
  input.value = "";
});

$("join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const room = $("join-room").value.trim();
  if (room) typed("/join " + (room.startsWith("#") ? room : "#" + room));
  $("join-room").value = "";
  $("say").focus();
});

$("notify").addEventListener("click", () => {
  if (!("Notification" in window)) return;
  Notification.requestPermission().then((answer) => {
    state.notify = answer === "granted";
    $("notify").textContent = state.notify ? "Notifications on" : "Notifications blocked";
  });
});

$("toggle-members").addEventListener("click", () => {
  document.body.classList.toggle("show-members");
});

document.addEventListener("keydown", (event) => {
  // Alt+Up / Alt+Down: previous / next conversation; Escape: back to typing.
  if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
    event.preventDefault();
    view.cycle(event.key === "ArrowUp" ? -1 : 1);
    $("say").focus();
  } else if (event.key === "Escape") {
    $("say").focus();
  }
});
