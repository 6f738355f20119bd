//! The web listener without a browser: the WebSocket re-framing (one frame
//! per binary message, judged by the session as on TCP), the Origin check,
//! `/metrics`, `/healthz`, the pages and the cluster snapshot. Everything on
//! 127.0.0.1, port 0.

use crate::common;

use std::net::SocketAddr;

use chatty::client::Client;
use chatty::protocol::{decode, ClientMsg, ErrorCode, ServerMsg, PROTOCOL_VERSION};
use chatty::server::{Server, ServerConfig};
use common::{wait_for_text, DEADLINE};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

/// A lone server with the web listener; dropping `stop` shuts it down.
struct Web {
    addr: SocketAddr,
    web: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start() -> Web {
    start_with(ServerConfig::default()).await
}

async fn start_with(config: ServerConfig) -> Web {
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = ServerConfig {
        web_addr: Some(http.local_addr().unwrap()),
        ..config
    };
    let server = Server::bind("127.0.0.1:0", config).await.unwrap();
    let addr = server.local_addr();
    let web = chatty::web::spawn(http, &server.sessions()).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    Web {
        addr,
        web,
        stop: Some(stop),
        task,
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn socket(web: SocketAddr, origin: Option<&str>) -> Result<Socket, String> {
    let mut request = format!("ws://{web}/ws").into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_str(origin).unwrap());
    }
    match tokio::time::timeout(DEADLINE, tokio_tungstenite::connect_async(request)).await {
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => panic!("websocket handshake deadline"),
    }
}

async fn send(socket: &mut Socket, msg: &ClientMsg) {
    let body = rmp_serde::to_vec_named(msg).unwrap();
    socket.send(Message::Binary(body.into())).await.unwrap();
}

/// The next server message; `None` once the socket closes.
async fn next(socket: &mut Socket) -> Option<ServerMsg> {
    loop {
        let message = tokio::time::timeout(DEADLINE, socket.next())
            .await
            .expect("deadline");
        match message {
            Some(Ok(Message::Binary(body))) => {
                return Some(decode::<ServerMsg>(&body).expect("one whole frame per message"))
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

async fn until(socket: &mut Socket, what: &str, pred: impl Fn(&ServerMsg) -> bool) -> ServerMsg {
    loop {
        match next(socket).await {
            Some(msg) if pred(&msg) => return msg,
            Some(_) => {}
            None => panic!("socket closed before {what}"),
        }
    }
}

fn hello() -> ClientMsg {
    ClientMsg::Hello {
        version: PROTOCOL_VERSION,
        agent: "web-test".into(),
        features: vec!["ack".into()],
    }
}

/// A plain HTTP/1.1 GET; the status code and the body.
async fn get(web: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(web).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {web}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut response))
        .await
        .expect("deadline")
        .unwrap();
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn a_websocket_chats_with_a_tcp_client_one_frame_per_message() {
    let web = start().await;
    let mut ws = socket(web.web, Some(&format!("http://{}", web.web)))
        .await
        .expect("same-origin socket");
    send(&mut ws, &hello()).await;
    assert!(matches!(
        next(&mut ws).await,
        Some(ServerMsg::Hello { version: 2, .. })
    ));
    send(&mut ws, &ClientMsg::Join { name: "Web".into() }).await;
    let welcome = until(&mut ws, "welcome", |m| {
        matches!(m, ServerMsg::Welcome { .. })
    })
    .await;
    let ServerMsg::Welcome { web: addrs, .. } = welcome else {
        unreachable!()
    };
    assert_eq!(
        addrs,
        vec![web.web.to_string()],
        "welcome lists the web address"
    );

    let mut ann = Client::connect(&web.addr.to_string()).await.unwrap();
    ann.join("Ann").await.unwrap();
    send(
        &mut ws,
        &ClientMsg::Send {
            text: "from the browser".into(),
            room: None,
            action: false,
            cid: Some(7),
        },
    )
    .await;
    until(&mut ws, "ack", |m| {
        matches!(m, ServerMsg::Ack { cid: 7, .. })
    })
    .await;
    wait_for_text(&mut ann, "from the browser").await;
    ann.say("from the terminal").await.unwrap();
    until(
        &mut ws,
        "Ann's line",
        |m| matches!(m, ServerMsg::Message { text, .. } if text == "from the terminal"),
    )
    .await;

    // Shutdown: the socket gets the session's notice, then closes.
    drop(web.stop);
    until(&mut ws, "shutdown", |m| {
        matches!(m, ServerMsg::Shutdown { .. })
    })
    .await;
    assert!(next(&mut ws).await.is_none());
    web.task.await.unwrap().unwrap();
}

/// Opens a socket, says hello, sends `message`; the server's answer.
async fn greeted_then(web: std::net::SocketAddr, message: Message) -> ServerMsg {
    let mut ws = socket(web, None).await.unwrap();
    send(&mut ws, &hello()).await;
    next(&mut ws).await.expect("hello");
    ws.send(message).await.unwrap();
    next(&mut ws).await.expect("an error")
}

/// Whether `msg` is the fatal error `code`.
fn is_fatal(msg: &ServerMsg, code: ErrorCode) -> bool {
    matches!(msg, ServerMsg::Error { code: c, fatal: true, .. } if *c == code)
}

#[tokio::test]
async fn bad_input_on_the_socket_gets_the_sessions_errors() {
    let web = start().await;
    // Not MessagePack: error 100, fatal, as on TCP.
    let mut ws = socket(web.web, None).await.unwrap();
    ws.send(Message::Binary(vec![0xc1].into())).await.unwrap();
    let msg = next(&mut ws).await.expect("an error");
    assert!(is_fatal(&msg, ErrorCode::BAD_FRAME), "{msg:?}");
    assert!(next(&mut ws).await.is_none());

    // A text message is no frame of this protocol: 100 too.
    let msg = greeted_then(web.web, Message::Text("hello".into())).await;
    assert!(is_fatal(&msg, ErrorCode::BAD_FRAME), "{msg:?}");

    // Over 64 KiB: 101, decided on the length alone.
    let msg = greeted_then(web.web, Message::Binary(vec![0x90; 70_000].into())).await;
    assert!(is_fatal(&msg, ErrorCode::FRAME_TOO_LARGE), "{msg:?}");

    // The server is unharmed.
    let mut ok = socket(web.web, None).await.unwrap();
    send(&mut ok, &hello()).await;
    assert!(matches!(next(&mut ok).await, Some(ServerMsg::Hello { .. })));
}

#[tokio::test]
async fn a_page_of_another_site_cannot_open_a_socket() {
    let web = start().await;
    for origin in ["http://evil.example", "null", "http://127.0.0.1:1"] {
        let refused = socket(web.web, Some(origin)).await.expect_err("refused");
        assert!(refused.contains("403"), "{origin}: {refused}");
    }
    socket(web.web, Some(&format!("http://{}", web.web)))
        .await
        .expect("the server's own page");
    socket(web.web, None)
        .await
        .expect("no Origin: not a browser");
}

#[tokio::test]
async fn metrics_healthz_pages_and_the_cluster_snapshot() {
    let web = start().await;
    let mut ann = Client::connect(&web.addr.to_string()).await.unwrap();
    ann.join("Ann").await.unwrap();
    let (status, body) = get(web.web, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, metrics) = get(web.web, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("# TYPE chatty_connections_open gauge"),
        "{metrics}"
    );
    assert!(metrics.contains("chatty_connections_open 1"), "{metrics}");
    assert!(metrics.contains("chatty_members 1"), "{metrics}");
    assert!(
        metrics.contains("chatty_duplicate_sends_total 0"),
        "{metrics}"
    );
    assert!(metrics.trim_end().ends_with("# EOF"), "{metrics}");
    let (status, page) = get(web.web, "/").await;
    assert_eq!(status, 200);
    assert!(page.contains("/assets/chat.js"));
    let (status, _) = get(web.web, "/assets/msgpack.min.js").await;
    assert_eq!(status, 200);
    let (status, _) = get(web.web, "/assets/../Cargo.toml").await;
    assert_eq!(status, 404);
    // The snapshot is refreshed every 250 ms: wait for Ann in it.
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        let (status, snapshot) = get(web.web, "/cluster.json").await;
        assert_eq!(status, 200);
        let snapshot: serde_json::Value = serde_json::from_str(&snapshot).unwrap();
        assert_eq!(snapshot["servers"][0]["me"], true);
        if snapshot["servers"][0]["clients"] == 1 {
            assert_eq!(snapshot["servers"][0]["rooms"], 1, "Ann is in #lobby");
            break;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "Ann never showed: {snapshot}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn with_a_certificate_the_web_port_speaks_https_only() {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
    use std::sync::Arc;

    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let tls = chatty::server::ServerTls::from_der(
        vec![cert.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .unwrap();
    let web = start_with(ServerConfig {
        tls: Some(tls),
        ..ServerConfig::default()
    })
    .await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(web.web).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut stream = tokio_rustls::TlsConnector::from(Arc::new(client))
        .connect(name, tcp)
        .await
        .expect("TLS handshake on the web port");
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        web.web
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut response))
        .await
        .expect("deadline")
        .ok();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("ok\n"), "{response}");

    // Plain HTTP gets no page.
    let (status, _) = tokio::time::timeout(DEADLINE, async {
        let mut stream = TcpStream::connect(web.web).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response).await;
        (response.starts_with(b"HTTP/1.1 200"), response)
    })
    .await
    .expect("deadline");
    assert!(!status, "plain HTTP served on a TLS port");
}

#[tokio::test]
async fn a_request_head_that_never_ends_is_closed() {
    let web = start_with(ServerConfig {
        handshake_timeout: std::time::Duration::from_millis(300),
        ..ServerConfig::default()
    })
    .await;
    let mut stream = TcpStream::connect(web.web).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut response))
        .await
        .expect("closed before the deadline")
        .ok();
    assert!(!response.starts_with(b"HTTP/1.1 200"));
}
