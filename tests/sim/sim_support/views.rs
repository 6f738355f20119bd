//! Membership as the nodes see it: who lists whom, and the checks the
//! membership simulation makes of it.

use std::collections::BTreeSet;
use std::time::Duration;

use chatty::protocol::ServerId;

use super::{Cluster, MS};

impl Cluster {
    /// The ids the node in `slot` lists as members.
    pub fn listed_by(&self, slot: usize) -> BTreeSet<ServerId> {
        self.node(slot)
            .members()
            .iter()
            .map(|m| m.info.id)
            .collect()
    }

    /// Every running node lists exactly the other running nodes.
    pub fn converged(&self) -> bool {
        let all: BTreeSet<ServerId> = self.running_ids().into_iter().collect();
        self.sim.running().iter().all(|s| {
            let mut expected = all.clone();
            expected.remove(&self.id(*s));
            self.listed_by(*s) == expected
        })
    }

    /// Panics, with the seed, unless [`Cluster::converged`].
    pub fn assert_converged(&self, when: &str) {
        if !self.converged() {
            let sizes: Vec<_> = self
                .sim
                .running()
                .iter()
                .map(|s| (*s, self.listed_by(*s).len()))
                .collect();
            panic!(
                "seed {}: not converged {when} at {:?}; (slot, listed) = {sizes:?}",
                self.seed,
                self.sim.elapsed()
            );
        }
    }

    /// Runs until converged, at most `limit`; returns how long it took.
    pub fn run_until_converged(&mut self, limit: Duration) -> Duration {
        let start = self.sim.elapsed();
        while !self.converged() {
            if self.sim.elapsed() - start >= limit {
                self.assert_converged(&format!("within {limit:?}"));
            }
            self.run(10 * MS);
        }
        self.sim.elapsed() - start
    }

    /// No node lists itself, or two ids on one address (a ghost).
    pub fn assert_no_ghosts(&self) {
        for slot in self.sim.running() {
            let mut addrs = BTreeSet::new();
            for m in self.node(slot).members() {
                assert!(
                    addrs.insert(m.info.client_addr),
                    "seed {}: node {slot} lists two servers on {} at {:?}",
                    self.seed,
                    m.info.client_addr,
                    self.sim.elapsed()
                );
                assert_ne!(m.info.id, self.id(slot), "a node lists itself");
            }
        }
    }

    /// Steps until no running node lists `gone`; returns how long that took.
    pub fn time_until_forgotten(&mut self, gone: ServerId, limit: Duration) -> Duration {
        let start = self.sim.elapsed();
        loop {
            let someone_lists = self
                .sim
                .running()
                .iter()
                .any(|s| self.listed_by(*s).contains(&gone));
            if !someone_lists {
                return self.sim.elapsed() - start;
            }
            assert!(
                self.sim.elapsed() - start <= limit,
                "seed {}: {gone:?} still listed {limit:?} later",
                self.seed
            );
            self.run(5 * MS);
        }
    }
}
