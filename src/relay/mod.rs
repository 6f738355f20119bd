//! Server-to-server relay of chat events over UDP: sequence numbers per
//! origin, repair by NACK, snapshots for state sync and for overruns.
//!
//! * [`messages`] — the relay datagram bodies.
//! * [`state`] — the sans-IO relay state machine.

pub mod messages;
pub mod state;

pub use messages::ChatEvent;
pub use state::{Delivery, Footprint, Relay, RelayConfig, RelayStats};
