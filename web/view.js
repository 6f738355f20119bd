// The page's DOM. Everything that came over the network is put in with
// textContent (or as an attribute value), never as markup: a message, a
// name or a topic of `<img src=x onerror=alert(1)>` shows as those
// characters. The Content-Security-Policy the server sends is a second line.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function hhmm(date) {
  return date.toTimeString().slice(0, 5);
}

/// One conversation: a room ("#dev") or a private one ("@Ann").
class Conv {
  constructor(key, title) {
    this.key = key;
    this.title = title;
    this.topic = "";
    this.members = new Map(); // name -> server short id
    this.unread = 0;
    this.mentions = 0;
    this.log = el("div", "log");
    this.log.dataset.conv = key;
    this.log.hidden = true;
    $("logs").appendChild(this.log);
  }
}

class View {
  constructor() {
    this.convs = new Map();
    this.active = null;
    this.myName = "";
  }

  conv(key) {
    let conv = this.convs.get(key);
    if (!conv) {
      conv = new Conv(key, key.startsWith("@") ? key.slice(1) : key);
      this.convs.set(key, conv);
      this.renderList();
    }
    return conv;
  }

  drop(key) {
    const conv = this.convs.get(key);
    if (!conv) return;
    conv.log.remove();
    this.convs.delete(key);
    if (this.active === key) this.active = null;
    this.renderList();
  }

  show(key) {
    const conv = this.conv(key);
    this.active = key;
    conv.unread = 0;
    conv.mentions = 0;
    for (const c of this.convs.values()) c.log.hidden = c !== conv;
    $("conv-title").textContent = conv.title;
    $("topic").textContent = conv.topic;
    this.renderList();
    this.renderMembers();
    conv.log.scrollTop = conv.log.scrollHeight;
  }

  /// A line in a conversation. `parts`: {time, from, text, kind, id, mention}.
  line(key, parts) {
    const conv = this.conv(key);
    const row = el("div", "line " + (parts.kind || "msg"));
    if (parts.id) row.dataset.id = parts.id;
    if (parts.mention) row.classList.add("mention");
    row.appendChild(el("span", "time", parts.time || hhmm(new Date())));
    if (parts.kind === "action") {
      row.appendChild(el("span", "text", "* " + parts.from + " " + parts.text));
    } else if (parts.from !== undefined) {
      row.appendChild(el("span", "from", parts.from));
      row.appendChild(el("span", "text", parts.text));
    } else {
      row.appendChild(el("span", "text", parts.text));
    }
    const atEnd = conv.log.scrollHeight - conv.log.scrollTop - conv.log.clientHeight < 40;
    conv.log.appendChild(row);
    if (atEnd || key === this.active) conv.log.scrollTop = conv.log.scrollHeight;
    const counts = parts.kind === "msg" || parts.kind === "action" || parts.kind === "history";
    if (key !== this.active && counts && parts.kind !== "history") {
      conv.unread++;
      if (parts.mention) conv.mentions++;
      this.renderList();
    }
    return row;
  }

  setTopic(key, text) {
    const conv = this.conv(key);
    conv.topic = text;
    if (key === this.active) $("topic").textContent = text;
  }

  renderList() {
    const rooms = $("rooms");
    const pms = $("pms");
    rooms.replaceChildren();
    pms.replaceChildren();
    for (const conv of this.convs.values()) {
      const item = el("li");
      const button = el("button", "conv" + (conv.key === this.active ? " active" : ""));
      button.type = "button";
      button.dataset.conv = conv.key;
      button.appendChild(el("span", "conv-name", conv.title));
      if (conv.unread > 0) {
        const badge = el("span", "badge" + (conv.mentions > 0 ? " badge-mention" : ""), String(conv.unread));
        badge.setAttribute("aria-label", conv.unread + " unread");
        button.appendChild(badge);
      }
      button.addEventListener("click", () => {
        this.show(conv.key);
        $("say").focus();
      });
      item.appendChild(button);
      (conv.key.startsWith("@") ? pms : rooms).appendChild(item);
    }
  }

  renderMembers() {
    const list = $("member-list");
    list.replaceChildren();
    const conv = this.active && this.convs.get(this.active);
    if (!conv) return;
    if (conv.count != null) {
      // A large room: its count, and the members the page has listed.
      const note = el("li", "count", conv.count + " members (large room; " + conv.members.size + " listed)");
      list.appendChild(note);
    }
    const names = [...conv.members.keys()].sort((a, b) => a.localeCompare(b));
    for (const name of names) {
      const item = el("li", name === this.myName ? "self" : "");
      const button = el("button", "member", name);
      button.type = "button";
      button.title = "private message to " + name;
      button.addEventListener("click", () => {
        if (name === this.myName) return;
        this.show("@" + name);
        $("say").focus();
      });
      item.appendChild(button);
      list.appendChild(item);
    }
  }

  banner(text) {
    const banner = $("banner");
    banner.textContent = text || "";
    banner.hidden = !text;
  }

  /// Moves to the next (+1) or previous (-1) conversation in the sidebar.
  cycle(step) {
    const keys = [...this.convs.keys()];
    if (!keys.length) return;
    const at = Math.max(0, keys.indexOf(this.active));
    this.show(keys[(at + step + keys.length) % keys.length]);
  }
}

window.View = View;
window.$ = $;
