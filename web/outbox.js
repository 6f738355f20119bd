// Lines typed but not yet known to be safe, with the rules of PROTOCOL.md
// 12.5 that the terminal client follows (src/client/outbox.rs): every line
// gets a cid, is kept until its ack and then until the server has been heard
// from RELAY_GRACE after it, is sent again (in the order typed) after a
// rejoin, and goes out no faster than the server's flood limit allows.
"use strict";

const RELAY_GRACE_MS = 1000;

class Outbox {
  constructor() {
    // A random start keeps two pages (or two runs) apart; kept below 2^52
    // so every cid is an exact JavaScript number.
    this.nextCid = 1 + Math.floor(Math.random() * 2 ** 52);
    this.entries = [];
    this.rate = null; // {per_sec, burst} from the server's hello
    this.tokens = 0;
    this.refilled = Date.now();
  }

  /// A new line: {cid, kind: "send"|"private", room, to, text, action}.
  add(line) {
    const entry = Object.assign({ cid: this.nextCid++, state: "queued", ackedAt: 0, shown: false }, line);
    this.entries.push(entry);
    return entry;
  }

  setRate(rate) {
    this.rate = rate && rate.per_sec > 0 ? rate : null;
    this.tokens = this.rate ? Math.min(this.rate.burst, 3) : 0;
    this.refilled = Date.now();
  }

  /// Takes a token of the flood limit if one is free.
  take(now) {
    if (!this.rate) return true;
    this.tokens = Math.min(this.rate.burst, this.tokens + ((now - this.refilled) / 1000) * this.rate.per_sec);
    this.refilled = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }

  /// The next line to send now, or null.
  next(now) {
    const entry = this.entries.find((e) => e.state === "queued" && (!e.notBefore || e.notBefore <= now));
    if (!entry || !this.take(now)) return null;
    entry.state = "sent";
    return entry;
  }

  byCid(cid) {
    return this.entries.find((e) => e.cid === cid) || null;
  }

  acked(cid, now) {
    const entry = this.byCid(cid);
    if (entry) {
      entry.state = "acked";
      entry.ackedAt = now;
    }
    return entry;
  }

  /// An error for a line: 230 (our pacing drifted) sends it again a little
  /// later; anything else drops it. Returns the entry, if it was ours.
  refused(cid, code, now) {
    const entry = this.byCid(cid);
    if (!entry) return null;
    if (code === 230) {
      entry.state = "queued";
      entry.notBefore = now + 250;
    } else {
      this.entries = this.entries.filter((e) => e !== entry);
    }
    return entry;
  }

  /// The server was heard from at `now`: lines acked at least RELAY_GRACE
  /// before are safe, having reached every other live server.
  heard(now) {
    this.entries = this.entries.filter((e) => e.state !== "acked" || now - e.ackedAt < RELAY_GRACE_MS);
  }

  /// Whether some acked line waits for its grace to pass (ping the server).
  waiting() {
    return this.entries.some((e) => e.state === "acked");
  }

  /// After a rejoin: everything kept goes again, in the order typed.
  resendAll() {
    for (const e of this.entries) {
      e.state = "queued";
      e.notBefore = 0;
    }
  }

  pending() {
    return this.entries.length;
  }
}

window.Outbox = Outbox;
