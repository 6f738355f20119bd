// The lines shown lately, by sender and cid, as the terminal client keeps
// them (src/client/seen.rs, `SeenIds::fresh_line`): a line that the dead
// server showed but relayed to nobody is sent again by its sender after
// its own failover, and a server that never had it numbers it anew, so it
// comes a second time under an id no watermark covers (PROTOCOL.md 12.5).
// Its `(from, cid)` is the same: that pair is what tells it.
"use strict";

/// As many as the terminal client keeps: far more than one failover brings.
const SEEN_LINES = 4096;

class SeenLines {
  constructor(limit = SEEN_LINES) {
    this.limit = limit;
    this.keys = new Set();
    this.ring = []; // the keys in the order shown; the oldest goes first
    this.at = 0; // where the next key goes once the ring is full
  }

  /// Names compared as the server compares them, as far as a page can:
  /// NFKC and lower case (the server folds confusables too, PROTOCOL.md
  /// 13.1; a sender that resends keeps its very name, so this is enough).
  /// A cid is a Number or, beyond 2^53, a BigInt: String() is exact for both.
  static key(from, cid) {
    return String(from).normalize("NFKC").toLowerCase() + "\u0000" + String(cid);
  }

  /// Whether a line with this sender and cid was shown already. A line
  /// without a cid (or with cid 0, never deduplicated) never was.
  has(from, cid) {
    return !!cid && this.keys.has(SeenLines.key(from, cid));
  }

  /// Records a line shown.
  add(from, cid) {
    if (!cid) return;
    const key = SeenLines.key(from, cid);
    if (this.keys.has(key)) return;
    if (this.ring.length < this.limit) {
      this.ring.push(key);
    } else {
      this.keys.delete(this.ring[this.at]);
      this.ring[this.at] = key;
      this.at = (this.at + 1) % this.limit;
    }
    this.keys.add(key);
  }
}

window.SeenLines = SeenLines;
