// The page's connection: the WebSocket to one server (one MessagePack
// frame per binary message, PROTOCOL.md 3.2), the failover to another when
// it is lost (the order is failover.js's), and the sending of what the
// outbox holds, as the flood limit allows, with a ping when acked lines
// wait for their grace (outbox.js). What the page does with each frame is
// chat.js's `receive`.
"use strict";

const AGENT = "chatty-web/0.1";
const GIVE_UP_MS = 60000;

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
  failover.begin(state.host, Date.now());
  moveOn(false);
}

/// Tries the next server of the failover (failover.js); `nameTaken`: the
/// one just tried answered 211.
function moveOn(nameTaken) {
  if (Date.now() - failover.since > GIVE_UP_MS) {
    view.banner("No server can be reached. Reload the page to try again.");
    return;
  }
  const { host, delay } = failover.next(state.web, nameTaken, Math.random());
  view.banner(
    nameTaken
      ? "Reconnecting: waiting for the cluster to free the name " + state.name + "; trying " + host + "…"
      : "Lost the connection to " + failover.lost + "; reconnecting via " + host + "…",
  );
  setTimeout(() => connect(host), delay);
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
