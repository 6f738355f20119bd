//! Finding another live server after losing one, the way the terminal
//! client does it (`src/client/connect.rs`, `rejoin_somewhere`, which is
//! private to the library): try every announced server, the lost one last;
//! a server that answers 211 (our own old membership still holds the name
//! until the lost server is declared dead) is tried again after about
//! 100 ms; servers that cannot be reached are backed off exponentially
//! (100 ms doubling to 2 s), with jitter. One attempt may take 2 s.
//!
//! Where a client starts its round of survivors is `--spread`'s:
//! `Spread::Library`, the default, is the library's own choice
//! (`chatty::client::survivors`: a turn drawn once per client rotates the
//! survivors); `Spread::First` is the terminal client's order before that
//! (the first announced survivor for everyone, so all of the lost server's
//! clients went to one server); `Spread::Rotate` rotates by the client's
//! index, as this benchmark did before the library spread.

use std::time::Duration;

use tokio::time::Instant;

use chatty_bench::api::{survivors, ClientMsg, MessageId};

use crate::wire::{OpenError, Welcome, Wire};

/// How soon to retry a server that still holds our name (connect.rs).
const NAME_RETRY: Duration = Duration::from_millis(100);
/// One connection attempt may take this long (connect.rs).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// Where a failed-over client starts its round of candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Spread {
    /// The library's choice: a turn drawn once per client
    /// (`survivors::draw_turn`) rotates the survivors (`survivors::order`).
    Library,
    /// Each client starts at another survivor (index modulo survivors).
    Rotate,
    /// Every client starts at the first announced survivor, as the
    /// terminal client did before it spread.
    First,
}

/// The servers to try, in order: the announced ones but the lost one
/// (rotated by `index` for [`Spread::Rotate`], by the library with `turn`
/// for [`Spread::Library`]), the lost one last.
pub fn candidates(
    lost: &str,
    announced: &[String],
    spread: Spread,
    index: usize,
    turn: u64,
) -> Vec<String> {
    if spread == Spread::Library {
        return survivors::order(lost, announced, &[], turn);
    }
    let turn = index;
    let mut out: Vec<String> = Vec::new();
    for addr in announced {
        if addr != lost && !out.contains(addr) {
            out.push(addr.clone());
        }
    }
    if spread == Spread::Rotate && !out.is_empty() {
        let by = turn % out.len();
        out.rotate_left(by);
    }
    out.push(lost.to_string());
    out
}

/// A tiny xorshift for jitter (no shared RNG across 3,000 tasks).
pub fn jitter(state: &mut u64) -> f64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    0.75 + (*state % 1000) as f64 / 2000.0
}

/// A successful rejoin.
pub struct Rejoined {
    pub wire: Wire,
    pub welcome: Welcome,
    pub addr: String,
    /// Attempts refused with 211 before the name was free.
    pub name_busy: u32,
}

/// Rejoins as `name` with `last_seen` somewhere among `order`, until
/// `deadline`.
pub async fn rejoin_somewhere(
    order: &[String],
    name: &str,
    last_seen: Vec<MessageId>,
    deadline: Instant,
    rng: &mut u64,
) -> Result<Rejoined, String> {
    let rejoin = ClientMsg::Rejoin {
        name: name.to_string(),
        last_seen,
        rooms: Vec::new(),
    };
    let mut backoff = Duration::from_millis(100);
    let mut refused = 0;
    let mut last_error = String::from("no server tried");
    loop {
        let mut name_busy = false;
        for addr in order {
            if Instant::now() >= deadline {
                return Err(format!("not back by the deadline; last: {last_error}"));
            }
            match Wire::open(addr, &rejoin, ATTEMPT_TIMEOUT).await {
                Ok((wire, welcome)) => {
                    return Ok(Rejoined {
                        wire,
                        welcome,
                        addr: addr.clone(),
                        name_busy: refused,
                    })
                }
                Err(OpenError::NameTaken) => {
                    name_busy = true;
                    refused += 1;
                }
                Err(OpenError::Failed(e)) => last_error = e,
            }
        }
        let wait = if name_busy { NAME_RETRY } else { backoff };
        let nap = wait
            .mul_f64(jitter(rng))
            .min(deadline.saturating_duration_since(Instant::now()));
        if nap.is_zero() {
            return Err(format!("not back by the deadline; last: {last_error}"));
        }
        tokio::time::sleep(nap).await;
        if !name_busy {
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_lost_server_comes_last_and_rotation_spreads() {
        let announced = addrs(&["a", "b", "c"]);
        assert_eq!(
            candidates("a", &announced, Spread::First, 5, 1),
            ["b", "c", "a"]
        );
        assert_eq!(
            candidates("a", &announced, Spread::Rotate, 0, 1),
            ["b", "c", "a"]
        );
        assert_eq!(
            candidates("a", &announced, Spread::Rotate, 1, 0),
            ["c", "b", "a"]
        );
        assert_eq!(candidates("x", &[], Spread::Rotate, 3, 0), ["x"]);
        // The library's: by the turn, not the index.
        assert_eq!(
            candidates("a", &announced, Spread::Library, 0, 1),
            ["c", "b", "a"]
        );
        assert_eq!(
            candidates("a", &announced, Spread::Library, 1, 2),
            ["b", "c", "a"]
        );
    }
}
