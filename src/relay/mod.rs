//! Server-to-server relay of chat events over UDP: sequence numbers per
//! origin, repair by NACK, snapshots for state sync and for overruns.
//!
//! * [`messages`] — the relay datagram bodies and the events they carry.
//! * [`state`] — the sans-IO relay state machine.
//! * [`topics`] — the topic rule every server applies (relay and room).

pub mod messages;
pub mod state;
pub mod topics;

pub use messages::{ChatEvent, SnapshotMember, TopicEntry};
pub use state::{fits_one_datagram, Delivery, Footprint, Relay, RelayConfig, RelayStats};
pub use topics::TopicBook;
