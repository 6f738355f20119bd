// Where the page goes when its server is lost, in the terminal client's
// order (src/client/survivors.rs, src/client/connect.rs): every other live
// server, from this page's own turn on, so that a dead server's pages
// spread over the survivors; then the lost one (it may come back). Within
// a round each server is tried at once after the one before it failed;
// between rounds the page waits, about RETRY_TAKEN_MS when a server of the
// round answered 211, else a backoff doubling to 2 s, with jitter.
//
// A 211 to the rejoin means that server still counts our old membership
// (PROTOCOL.md 12.4): it frees the name once it has declared the lost
// server dead, under a second. Another survivor may have done so already,
// so a 211 moves on to the next server, not to the same one again.
// Pure: the page passes the time and the randomness.
"use strict";

const RETRY_TAKEN_MS = 150;
const BACKOFF_MS = 100;
const BACKOFF_MAX_MS = 2000;

class Failover {
  /// `turn`: drawn once per page, where its rounds start among the survivors.
  constructor(turn) {
    this.turn = turn;
    this.reset();
  }

  /// Back in the chat: the next loss starts a failover of its own.
  reset() {
    this.lost = null; // the server lost, for the whole failover
    this.since = 0; // when it was lost
    this.attempt = 0; // servers tried so far
    this.busy = false; // a server of this round answered 211
    this.backoff = BACKOFF_MS;
  }

  /// The servers to try after losing `lost`, in order: those of `web` but
  /// `lost`, each once, from `turn` on; then `lost`.
  static order(lost, web, turn) {
    const others = [];
    for (const w of web) if (w !== lost && !others.includes(w)) others.push(w);
    const at = others.length ? turn % others.length : 0;
    return others.slice(at).concat(others.slice(0, at), [lost]);
  }

  /// The connection to `host` is gone at `now`. Only the first loss of a
  /// failover names the lost server: a candidate that fails is not it.
  begin(host, now) {
    if (this.lost !== null) return;
    this.lost = host;
    this.since = now;
  }

  /// The next server to try and how long to wait first, in ms. `web`: the
  /// live servers last announced; `nameTaken`: the server just tried
  /// answered 211; `random` in [0, 1), for the jitter.
  next(web, nameTaken, random) {
    if (nameTaken) this.busy = true;
    const candidates = Failover.order(this.lost, web, this.turn);
    const at = this.attempt % candidates.length;
    let delay = 0;
    if (at === 0 && this.attempt > 0) {
      if (this.busy) {
        delay = RETRY_TAKEN_MS;
      } else {
        delay = this.backoff;
        this.backoff = Math.min(BACKOFF_MAX_MS, this.backoff * 2);
      }
      delay *= 0.75 + random / 2;
      this.busy = false;
    }
    this.attempt++;
    return { host: candidates[at], delay };
  }
}

window.Failover = Failover;
