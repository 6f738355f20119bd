//! Cost of the cluster key: seal + open of one datagram, single-threaded.
//!
//! For a small heartbeat-sized envelope and for the largest one
//! (`MAX_ENVELOPE`), it seals N datagrams with one server's sealer and opens
//! them with another's (tag check, freshness, replay window, cluster name),
//! and prints datagrams per second and nanoseconds per datagram.
//!
//! ```text
//! cargo run --release --example seal_bench -- [N]
//! ```

use std::time::{Instant, SystemTime};

use chatty::seal::{unix_ms, ClusterKey, Keyring, SealConfig, Sealer};
use chatty::wire::envelope::{self, Kind, MAX_ENVELOPE};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let config = SealConfig::new(Keyring::new(vec![ClusterKey::generate()]).expect("one key"));
    let small = envelope::seal(Kind::Heartbeat, "chatty", &(1u64, "127.0.0.1:7878", 42u64))
        .expect("small envelope");
    let mut large = small.clone();
    large.resize(MAX_ENVELOPE, 0);
    println!(
        "datagram bytes | seal+open datagrams/s | ns per datagram | seal only ns | open only ns"
    );
    for plain in [&small, &large] {
        let mut tx = Sealer::new(&config, "chatty");
        let mut rx = Sealer::new(&config, "chatty");
        let now = unix_ms(SystemTime::now());
        let mut sealed = Vec::with_capacity(n as usize);
        let start = Instant::now();
        for _ in 0..n {
            sealed.push(tx.seal(plain, now).expect("fits"));
        }
        let seal_time = start.elapsed();
        let start = Instant::now();
        for d in &sealed {
            rx.open(d, now).expect("opens");
        }
        let open_time = start.elapsed();
        let total = seal_time + open_time;
        let per = total.as_nanos() as f64 / n as f64;
        println!(
            "{:>14} | {:>21.0} | {:>15.0} | {:>12.0} | {:>12.0}",
            sealed[0].len(),
            n as f64 / total.as_secs_f64(),
            per,
            seal_time.as_nanos() as f64 / n as f64,
            open_time.as_nanos() as f64 / n as f64,
        );
    }
}
