//! A stand-in chat server on 127.0.0.1 that speaks the client protocol
//! from a script: for tests of what a client sends and shows where the
//! real server cannot answer (version 2 before the server's rooms land, a
//! server that predates rooms). It runs on a thread of its own, so tests
//! may block on it. Every request it gets is recorded for the test to
//! check, and it answers as the protocol says, with one member besides
//! the client (`Ann`); the test can push frames of its own and drop the
//! connection.

mod chat;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use chatty::protocol::{
    encode_frame, ClientMsg, FrameDecoder, MessageId, ServerId, ServerMsg, MAX_CLIENT_FRAME,
};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc as tokio_mpsc;
use tokio_util::codec::FramedRead;

use chat::Chat;

/// How long a test waits for the client to send something.
pub const FAKE_DEADLINE: Duration = Duration::from_secs(15);

/// The other member every fake chat has.
pub const ANN: &str = "Ann";

/// A name the fake refuses for `nick` (`name_taken`), and one nobody holds
/// for `whois` and `private` (`no_such_name`).
pub const TAKEN: &str = "Taken";
pub const NOBODY: &str = "Nobody";

/// What the test tells the fake to do on the current connection.
enum Control {
    Frame(ServerMsg),
    Close,
}

/// A scripted server. Dropping it stops it.
pub struct FakeServer {
    /// Where clients connect.
    pub addr: String,
    /// The fake's server id (the origin of the ids it hands out).
    pub id: ServerId,
    received: mpsc::Receiver<ClientMsg>,
    control: tokio_mpsc::UnboundedSender<Control>,
    /// The last seq handed out, shared with the fake's own numbering.
    seq: Arc<AtomicU64>,
}

impl FakeServer {
    /// A fake that agrees on protocol `version` (1: a server from before
    /// rooms; 2: one with rooms).
    pub fn start(version: u16) -> FakeServer {
        FakeServer::start_with(version, Quirk::None)
    }

    /// A fake that takes chat lines (`send`, `private`) and never answers
    /// them, like a server that dies before numbering them: they stay in
    /// the client's outbox, to be sent again after a failover.
    pub fn swallowing(version: u16) -> FakeServer {
        FakeServer::start_with(version, Quirk::Swallow)
    }

    /// A fake that answers every `rejoin` with 211, like a survivor that
    /// has not yet declared the client's lost server dead and still counts
    /// its old membership there.
    pub fn holding_names(version: u16) -> FakeServer {
        FakeServer::start_with(version, Quirk::HoldNames)
    }

    fn start_with(version: u16, quirk: Quirk) -> FakeServer {
        let (addr_tx, addr_rx) = mpsc::channel();
        let (received_tx, received) = mpsc::channel();
        let (control, control_rx) = tokio_mpsc::unbounded_channel();
        let id = ServerId::random();
        let seq = Arc::new(AtomicU64::new(100));
        let numbering = seq.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let fake = Fake {
                version,
                id,
                seq: numbering,
                quirk,
            };
            runtime.block_on(fake.serve(addr_tx, received_tx, control_rx));
        });
        let addr = addr_rx.recv_timeout(FAKE_DEADLINE).expect("fake listening");
        FakeServer {
            addr,
            id,
            received,
            control,
            seq,
        }
    }

    /// The next request the client sent (keepalive answers aside).
    pub fn next(&self) -> ClientMsg {
        self.received
            .recv_timeout(FAKE_DEADLINE)
            .expect("the client sent nothing in time")
    }

    /// Requests until one satisfies `pred`; returns them all, it last.
    pub fn until(&self, what: &str, pred: impl Fn(&ClientMsg) -> bool) -> Vec<ClientMsg> {
        let mut seen = Vec::new();
        loop {
            let msg = self
                .received
                .recv_timeout(FAKE_DEADLINE)
                .unwrap_or_else(|_| panic!("no {what} in time; the client sent {seen:?}"));
            let done = pred(&msg);
            seen.push(msg);
            if done {
                return seen;
            }
        }
    }

    /// What the client has sent and the test has not looked at yet.
    pub fn pending(&self) -> Vec<ClientMsg> {
        self.received.try_iter().collect()
    }

    /// Sends `msg` to the connected client.
    pub fn push(&self, msg: ServerMsg) {
        let _ = self.control.send(Control::Frame(msg));
    }

    /// Drops the client's connection without a word, like a crashed server.
    pub fn close(&self) {
        let _ = self.control.send(Control::Close);
    }

    /// The next id in this fake's numbering, for a frame the test pushes.
    pub fn next_id(&self) -> MessageId {
        MessageId {
            origin: self.id,
            seq: self.seq.fetch_add(1, Ordering::SeqCst) + 1,
        }
    }

    /// The id with this seq in the fake's numbering (for replays).
    pub fn id(&self, seq: u64) -> MessageId {
        MessageId {
            origin: self.id,
            seq,
        }
    }
}

/// How a fake departs from a plain server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quirk {
    None,
    /// Chat lines are taken and never answered.
    Swallow,
    /// Every `rejoin` is refused with 211.
    HoldNames,
}

/// What every connection to the fake shares.
struct Fake {
    version: u16,
    id: ServerId,
    seq: Arc<AtomicU64>,
    quirk: Quirk,
}

impl Fake {
    async fn serve(
        self,
        addr_tx: mpsc::Sender<String>,
        received: mpsc::Sender<ClientMsg>,
        mut control: tokio_mpsc::UnboundedReceiver<Control>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let _ = addr_tx.send(listener.local_addr().expect("addr").to_string());
        // One connection at a time, as many as the client makes, until the
        // test drops the fake.
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => return,
                },
                order = control.recv() => match order {
                    Some(_) => continue, // nobody connected to act on
                    None => return,
                },
            };
            let (rd, mut wr) = stream.into_split();
            let mut frames = FramedRead::new(rd, FrameDecoder::new(MAX_CLIENT_FRAME));
            let mut chat = Chat {
                version: self.version,
                id: self.id,
                seq: self.seq.clone(),
                swallow: self.quirk == Quirk::Swallow,
                holds_names: self.quirk == Quirk::HoldNames,
                acks: false,
                me: String::new(),
                rooms: BTreeMap::new(),
            };
            // Answers go out in order; after a `leave` the connection closes.
            let mut leaving = false;
            while !leaving {
                let out = tokio::select! {
                    frame = frames.next() => match frame {
                        Some(Ok(body)) => match chatty::protocol::decode::<ClientMsg>(&body) {
                            Ok(ClientMsg::Pong { .. }) => Vec::new(),
                            Ok(msg) => {
                                leaving = msg == ClientMsg::Leave { text: None };
                                let _ = received.send(msg.clone());
                                chat.answer(msg)
                            }
                            Err(_) => break,
                        },
                        _ => break,
                    },
                    order = control.recv() => match order {
                        Some(Control::Frame(msg)) => vec![msg],
                        Some(Control::Close) => break,
                        None => return,
                    },
                };
                for msg in out {
                    if wr.write_all(&encode_frame(&msg)).await.is_err() {
                        break;
                    }
                }
            }
        }
    }
}
