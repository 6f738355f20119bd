//! A scripted web server for what two real servers cannot be made to do on
//! cue: send the page one line twice under two ids, as after a mass
//! failover (a line the dead server showed but relayed to nobody, resent
//! by its sender and numbered anew by a survivor, PROTOCOL.md 12.5). It
//! serves the page the server binary serves (`chatty::web::assets`) on
//! 127.0.0.1, and on `/ws` speaks the protocol from a script with the
//! library's own frame types, so the bytes are the real server's.
//!
//! The cids are beyond 2^53, where neighbours collide as doubles. The
//! script's lines are in [`SCRIPT`], its private lines (one of them
//! twice) in [`PRIVATE_SCRIPT`]; then a large `#lobby`'s live count
//! ([`LIVE_COUNT`]) for the sidebar; its last line tells whether the page
//! answered a `ping` with the nonce exact (also beyond 2^53).

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chatty::protocol::{
    decode, encode_frame, ClientMsg, MessageId, RoomState, ServerId, ServerMsg, FEATURE_ACK, LOBBY,
};
use std::net::SocketAddr;

/// 2^60: every cid and nonce of the script is this plus a little.
const BIG: u64 = 1 << 60;

/// The other member, whose lines the script sends.
const CY: &str = "Cy";

/// (sender, text, cid, whether the page must show it), in the order sent
/// after the `history` line and the page's own `joined`. A line not shown
/// is a repeat of an earlier pair under a new id.
pub const SCRIPT: &[(&str, &str, Option<u64>, bool)] = &[
    (CY, "neighbour one", Some(BIG + 1), true),
    (CY, "neighbour two", Some(BIG + 2), true),
    (CY, "neighbour one", Some(BIG + 1), false),
    (CY, "said before you came", Some(BIG), false),
    ("Bo", "same cid, another sender", Some(BIG + 1), true),
    (CY, "no cid", None, true),
    (CY, "no cid", None, true),
];

/// Private lines from Cy to the page, sent after [`SCRIPT`]: (text, cid,
/// whether the page must show it in Cy's conversation). The second is the
/// first resent by Cy after a failover and numbered anew.
pub const PRIVATE_SCRIPT: &[(&str, Option<u64>, bool)] = &[
    ("psst", Some(BIG + 3), true),
    ("psst", Some(BIG + 3), false),
    ("psst again", Some(BIG + 4), true),
];

/// The `history` line the page gets before its own `joined`.
pub const HISTORY: (&str, &str, u64) = (CY, "said before you came", BIG);

/// The nonce of the script's `ping`.
const NONCE: u64 = BIG + 7;

/// The live count the script sends for `#lobby` (PROTOCOL.md 17.11).
pub const LIVE_COUNT: u32 = 7777;

/// The last line: the pong's nonce came back exact.
pub const PONG_EXACT: &str = "end of script: the pong's nonce was exact";

/// Starts the fake on 127.0.0.1 in the current runtime; its web address.
pub async fn start() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the fake web server");
    let addr = listener.local_addr().expect("its address");
    let app = Router::new()
        .route("/", get(chatty::web::assets::index))
        .route("/assets/{file}", get(chatty::web::assets::file))
        .route("/ws", get(upgrade));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

async fn upgrade(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|socket| async move {
        let _ = Script::new(socket).run().await;
    })
}

/// One page's conversation.
struct Script {
    socket: WebSocket,
    me: ServerId,
    seq: u64,
}

/// The socket closed.
struct Closed;

impl Script {
    fn new(socket: WebSocket) -> Script {
        Script {
            socket,
            me: ServerId::random(),
            seq: 0,
        }
    }

    async fn send(&mut self, msg: ServerMsg) -> Result<(), Closed> {
        // A TCP frame without its length prefix (PROTOCOL.md 3.2).
        let frame = encode_frame(&msg).slice(4..);
        self.socket
            .send(Message::Binary(frame))
            .await
            .map_err(|_| Closed)
    }

    async fn recv(&mut self) -> Result<ClientMsg, Closed> {
        loop {
            match self.socket.recv().await {
                Some(Ok(Message::Binary(body))) => {
                    return decode::<ClientMsg>(&body).map_err(|_| Closed)
                }
                Some(Ok(_)) => continue,
                _ => return Err(Closed),
            }
        }
    }

    /// The echo of a line of the page's, numbered twice, each time acked.
    async fn twice(
        &mut self,
        echo: impl Fn(MessageId) -> ServerMsg,
        cid: Option<u64>,
    ) -> Result<(), Closed> {
        for _ in 0..2 {
            let id = self.next_id();
            self.send(echo(id)).await?;
            if let Some(cid) = cid {
                self.send(ServerMsg::Ack { cid, id }).await?;
            }
        }
        Ok(())
    }

    fn next_id(&mut self) -> MessageId {
        self.seq += 1;
        MessageId {
            origin: self.me,
            seq: self.seq,
        }
    }

    fn line(id: MessageId, from: &str, text: &str, cid: Option<u64>) -> ServerMsg {
        ServerMsg::Message {
            id,
            from: from.into(),
            room: LOBBY.into(),
            text: text.into(),
            action: false,
            cid,
        }
    }

    fn private(id: MessageId, from: &str, to: &str, text: &str, cid: Option<u64>) -> ServerMsg {
        ServerMsg::Private {
            id,
            from: from.into(),
            to: to.into(),
            text: text.into(),
            action: false,
            cid,
        }
    }

    async fn run(mut self) -> Result<(), Closed> {
        let ClientMsg::Hello { .. } = self.recv().await? else {
            return Err(Closed);
        };
        self.send(ServerMsg::Hello {
            version: 2,
            server: self.me,
            agent: "fake-web".into(),
            keepalive_ms: 15_000,
            features: vec![FEATURE_ACK.into()],
            rate: None,
        })
        .await?;
        let ClientMsg::Join { name } = self.recv().await? else {
            return Err(Closed);
        };
        // #lobby is large (listed as a count), so that its live count
        // can be shown in the sidebar.
        self.send(ServerMsg::Welcome {
            server: self.me,
            name: name.clone(),
            members: vec![],
            servers: vec![],
            seen: vec![],
            web: vec![],
            room: LOBBY.into(),
            rooms: vec![RoomState {
                room: LOBBY.into(),
                topic: None,
                members: vec![],
                count: Some(2),
            }],
        })
        .await?;
        // The history line comes from a server lost since: another origin.
        let lost = MessageId {
            origin: ServerId::random(),
            seq: 1,
        };
        let (from, text, cid) = HISTORY;
        self.send(ServerMsg::History {
            id: lost,
            from: from.into(),
            room: LOBBY.into(),
            text: text.into(),
            action: false,
            cid: Some(cid),
        })
        .await?;
        let id = self.next_id();
        self.send(ServerMsg::Joined {
            id,
            name: name.clone(),
            server: self.me,
            room: LOBBY.into(),
        })
        .await?;
        for (from, text, cid, _) in SCRIPT {
            let id = self.next_id();
            self.send(Self::line(id, from, text, *cid)).await?;
        }
        for (text, cid, _) in PRIVATE_SCRIPT {
            let id = self.next_id();
            self.send(Self::private(id, CY, &name, text, *cid)).await?;
        }
        self.send(ServerMsg::RoomCount {
            room: LOBBY.into(),
            count: LIVE_COUNT,
        })
        .await?;
        self.send(ServerMsg::Ping { nonce: NONCE }).await?;
        // Then: answer the page's lines as a server does, and its pings.
        loop {
            match self.recv().await? {
                ClientMsg::Pong { nonce } => {
                    let text = if nonce == NONCE {
                        PONG_EXACT.to_string()
                    } else {
                        format!("end of script: the pong's nonce was {nonce}, not {NONCE}")
                    };
                    let id = self.next_id();
                    self.send(Self::line(id, "fake", &text, None)).await?;
                }
                ClientMsg::Ping { nonce } => self.send(ServerMsg::Pong { nonce }).await?,
                // Numbered and acked; then numbered anew and acked again,
                // as a survivor that never had the line does with its
                // resend: the page shows it once.
                ClientMsg::Send { text, cid, .. } => {
                    let echo = |id| Self::line(id, &name, &text, cid);
                    self.twice(echo, cid).await?;
                }
                ClientMsg::Private { to, text, cid, .. } => {
                    let echo = |id| Self::private(id, &name, &to, &text, cid);
                    self.twice(echo, cid).await?;
                }
                _ => {}
            }
        }
    }
}
