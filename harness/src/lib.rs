//! Running the real `chatty` binary from Chatty's tests, examples and
//! benchmarks, and the virtual LAN they share.
//!
//! Every program that starts a `chatty server` process and needs its address
//! goes through this crate, so that there is one way to do it and it is done
//! right everywhere: no wait without a deadline, no process left behind, and
//! a failure that says what the server printed.
//!
//! * [`binary`] finds the `chatty` binary for programs that are not Chatty's
//!   own integration tests (those get it from `env!("CARGO_BIN_EXE_chatty")`).
//! * [`Chatty`] says how to run it: which binary, through which command
//!   prefix (`ip netns exec NS`), with which environment, where stderr goes,
//!   and how long any single wait may take.
//! * [`Process`] is one running `chatty` (server or client): stdout as lines,
//!   stderr captured, piped stdin, signals, exit status; killed and reaped
//!   when dropped.
//! * [`Server`] is a `chatty server` that has printed where it listens
//!   ([`listen`] reads those lines).
//! * [`client`] waits for what a server sends a library client.
//! * [`loopback`] keeps servers on 127.0.0.1, each run in a multicast group
//!   of its own.
//! * [`vlan`] builds a LAN of network namespaces, one server per host, with
//!   loss, duplication and partitions.
//!
//! Nothing here opens a socket on a real interface: a server is started
//! with the flags its caller gives, and the helpers give loopback or
//! addresses inside namespaces this crate created.
#![deny(missing_docs)]

pub mod binary;
pub mod client;
mod launch;
pub mod listen;
pub mod loopback;
mod output;
mod process;
mod server;
pub mod vlan;

pub use launch::{Chatty, Stderr, DEFAULT_DEADLINE};
pub use process::{Process, Signal};
pub use server::Server;

/// The items of the `chatty` library this crate uses, imported in one place
/// so that a move inside the library is one edit here.
mod api {
    pub(crate) use chatty::client::{Client, ClientError};
    pub(crate) use chatty::protocol::{ClientMsg, ServerId, ServerMsg, StatusReport};
}
