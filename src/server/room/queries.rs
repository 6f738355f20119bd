//! The questions a client may ask: `who`, `rooms`, `whois` and `status`.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use super::{Room, RoomError};
use crate::net::ClusterView;
use crate::protocol::validate::name_key;
use crate::protocol::{Member, ServerId, ServerInfo, ServerMsg, StatusReport};

/// The most members one `who_reply` lists.
pub const WHO_PAGE: usize = 500;

impl Room {
    /// `who_reply` for `room`: its members, by name (the first page).
    pub fn who(&self, room: &str) -> Result<ServerMsg, RoomError> {
        self.who_page(room, None)
    }

    /// `who_reply` for `room`: at most [`WHO_PAGE`] of its members, by
    /// name, after `after` if given. A large room's reply, or one with
    /// more to follow, says how many members there are (`count`), and
    /// `next` is the `after` that asks for the rest.
    pub fn who_page(&self, room: &str, after: Option<&str>) -> Result<ServerMsg, RoomError> {
        let state = self.lock();
        let channel = state.existing_room(room)?;
        let from = match after {
            Some(after) => Bound::Excluded(after),
            None => Bound::Unbounded,
        };
        let mut page = channel.members.range::<str, _>((from, Bound::Unbounded));
        let members: Vec<Member> = page
            .by_ref()
            .take(WHO_PAGE)
            .map(|(name, &server)| Member {
                name: name.clone(),
                server,
            })
            .collect();
        let more = page.next().is_some();
        let next = more
            .then(|| members.last().map(|m| m.name.clone()))
            .flatten();
        let count =
            (channel.large || more || after.is_some()).then_some(channel.members.len() as u32);
        Ok(ServerMsg::WhoReply {
            room: channel.name.clone(),
            members,
            count,
            next,
        })
    }

    /// `rooms_reply`: every room in the cluster with a member.
    pub fn rooms(&self) -> ServerMsg {
        ServerMsg::RoomsReply {
            rooms: self.lock().rooms.infos(),
        }
    }

    /// `whois_reply` for `name`: its server and rooms.
    pub fn whois(&self, name: &str) -> Result<ServerMsg, RoomError> {
        let state = self.lock();
        let key = name_key(name);
        let (shown, server, keys) = if let Some(conn) = state.names.get(&key) {
            let entry = state
                .conns
                .get(conn)
                .ok_or(RoomError::NoSuchName(name.into()))?;
            let shown = entry.name.clone().unwrap_or_default();
            (shown, self.id, entry.rooms.clone())
        } else if let Some(member) = state.remote.get(&key) {
            (member.name.clone(), member.server, member.rooms.clone())
        } else {
            return Err(RoomError::NoSuchName(name.to_string()));
        };
        let mut rooms: Vec<String> = keys
            .iter()
            .filter_map(|k| state.rooms.name(k).map(str::to_string))
            .collect();
        rooms.sort();
        Ok(ServerMsg::WhoisReply {
            name: shown,
            server,
            rooms,
        })
    }

    /// For each server with members, how many rooms have a member there
    /// (the web layer's cluster view).
    pub fn rooms_per_server(&self) -> BTreeMap<ServerId, usize> {
        let state = self.lock();
        let mut rooms: BTreeMap<ServerId, BTreeSet<&String>> = BTreeMap::new();
        for entry in state.conns.values().filter(|c| c.name.is_some()) {
            rooms.entry(self.id).or_default().extend(&entry.rooms);
        }
        for member in state.remote.values() {
            rooms
                .entry(member.server)
                .or_default()
                .extend(&member.rooms);
        }
        rooms.into_iter().map(|(s, r)| (s, r.len())).collect()
    }

    /// What this server knows, for `status`.
    pub fn status(&self) -> StatusReport {
        let mut servers = vec![ServerInfo {
            id: self.id,
            addr: self.addr.clone(),
            state: "alive".into(),
            last_heard_ms: 0,
        }];
        let mut counters = BTreeMap::new();
        if let Some(admission) = &self.admission {
            let refused = admission.refused();
            counters.insert("connections_open".into(), admission.open() as u64);
            counters.insert("connections_refused_total_cap".into(), refused.total_cap);
            counters.insert(
                "connections_refused_per_address_cap".into(),
                refused.per_address_cap,
            );
        }
        if let Some(view) = &self.cluster {
            let view = view.borrow();
            cluster_counters(&view, &mut counters);
            servers.extend(view.members.iter().map(|m| ServerInfo {
                id: m.info.id,
                addr: m.info.client_addr.to_string(),
                state: m.health.as_str().into(),
                last_heard_ms: m.last_heard.elapsed().as_millis() as u64,
            }));
        }
        let state = self.lock();
        counters.insert("duplicate_sends".into(), state.sent.duplicate_sends);
        counters.insert("duplicate_relayed".into(), state.sent.duplicate_relayed);
        StatusReport {
            id: self.id,
            servers,
            members: state.members(),
            counters,
            rooms: state.rooms.infos(),
        }
    }
}

/// The cluster's datagram counters, under the names PROTOCOL.md lists.
fn cluster_counters(view: &ClusterView, out: &mut BTreeMap<String, u64>) {
    let d = view.drops;
    let s = view.seal;
    let r = view.relay;
    for (name, value) in [
        ("relay_delivered", r.delivered),
        ("relay_duplicates", r.duplicates),
        ("relay_nacks_sent", r.nacks_sent),
        ("relay_nacks_answered", r.nacks_answered),
        ("relay_resent", r.retransmitted),
        ("relay_resyncs", r.resyncs),
        ("relay_lost", r.lost),
        ("relay_dropped", r.dropped),
        ("datagrams_malformed", d.malformed),
        ("datagrams_foreign", d.foreign),
        ("datagrams_stale_member", d.stale),
        ("seal_opened", s.opened),
        ("seal_malformed", s.malformed),
        ("seal_unsealed", s.unsealed),
        ("seal_sealed_without_key", s.sealed_without_key),
        ("seal_unknown_key", s.unknown_key),
        ("seal_bad_tag", s.bad_tag),
        ("seal_stale", s.stale),
        ("seal_replayed", s.replayed),
        ("seal_table_full", s.table_full),
        ("seal_foreign", s.foreign),
    ] {
        out.insert(name.into(), value);
    }
}
