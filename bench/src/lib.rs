//! What Chatty's benchmark programs (`src/bin/`) share.
//!
//! Each program measures one thing and prints Markdown tables for
//! BENCHMARKS.md: `fanout` (one server, N receivers), `relay` (three
//! servers, injected loss), `detection` (SIGKILL to removal), `failover`
//! (SIGKILL to chatting again), `massfail` (one of three loaded servers
//! SIGKILLed: until all its clients chat again, exactly once), `seal`
//! (the cluster key's cost), `vlan` (the same on a virtual LAN of network
//! namespaces) and `compare` (Chatty side by side with NATS, Redis and
//! ngIRCd, join storms included). Servers are real `chatty` processes
//! started with `chatty-harness`, always on loopback or inside the virtual
//! LAN's own namespaces.
//!
//! * [`stamp`]: a shared clock and the fixed-width digits that carry
//!   counters and send times in message text.
//! * [`exactly`]: every chat line shown exactly once, across failovers.
//! * [`losses`]: clients lost in a run, counted by cause (240, EOF, …).
//! * [`procfs`]: CPU time, memory and kernel drop counters from `/proc`.
//! * [`resend`]: a sender's lines kept until safe, sent again after a rejoin.
//! * [`report`]: histograms and number formatting for the tables.
//! * [`seen`]: telling duplicates and reordering from a sender's counters.
//! * [`server`]: a server started for the load generator to flood.
//! * [`run`]: the `main` every program shares (runtime, Ctrl-C, exit code).
//! * [`api`]: the library items the programs use.

pub mod exactly;
pub mod losses;
pub mod procfs;
pub mod report;
pub mod resend;
pub mod run;
pub mod seen;
pub mod server;
pub mod stamp;

/// The `chatty` library items the benchmark programs use, imported in one
/// place so that a move inside the library is one edit here.
pub mod api {
    pub use chatty::client::{status, survivors, Client, ClientError, ClientReader, ClientWriter};
    pub use chatty::protocol::{
        decode, encode_frame, ClientMsg, MessageId, ServerId, ServerMsg, MAX_SERVER_FRAME,
        MIN_PROTOCOL_VERSION, PROTOCOL_VERSION,
    };
    pub use chatty::seal::{unix_ms, ClusterKey, Keyring, SealConfig, Sealer};
    pub use chatty::wire::envelope::{self, Kind, MAX_ENVELOPE};
}
