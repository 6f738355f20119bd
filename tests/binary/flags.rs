//! The real binary's flags as a new user meets them: every mistake is
//! refused naming its flag and the fix, the client's defaults, `--help`,
//! completions, the man page, JSON logs.
//!
//! No traffic leaves loopback. An address this host lacks (198.51.100.77,
//! a documentation address) and a unicast `--group` are refused by the
//! flag checks before any socket exists; busy ports are ports this test
//! holds on 127.0.0.1; the silent `--peer` is a closed port on 127.0.0.1.

use crate::common;

use std::net::{TcpListener, UdpSocket};
use std::process::Output;

use common::free_udp_port;
use common::proc::{chatty, loopback_server};

/// `chatty server ARGS` on loopback, run to its exit.
async fn server_exits(args: &[&str]) -> Output {
    let group = format!("239.255.77.77:{}", free_udp_port());
    chatty()
        .command(["server", "--listen", "127.0.0.1:0", "--iface", "127.0.0.1"])
        .args(["--group", &group])
        .args(args)
        .output()
        .await
        .expect("run chatty")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_refused(out: &Output, code: i32, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "{needle:?} missing from: {err}");
    }
}

#[tokio::test]
async fn an_address_this_host_lacks_names_iface_and_what_it_has() {
    let out = server_exits(&["--iface", "198.51.100.77"]).await;
    assert_refused(
        &out,
        2,
        &["--iface 198.51.100.77", "no interface", "127.0.0.1"],
    );
    let out = server_exits(&["--iface", "nosuch0"]).await;
    assert_refused(
        &out,
        2,
        &["--iface nosuch0", "no interface of that name", "lo"],
    );
}

#[tokio::test]
async fn an_interface_name_is_taken() {
    let server = loopback_server(free_udp_port(), &["--iface", "lo"]).await;
    assert!(server.addr().ip().is_loopback());
}

#[tokio::test]
async fn a_unicast_group_is_refused_before_any_socket() {
    let out = server_exits(&["--group", "10.0.0.1:5000"]).await;
    assert_refused(
        &out,
        2,
        &[
            "--group 10.0.0.1:5000",
            "not a multicast address",
            "239.255",
        ],
    );
    let out = server_exits(&["--group", "[ff12::7877]:5000"]).await;
    assert_refused(&out, 2, &["--iface 127.0.0.1", "IPv6"]);
}

#[tokio::test]
async fn busy_ports_name_their_own_flag() {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = udp.local_addr().unwrap().port().to_string();
    let out = server_exits(&["--udp-port", &port]).await;
    assert_refused(&out, 1, &[&format!("--udp-port {port}"), "already in use"]);
    assert!(!stderr(&out).contains("--listen"), "{}", stderr(&out));

    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = tcp.local_addr().unwrap().to_string();
    let out = server_exits(&["--listen", &listen]).await;
    assert_refused(
        &out,
        1,
        &[&format!("--listen {listen}"), "in use", "another port"],
    );
}

#[tokio::test]
async fn key_files_that_are_not_keygen_files_say_so() {
    let dir = std::env::temp_dir().join(format!("chatty-flags-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let raw = dir.join("raw.key");
    std::fs::write(&raw, [0xa5u8; 32]).unwrap();
    let text = dir.join("text.key");
    std::fs::write(&text, "hunter2\n").unwrap();
    for (file, what) in [(&raw, "not text"), (&text, "64 hex digits")] {
        let out = server_exits(&["--key-file", file.to_str().unwrap()]).await;
        assert_refused(&out, 2, &["--key-file", what, "chatty keygen"]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_silent_peer_is_reported() {
    // A port nobody listens on: heartbeats to it go nowhere.
    let closed = free_udp_port();
    let peer = format!("127.0.0.1:{closed}");
    let mut server = loopback_server(free_udp_port(), &["--no-multicast", "--peer", &peer]).await;
    let line = server
        .wait_stderr("the silent-peer warning", |l| l.contains("nothing heard"))
        .await
        .unwrap();
    assert!(line.contains(&format!("--peer {peer}")), "{line}");
    assert!(line.contains("--udp-port"), "says what to check: {line}");
}

#[tokio::test]
async fn the_client_defaults_to_port_7878_and_the_login_name() {
    // 7878 on an address of loopback's /8 that nothing else uses.
    let ip = format!(
        "127.{}.{}.{}",
        100 + std::process::id() % 100,
        fastrand_byte(),
        7
    );
    let listen = format!("{ip}:7878");
    let _server = loopback_server(free_udp_port(), &["--listen", &listen]).await;
    let mut ann = chatty()
        .env("USER", "Tester")
        .spawn(["client", &ip])
        .expect("start chatty");
    ann.until("[JOIN] Tester joined the chat").await.unwrap();
    ann.write("exit\n").await.unwrap();
    assert_eq!(ann.exit_code().await.unwrap(), 0);
}

fn fastrand_byte() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        % 200
        + 20
}

#[tokio::test]
async fn help_is_grouped_wrapped_and_has_examples() {
    let out = chatty()
        .command(["server", "--help"])
        .env("COLUMNS", "100")
        .output()
        .await
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for heading in [
        "Network:",
        "Cluster:",
        "Limits:",
        "TLS:",
        "Testing aids:",
        "Logging:",
        "Examples:",
    ] {
        assert!(help.contains(heading), "{heading} missing:\n{help}");
    }
    assert!(help.find("--inject-loss") > help.find("Testing aids:"));
    let widest = help.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(widest <= 100, "a {widest}-character line:\n{help}");
    assert!(!help.contains("=]"), "no empty env values:\n{help}");
}

#[tokio::test]
async fn completions_and_the_man_page_are_printed() {
    let out = chatty()
        .command(["completions", "bash"])
        .output()
        .await
        .unwrap();
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success() && script.contains("--tls-cert"),
        "{script}"
    );
    let out = chatty().command(["man", "server"]).output().await.unwrap();
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.starts_with(".ie") || page.contains(".TH"), "{page}");
    assert!(
        page.contains("chatty\\-server") && page.contains("udp\\-port"),
        "{page}"
    );
    let out = chatty().command(["man", "nope"]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let mut server = chatty()
        .env("RUST_LOG", "info")
        .server([
            "--log-format",
            "json",
            "--listen",
            "127.0.0.1:0",
            "--iface",
            "127.0.0.1",
            "--group",
            &format!("239.255.77.77:{}", free_udp_port()),
        ])
        .await
        .unwrap();
    let line = server
        .wait_stderr("the interface line", |l| l.contains("cluster interface"))
        .await
        .unwrap();
    let value: serde_json::Value = serde_json::from_str(&line).expect(&line);
    assert_eq!(value["level"], "INFO", "{line}");
}

/// contrib/chatty.env sets only variables the server reads: a renamed
/// flag cannot leave the example behind.
#[tokio::test]
async fn the_example_environment_file_names_real_variables() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let env = std::fs::read_to_string(root.join("contrib/chatty.env")).unwrap();
    let out = chatty()
        .command(["server", "--help"])
        .output()
        .await
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let mut named = 0;
    for line in env.lines() {
        let line = line.trim_start_matches('#');
        let Some((var, _)) = line.split_once('=') else {
            continue;
        };
        if var.starts_with("CHATTY_") {
            assert!(
                help.contains(&format!("[env: {var}]")),
                "{var} is no server variable"
            );
            named += 1;
        }
    }
    assert!(named >= 8, "{named} variables");
    let unit = std::fs::read_to_string(root.join("contrib/chatty.service")).unwrap();
    assert!(unit.contains("EnvironmentFile=-/etc/chatty/chatty.env"));
}
