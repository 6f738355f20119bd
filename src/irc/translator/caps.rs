//! The IRCv3 capabilities a connection negotiated (`CAP REQ`).

use super::CAPS;

/// Negotiated capabilities.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Caps {
    pub(super) away_notify: bool,
    pub(super) batch: bool,
    pub(super) chathistory: bool,
    /// `chatty/no-replay`: no room history on joining (IRC.md).
    pub(super) no_replay: bool,
    pub(super) echo_message: bool,
    pub(super) message_tags: bool,
    pub(super) multi_prefix: bool,
    pub(super) server_time: bool,
}

impl Caps {
    pub(super) fn set(&mut self, cap: &str, on: bool) -> bool {
        let slot = match cap {
            "away-notify" => &mut self.away_notify,
            "batch" => &mut self.batch,
            "chatty/no-replay" => &mut self.no_replay,
            "draft/chathistory" => &mut self.chathistory,
            "echo-message" => &mut self.echo_message,
            "message-tags" => &mut self.message_tags,
            "multi-prefix" => &mut self.multi_prefix,
            "server-time" => &mut self.server_time,
            _ => return false,
        };
        *slot = on;
        true
    }

    pub(super) fn list(&self) -> Vec<&'static str> {
        let on = [
            self.away_notify,
            self.batch,
            self.no_replay,
            self.chathistory,
            self.echo_message,
            self.message_tags,
            self.multi_prefix,
            self.server_time,
        ];
        CAPS.iter()
            .zip(on)
            .filter(|(_, on)| *on)
            .map(|(c, _)| *c)
            .collect()
    }
}
