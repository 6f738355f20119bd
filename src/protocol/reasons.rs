//! Why a member left: the `reason` of `left` frames and relayed leaves.

use serde::{Deserialize, Serialize};

/// Why a member left. Unknown reasons from newer servers decode as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// The client asked to leave.
    Leave,
    /// The connection closed without a `leave`.
    Disconnected,
    /// The client stopped answering keepalives.
    Timeout,
    /// The client did not read fast enough and its queue overflowed.
    TooSlow,
    /// The client broke the protocol and was disconnected.
    ProtocolError,
    /// The member's server shut down.
    Shutdown,
    /// The member's server crashed or became unreachable.
    ServerLost,
    /// Someone took the same name on another server at the same moment and
    /// won the tie; this member must choose another name.
    NameConflict,
    /// The reason was in relay traffic that was lost beyond repair.
    Unknown,
    /// A reason this build does not know.
    #[serde(other)]
    Other,
}

impl LeaveReason {
    /// The suffix a chat client prints after `left the chat`, if any.
    pub fn describe(self) -> Option<&'static str> {
        match self {
            LeaveReason::Leave => None,
            LeaveReason::Disconnected => Some("connection lost"),
            LeaveReason::Timeout => Some("timed out"),
            LeaveReason::TooSlow => Some("too slow"),
            LeaveReason::ProtocolError => Some("protocol error"),
            LeaveReason::Shutdown => Some("server shut down"),
            LeaveReason::ServerLost => Some("server lost"),
            LeaveReason::NameConflict => Some("name conflict"),
            LeaveReason::Unknown => Some("reason unknown"),
            LeaveReason::Other => Some("unknown reason"),
        }
    }
}
