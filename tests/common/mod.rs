//! Shared test harness: an in-process server on 127.0.0.1:0 and raw connections.
//!
//! Every wait has a deadline; nothing sleeps and hopes.
#![allow(dead_code)]

pub mod fake;
pub mod irc;
pub mod proc;
#[cfg(target_os = "linux")]
pub mod pty;
pub mod rooms;
pub mod tools;
pub mod typist;
pub mod watcher;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use chatty::client::Client;
use chatty::membership::MembershipConfig;
use chatty::net::{ClusterConfig, ClusterView, Transport, TransportConfig};
use chatty::protocol::{
    decode, encode_frame, ClientMsg, ErrorCode, FrameDecoder, LeaveReason, ServerId, ServerMsg,
    StatusReport, MAX_SERVER_FRAME, PROTOCOL_VERSION,
};
use chatty::server::{RateLimit, Server, ServerConfig};
use std::net::{Ipv4Addr, SocketAddrV4};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::codec::Decoder;

/// The longest any single expected event may take.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A server running in this process.
pub struct TestServer {
    pub addr: SocketAddr,
    pub id: ServerId,
    /// The cluster view, if the server was started with a cluster.
    pub view: Option<watch::Receiver<ClusterView>>,
    /// Its UDP address, if clustered.
    pub udp_addr: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// Starts a server with `config` on a free loopback port.
    pub async fn start(config: ServerConfig) -> TestServer {
        TestServer::start_at("127.0.0.1:0", config).await
    }

    /// Starts a server with `config` listening on `listen`.
    pub async fn start_at(listen: &str, config: ServerConfig) -> TestServer {
        TestServer::run(Server::bind(listen, config).await.expect("bind"))
    }

    /// Starts a clustered server with `config` on a free loopback port,
    /// its cluster traffic on `transport` (in-memory, or wrapped for loss).
    pub async fn start_on(config: ServerConfig, transport: impl Transport) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        TestServer::run(Server::with_transport(listener, config, transport).expect("start"))
    }

    fn run(server: Server) -> TestServer {
        let addr = server.local_addr();
        let id = server.id();
        let view = server.cluster_view();
        let udp_addr = server.udp_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            id,
            view,
            udp_addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server on the spot, without a leave or shutdown notices:
    /// to its peers this looks like a crash.
    /// Returns once the task is gone, so its ports are free again.
    pub async fn crash(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// The ids this server currently lists as cluster members (not itself).
    pub fn members(&self) -> Vec<ServerId> {
        let view = self.view.as_ref().expect("clustered server");
        let ids = view.borrow().members.iter().map(|m| m.info.id).collect();
        ids
    }

    /// Waits until `pred` holds for this server's member list.
    pub async fn wait_members(&self, what: &str, pred: impl Fn(&[ServerId]) -> bool) {
        let mut view = self.view.clone().expect("clustered server");
        let fut = async {
            loop {
                let ids: Vec<ServerId> = view
                    .borrow_and_update()
                    .members
                    .iter()
                    .map(|m| m.info.id)
                    .collect();
                if pred(&ids) {
                    return;
                }
                view.changed().await.expect("cluster task alive");
            }
        };
        tokio::time::timeout(DEADLINE, fut)
            .await
            .unwrap_or_else(|_| {
                panic!("timed out waiting for {what}; members {:?}", self.members())
            })
    }

    /// Default config but no flood limit, so tests can send quickly.
    pub async fn unlimited() -> TestServer {
        TestServer::start(ServerConfig {
            rate_limit: RateLimit::OFF,
            ..ServerConfig::default()
        })
        .await
    }

    pub fn addr_string(&self) -> String {
        self.addr.to_string()
    }

    /// Triggers graceful shutdown and waits for `run` to return.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("running");
        tokio::time::timeout(DEADLINE, task)
            .await
            .expect("server stops in time")
            .expect("server task does not panic")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A joined client.
pub async fn joined(server: &TestServer, name: &str) -> Client {
    let mut client = Client::connect(&server.addr_string())
        .await
        .expect("connect");
    client.join(name).await.expect("join");
    client
}

/// Reads messages until one matches `pred`; panics at the deadline or on EOF.
pub async fn wait_for(
    client: &mut Client,
    what: &str,
    pred: impl Fn(&ServerMsg) -> bool,
) -> ServerMsg {
    chatty_harness::client::wait_for(client, what, DEADLINE, pred)
        .await
        .unwrap_or_else(|err| panic!("{err:#}"))
}

/// Waits for a chat message with this text and returns its sender.
pub async fn wait_for_text(client: &mut Client, text: &str) -> String {
    match wait_for(
        client,
        text,
        |m| matches!(m, ServerMsg::Message { text: t, .. } if t == text),
    )
    .await
    {
        ServerMsg::Message { from, .. } => from,
        _ => unreachable!(),
    }
}

/// A connection that speaks raw bytes, for malformed-input tests.
pub struct Raw {
    pub stream: TcpStream,
    buf: BytesMut,
    decoder: FrameDecoder,
}

impl Raw {
    pub async fn connect(server: &TestServer) -> Raw {
        Raw::from_stream(TcpStream::connect(server.addr).await.expect("connect"))
    }

    /// Wraps a connected stream, e.g. one bound to another source address.
    pub fn from_stream(stream: TcpStream) -> Raw {
        Raw {
            stream,
            buf: BytesMut::new(),
            decoder: FrameDecoder::new(MAX_SERVER_FRAME),
        }
    }

    /// Connects and completes the handshake.
    pub async fn greeted(server: &TestServer) -> Raw {
        let mut raw = Raw::connect(server).await;
        raw.send(&ClientMsg::Hello {
            version: PROTOCOL_VERSION,
            agent: "test".into(),
            features: Vec::new(),
        })
        .await;
        assert!(matches!(raw.next().await, Some(ServerMsg::Hello { .. })));
        raw
    }

    pub async fn send(&mut self, msg: &ClientMsg) {
        self.write(&encode_frame(msg)).await;
    }

    pub async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Writes a frame with a correct length prefix around `body`.
    pub async fn write_body(&mut self, body: &[u8]) {
        let mut frame = (body.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(body);
        self.write(&frame).await;
    }

    /// The next message, or `None` at EOF/reset. Panics at the deadline.
    pub async fn next(&mut self) -> Option<ServerMsg> {
        let fut = async {
            loop {
                if let Ok(Some(body)) = self.decoder.decode(&mut self.buf) {
                    return Some(decode::<ServerMsg>(&body).expect("server sends valid messages"));
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(DEADLINE, fut)
            .await
            .expect("timed out reading from server")
    }

    /// Expects an error frame with `code` and `fatal`; returns its text.
    pub async fn expect_error(&mut self, code: ErrorCode, fatal: bool) -> String {
        loop {
            match self.next().await {
                Some(ServerMsg::Error {
                    code: c,
                    text,
                    fatal: f,
                    ..
                }) => {
                    assert_eq!((c, f), (code, fatal), "unexpected error frame: {text}");
                    return text;
                }
                Some(_) => {} // ordinary traffic queued before the error
                None => panic!("connection closed before error {code}"),
            }
        }
    }

    /// Expects the server to close the connection (after any remaining frames).
    pub async fn expect_closed(&mut self) {
        while let Some(msg) = self.next().await {
            // Frames queued before the close may still arrive; a second
            // error would mean the server kept going after a fatal one.
            assert!(
                !matches!(msg, ServerMsg::Error { .. }),
                "expected close, got {msg:?}"
            );
        }
    }
}

/// A UDP port nobody on loopback is using right now, for a test's private
/// multicast group: parallel tests never hear each other.
pub fn free_udp_port() -> u16 {
    chatty_harness::loopback::free_udp_port().expect("bind a probe socket")
}

/// Cluster settings for tests: always loopback, always the given group port.
pub fn loopback_cluster(name: &str, group_port: u16) -> ClusterConfig {
    ClusterConfig {
        name: name.into(),
        transport: TransportConfig {
            iface: Ipv4Addr::LOCALHOST.into(),
            iface_index: 0,
            udp_port: 0,
            group: SocketAddrV4::new(Ipv4Addr::new(239, 255, 77, 77), group_port).into(),
            multicast: true,
        },
        peers: Vec::new(),
        membership: MembershipConfig::default(),
        ..ClusterConfig::default()
    }
}

/// A server config with no flood limit and the given cluster.
pub fn clustered(cluster: ClusterConfig) -> ServerConfig {
    ServerConfig {
        rate_limit: RateLimit::OFF,
        cluster: Some(cluster),
        ..ServerConfig::default()
    }
}

/// The member names `server`'s status lists (sorted), asked on a fresh
/// connection.
pub async fn member_names(server: &TestServer) -> Vec<String> {
    let mut probe = Client::connect(&server.addr_string()).await.unwrap();
    probe
        .status()
        .await
        .unwrap()
        .members
        .into_iter()
        .map(|m| m.name)
        .collect()
}

/// Waits until `server`'s status lists exactly these member names.
pub async fn wait_members_named(server: &TestServer, names: &[&str]) {
    let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    want.sort();
    let what = format!("members {want:?}");
    status_until(&server.addr_string(), &what, |r| names_in(r) == want).await;
}

/// Asks `addr` for its `status` (on a connection of its own, not in the
/// chat, so nothing else arrives first) until `done` holds; panics naming
/// `what` at the deadline. Works for in-process and real servers alike.
pub async fn status_until(
    addr: &str,
    what: &str,
    mut done: impl FnMut(&StatusReport) -> bool,
) -> StatusReport {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let mut probe = Client::connect(addr).await.expect("connect");
        let report = probe.status().await.expect("status");
        if done(&report) {
            return report;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never: {what} (servers {:?}, members {:?})",
            report.servers,
            names_in(&report)
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // poll, bounded by the deadline
    }
}

/// The member names in a status report (sorted, as the server lists them).
pub fn names_in(report: &StatusReport) -> Vec<String> {
    report.members.iter().map(|m| m.name.clone()).collect()
}

/// Floods the chat (1,000-byte messages, in batches of 16) until the member
/// `Sloth`, who never reads, is evicted; asserts that everyone else saw it
/// leave as too slow. A `Watcher` and the `Sender` itself both read, and the
/// flood waits for both after every batch, so on a loaded machine only the
/// member that does not read can fall a whole queue behind. Returns how
/// many messages it took. The server's queue should be small (e.g. 32).
pub async fn flood_until_sloth_is_evicted(server: &TestServer) -> u64 {
    const BATCH: u64 = 16;
    const MAX_BATCHES: u64 = 2_000; // 32 MB at most: far beyond loopback buffers
    let (mut watcher_rx, _watcher_tx) = joined(server, "Watcher").await.split();
    let (mut sender_rx, mut sender_tx) = joined(server, "Sender").await.split();
    let (echoed_tx, mut echoed) = watch::channel(0u64);
    let drain = tokio::spawn(async move {
        let mut count = 0;
        while let Ok(Some(msg)) = sender_rx.recv().await {
            if matches!(msg, ServerMsg::Message { .. }) {
                count += 1;
                let _ = echoed_tx.send(count);
            }
        }
    });
    let (seen_tx, mut seen) = watch::channel((0u64, None::<LeaveReason>));
    let watcher = tokio::spawn(async move {
        let (mut count, mut sloth_left) = (0, None);
        while let Ok(Some(msg)) = watcher_rx.recv().await {
            match msg {
                ServerMsg::Message { .. } => count += 1,
                ServerMsg::Left { name, reason, .. } if name == "Sloth" => {
                    sloth_left = Some(reason)
                }
                _ => {}
            }
            let _ = seen_tx.send((count, sloth_left));
        }
    });
    let big = "x".repeat(1000);
    let mut sent = 0;
    for _ in 0..MAX_BATCHES {
        if seen.borrow().1.is_some() {
            break;
        }
        for _ in 0..BATCH {
            sender_tx.say(&big).await.unwrap();
        }
        sent += BATCH;
        tokio::time::timeout(
            DEADLINE,
            seen.wait_for(|(count, left)| *count >= sent || left.is_some()),
        )
        .await
        .expect("watcher keeps up")
        .expect("watcher still connected");
        if seen.borrow().1.is_none() {
            tokio::time::timeout(DEADLINE, echoed.wait_for(|n| *n >= sent))
                .await
                .expect("sender reads its echoes")
                .expect("sender still connected");
        }
    }
    let reason = seen.borrow().1;
    assert_eq!(
        reason,
        Some(LeaveReason::TooSlow),
        "Sloth evicted after {sent} messages"
    );
    drain.abort();
    watcher.abort();
    sent
}

/// The texts of the chat messages among `msgs`, in order.
pub fn message_texts(msgs: &[ServerMsg]) -> Vec<&str> {
    msgs.iter()
        .filter_map(|m| match m {
            ServerMsg::Message { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}
