//! # Chatty
//!
//! A zero-configuration chat service for local networks.
//!
//! The crate reads top-down in layers, and every module imports only from
//! the layers above it in this list (a test, `tests/layers.rs`, checks it):
//!
//! * [`protocol`] — the client wire format: message types, framing, the
//!   naming and text rules. Pure; no sockets.
//! * [`wire`] — the server-to-server datagram envelope, [`wire::Transmit`]
//!   and the size budget (the seal's overhead included).
//! * [`seal`], [`membership`], [`relay`] — the three sans-IO machines: the
//!   cluster key's authenticated encryption, who is in the cluster, and the
//!   exactly-once relay of chat events between servers.
//! * [`node`] — one server's membership, relay and seal composed, sans-IO:
//!   it opens each datagram once and routes membership changes into the
//!   relay.
//! * [`net`] — UDP sockets and the async loop that drives a node.
//! * [`server`] — the TCP chat server: the [`server::room::Room`] that
//!   orders and fans out events, one session task per connection.
//! * [`client`] — a client library ([`client::Client`]) and the terminal
//!   client.
//! * [`web`] — the web front-end on `--http`: the browser client (its
//!   WebSocket opens an ordinary session through [`server::Sessions`]),
//!   the live cluster view, `/metrics` and `/healthz`.
//! * [`irc`] — the IRC gateway: each IRC connection is an ordinary Chatty
//!   session opened through [`server::Sessions`], translated by a sans-IO
//!   state machine.
//! * [`cli`] — the `chatty` command line (clap); `main.rs` only calls it.
//! * `sim` — with the `sim` feature: a deterministic simulator that runs
//!   real nodes over a simulated network (tests and fuzzers).
//!
//! ## A message's way from one server to another
//!
//! 1. A client on server A sends a `send` frame; its session task
//!    ([`server::session`]) decodes and checks it and calls
//!    [`server::room::Room::say`].
//! 2. Under the room's lock, `emit` numbers the event (A's next sequence
//!    number), encodes the `message` frame once, pushes it to every local
//!    member's queue, and hands the event to the cluster task.
//! 3. The cluster task ([`net::driver`]) submits it to A's [`node::Node`];
//!    the relay packs it into a `RelayData` datagram for every peer, the
//!    seal (with a key) encrypts it, and the driver sends it over UDP.
//! 4. On server B the driver hands the datagram to B's node, which opens it
//!    once and gives it to its relay. The relay puts A's events back in
//!    order, drops duplicates, asks for gaps by NACK, and delivers A's
//!    event in sequence.
//! 5. The driver passes the delivery to B's room (`Room::apply`), which
//!    encodes the frame once and pushes it to every member on B. Each
//!    connection's writer task writes its queue to the socket.
#![deny(missing_docs)]

pub mod cli;
pub mod client;
pub mod irc;
pub mod membership;
pub mod net;
pub mod node;
pub mod protocol;
pub mod relay;
pub mod seal;
pub mod server;
#[cfg(feature = "sim")]
pub mod sim;
pub mod web;
pub mod wire;
