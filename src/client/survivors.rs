//! Which server a client tries first when its own is lost.
//!
//! Every client of a dead server learns the same list of live servers
//! (`welcome.servers`, `servers`: the announcing server first, then the
//! others in id order), so a client that tried them in that order sent
//! all of a dead server's clients to the same survivor at once, the one
//! listed first: a join storm there while the others stood idle. Each
//! client instead starts its round at a survivor of its own, by a number
//! it draws once ([`draw_turn`]), so a mass failover spreads evenly over
//! the survivors; it still tries every one of them, then the addresses it
//! was given, and the lost server last (it may come back).

/// The servers to try, in order, after losing `lost`: the announced ones
/// but `lost`, rotated by `turn`; then the `given` ones (the command
/// line's) not announced; then `lost`. Each address once.
pub fn order(lost: &str, announced: &[String], given: &[String], turn: u64) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for addr in announced {
        if addr != lost && !out.contains(addr) {
            out.push(addr.clone());
        }
    }
    if !out.is_empty() {
        let by = (turn % out.len() as u64) as usize;
        out.rotate_left(by);
    }
    for addr in given {
        if addr != lost && !out.contains(addr) {
            out.push(addr.clone());
        }
    }
    out.push(lost.to_string());
    out
}

/// A client's turn, drawn once per client: where in the list of
/// survivors its failovers start.
pub fn draw_turn() -> u64 {
    fastrand::u64(..)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_server_is_tried_once_the_lost_one_last() {
        let announced = addrs(&["a", "b", "c", "d"]);
        let given = addrs(&["a", "e"]);
        for turn in 0..8 {
            let got = order("a", &announced, &given, turn);
            let mut sorted = got.clone();
            sorted.sort();
            assert_eq!(sorted, ["a", "b", "c", "d", "e"], "turn {turn}: {got:?}");
            assert_eq!(got[3..], ["e", "a"], "turn {turn}: {got:?}");
        }
        assert_eq!(order("x", &[], &[], 3), ["x"]);
        assert_eq!(order("x", &[], &addrs(&["y", "x"]), 3), ["y", "x"]);
    }

    #[test]
    fn the_turn_spreads_clients_evenly_over_the_survivors() {
        let announced = addrs(&["dead", "b", "c"]);
        let mut first = std::collections::HashMap::new();
        for _ in 0..3000 {
            let got = order("dead", &announced, &[], draw_turn());
            *first.entry(got[0].clone()).or_insert(0) += 1;
        }
        // 1,500 each expected; 1,350 is more than 5 standard deviations off.
        assert_eq!(first.len(), 2, "{first:?}");
        assert!(first.values().all(|&n| n > 1350), "{first:?}");
    }
}
