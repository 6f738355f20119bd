//! Connection caps: how many clients may be connected at once, in total and
//! from one source address.
//!
//! The accept loop asks [`Admission::admit`] for every new connection; the
//! returned [`Permit`] travels with the session and gives the slot back when
//! dropped. No sockets and no clocks here: the caller decides what to tell a
//! refused peer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server already has `limit` connections.
    Total {
        /// The configured cap.
        limit: usize,
    },
    /// The source address already has `limit` connections.
    PerAddress {
        /// The configured cap.
        limit: usize,
    },
}

/// Counts of refused connections since start, for logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refused {
    /// Refused because the total cap was reached.
    pub total_cap: u64,
    /// Refused because the per-address cap was reached.
    pub per_address_cap: u64,
}

/// The open-connection counts and caps. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Admission {
    max_total: usize,
    max_per_address: usize,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    open: usize,
    per_address: HashMap<Source, usize>,
    refused: Refused,
}

impl Admission {
    /// Caps of 0 mean no limit.
    pub fn new(max_total: usize, max_per_address: usize) -> Arc<Admission> {
        Arc::new(Admission {
            max_total: if max_total == 0 {
                usize::MAX
            } else {
                max_total
            },
            max_per_address: if max_per_address == 0 {
                usize::MAX
            } else {
                max_per_address
            },
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Takes a slot for a connection from `ip`, or says which cap is full.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, Refusal> {
        let key = address_key(ip);
        let mut counts = self.lock();
        if counts.open >= self.max_total {
            counts.refused.total_cap += 1;
            return Err(Refusal::Total {
                limit: self.max_total,
            });
        }
        let from_here = counts.per_address.get(&key).copied().unwrap_or(0);
        if from_here >= self.max_per_address {
            counts.refused.per_address_cap += 1;
            return Err(Refusal::PerAddress {
                limit: self.max_per_address,
            });
        }
        counts.open += 1;
        counts.per_address.insert(key, from_here + 1);
        Ok(Permit {
            admission: self.clone(),
            key,
        })
    }

    /// Connections holding a permit now.
    pub fn open(&self) -> usize {
        self.lock().open
    }

    /// Connections refused since start.
    pub fn refused(&self) -> Refused {
        self.lock().refused
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // The counts stay consistent even if a holder panicked mid-update
        // (every update is a single step), so a poisoned lock is usable.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One admitted connection's slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Permit {
    admission: Arc<Admission>,
    key: Source,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counts = self.admission.lock();
        counts.open -= 1;
        if let Some(n) = counts.per_address.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                counts.per_address.remove(&self.key);
            }
        }
    }
}

/// What counts as one source: an IPv4 address (IPv4-mapped IPv6 included),
/// or an IPv6 /64, since one host is routinely handed a whole /64. Nine
/// bytes where an `IpAddr` takes 17: every connection's permit holds one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    V4([u8; 4]),
    V6Prefix([u8; 8]),
}

fn address_key(ip: IpAddr) -> Source {
    match ip.to_canonical() {
        IpAddr::V4(v4) => Source::V4(v4.octets()),
        IpAddr::V6(v6) => {
            let mut prefix = [0; 8];
            prefix.copy_from_slice(&v6.octets()[..8]);
            Source::V6Prefix(prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn per_address_cap_leaves_other_addresses_alone() {
        let adm = Admission::new(0, 2);
        let a1 = adm.admit(ip("10.0.0.1")).unwrap();
        let _a2 = adm.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(
            adm.admit(ip("10.0.0.1")).unwrap_err(),
            Refusal::PerAddress { limit: 2 }
        );
        let _b = adm.admit(ip("10.0.0.2")).unwrap();
        drop(a1);
        let _a3 = adm.admit(ip("10.0.0.1")).expect("slot freed by drop");
        assert_eq!(adm.open(), 3);
        assert_eq!(adm.refused().per_address_cap, 1);
    }

    #[test]
    fn total_cap_counts_every_address() {
        let adm = Admission::new(2, 0);
        let _a = adm.admit(ip("10.0.0.1")).unwrap();
        let b = adm.admit(ip("10.0.0.2")).unwrap();
        assert_eq!(
            adm.admit(ip("10.0.0.3")).unwrap_err(),
            Refusal::Total { limit: 2 }
        );
        drop(b);
        assert!(adm.admit(ip("10.0.0.3")).is_ok());
        assert_eq!(adm.refused().total_cap, 1);
    }

    #[test]
    fn mapped_v4_and_one_v6_prefix_count_as_one_source() {
        let adm = Admission::new(0, 1);
        let _v4 = adm.admit(ip("192.168.1.5")).unwrap();
        assert!(adm.admit(ip("::ffff:192.168.1.5")).is_err());
        let _v6 = adm.admit(ip("fd00:1:2:3::1")).unwrap();
        assert!(adm.admit(ip("fd00:1:2:3:ffff::9")).is_err(), "same /64");
        assert!(adm.admit(ip("fd00:1:2:4::1")).is_ok(), "another /64");
    }

    #[test]
    fn empty_entries_are_forgotten() {
        let adm = Admission::new(0, 0);
        for n in 0..100u8 {
            drop(adm.admit(IpAddr::from([10, 0, 0, n])).unwrap());
        }
        assert!(adm.lock().per_address.is_empty());
        assert_eq!(adm.open(), 0);
    }
}
