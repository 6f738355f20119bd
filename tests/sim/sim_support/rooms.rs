//! Servers in the simulator as `chatty server` wires them: each a real
//! [`Room`] (rooms, members, names, topics, the dedupe window) on a real
//! [`Node`] (membership, relay), the room's relayed events handed to the
//! node and the node's deliveries applied to the room, as the driver does.

use std::time::Duration;

use chatty::node::Node;
use chatty::protocol::{decode, ServerId, ServerMsg};
use chatty::relay::ChatEvent;
use chatty::server::room::{Registration, Room};
use chatty::sim::{NetConfig, Simulator};
use tokio::sync::mpsc;

use super::{addr, incarnation, node_config};

/// One server: its node runs in the simulator's slot; here, its room.
pub struct Server {
    /// The server's room state.
    pub room: Room,
    /// Its client connections.
    pub regs: Vec<Registration>,
    /// What each connection was sent, decoded, if the world keeps frames.
    pub heard: Vec<Vec<ServerMsg>>,
    out: mpsc::UnboundedReceiver<(u64, ChatEvent)>,
}

impl Server {
    fn new(id: ServerId, slot: usize, members: usize) -> Server {
        let (tx, out) = mpsc::unbounded_channel();
        let room = Room::new(id, addr(10_000, slot).to_string(), 1 << 16).with_relay(tx);
        let regs = (0..members).map(|_| room.register()).collect();
        Server {
            room,
            regs,
            heard: vec![Vec::new(); members],
            out,
        }
    }

    /// Takes what members were sent, so no queue overflows; keeps it,
    /// decoded, if `keep`.
    fn drain_queues(&mut self, keep: bool) {
        for (reg, heard) in self.regs.iter_mut().zip(&mut self.heard) {
            while let Ok(frame) = reg.outbound.try_recv() {
                if keep {
                    heard.push(decode(&frame[4..]).expect("a valid frame"));
                }
            }
        }
    }
}

/// The simulated servers.
pub struct World {
    /// The simulated world.
    pub sim: Simulator<Node>,
    /// Slot by slot; a crashed server's room stays, cut off.
    pub servers: Vec<Server>,
    /// Whether what members are sent is kept in [`Server::heard`].
    pub keep_frames: bool,
    members: usize,
    next_id: u64,
}

impl World {
    /// `servers` servers with `members` connections each, on `net`.
    pub fn new(seed: u64, net: NetConfig, servers: usize, members: usize) -> World {
        let mut world = World {
            sim: Simulator::new(seed, net),
            servers: Vec::new(),
            keep_frames: false,
            members,
            next_id: 0,
        };
        for slot in 0..servers {
            let node = world.make(slot);
            let server = Server::new(node.me().id, slot, members);
            assert_eq!(world.sim.add(node, true), slot);
            world.servers.push(server);
        }
        world
    }

    /// A node for `slot` with a fresh, time-ordered id (like UUID v7).
    fn make(&mut self, slot: usize) -> Node {
        self.next_id += 1;
        let me = incarnation(self.next_id, self.sim.rng().u64(..), slot);
        let seed = self.sim.rng().u64(..);
        Node::new(&node_config(), me, seed, self.sim.clock())
    }

    /// SIGKILL and restart: the node and its room start from nothing.
    pub fn restart(&mut self, slot: usize) {
        self.sim.crash(slot);
        let node = self.make(slot);
        self.servers[slot] = Server::new(node.me().id, slot, self.members);
        self.sim.replace(slot, node);
    }

    /// Hands what each room relayed to its node, runs the world for `d`,
    /// and applies what each node delivered to its room, as the driver
    /// does. A crashed server takes no part.
    pub fn run(&mut self, d: Duration) {
        let now = self.sim.clock();
        for (slot, server) in self.servers.iter_mut().enumerate() {
            while let Ok((seq, event)) = server.out.try_recv() {
                if let Some(node) = self.sim.node_mut(slot) {
                    node.submit(seq, event, now);
                }
            }
        }
        self.sim.run_for(d);
        for (slot, server) in self.servers.iter_mut().enumerate() {
            if let Some(node) = self.sim.node_mut(slot) {
                while node.poll_event().is_some() {}
                while let Some(delivery) = node.poll_delivery() {
                    server.room.apply(delivery);
                }
            }
            server.drain_queues(self.keep_frames);
        }
    }
}
