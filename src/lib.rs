//! # Chatty
//!
//! A zero-configuration chat service for local networks.
//!
//! The crate reads top-down, and data flows one way:
//!
//! * [`protocol`] — the client wire format: message types, framing, the
//!   naming and text rules. Pure; no sockets.
//! * [`cluster`] — server-to-server UDP: the datagram envelope, the cluster
//!   key's seal, sans-IO membership, transports (UDP and in-memory), and the
//!   driver task. [`relay`] — the sans-IO relay of chat events between
//!   servers. [`sim`] — a deterministic simulator for both state machines.
//! * [`server`] — the TCP chat server: a [`server::room::Room`] that orders
//!   and fans out events, one session task per connection, and
//!   [`server::Server::run`], which accepts connections until told to shut
//!   down.
//! * [`client`] — a client library ([`client::Client`]) used by the terminal
//!   client, `chatty status`, the tests and the benchmarks.
//! * [`cli`] — the `chatty` command line (clap); `main.rs` only calls it.
#![deny(missing_docs)]

pub mod cli;
pub mod client;
pub mod cluster;
pub mod protocol;
pub mod relay;
pub mod server;
pub mod sim;
