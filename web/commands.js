// What the user does: a typed line (a message, or a command such as
// /join, /msg, /nick), and the page's buttons and keys. Lines go into the
// outbox (outbox.js) and out as connection.js's pump allows; requests
// without a line go at once.
"use strict";

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
      if (arg) {
        state.rejoinedAt = 0; // a 211 from now on answers this, not our past (chat.js)
        send({ type: "nick", name: arg });
      }
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
