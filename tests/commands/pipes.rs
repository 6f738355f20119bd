//! The terminal client's commands with the real server, through pipes:
//! what a script sees keeps the documented lines exactly (no time in
//! front, the default room unnamed), `//text` says a line starting with
//! `/`, and commands answered locally — `/help`, an unknown command, a bad
//! argument — never reach anyone else.

use crate::common;

use chatty::client::Client;
use chatty::protocol::ServerMsg;
use common::free_udp_port;
use common::proc::{loopback_server, spawn, DEADLINE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_output_keeps_the_contract_and_local_commands_stay_local() {
    let server = loopback_server(free_udp_port(), &[]).await;
    let addr = server.addr().to_string();
    let mut ann = Client::connect(&addr).await.unwrap();
    ann.join("Ann").await.unwrap();

    let mut bob = spawn(&["client", &addr, "--name", "Bob"]);
    bob.write(concat!(
        "hello\n",
        "//shrug\n",
        "/frobnicate secret\n",
        "/join dev\n",
        "/msg Bob me\n",
        "/help\n",
        "marker\n",
        "exit\n",
    ))
    .await
    .unwrap();
    let out = bob.rest().await.unwrap();
    assert_eq!(bob.exit_code().await.unwrap(), 0, "{out:?}");

    // Local answers come at once, echoes after a round trip: each kind
    // keeps its own order.
    let said: Vec<&String> = out.iter().filter(|l| l.starts_with("[Bob] ")).collect();
    assert_eq!(
        said,
        ["[Bob] hello", "[Bob] /shrug", "[Bob] marker"],
        "{out:?}"
    );
    let errors: Vec<&String> = out.iter().filter(|l| l.starts_with("[ERROR]")).collect();
    assert_eq!(
        errors,
        [
            "[ERROR] unknown command /frobnicate; /help lists them",
            "[ERROR] room names start with #: try #dev",
            "[ERROR] Bob is you; /msg sends to someone else",
        ],
        "{out:?}"
    );
    assert!(out[0].starts_with("[SERVER] connected to"), "{out:?}");
    assert!(
        out.contains(&"[JOIN] Bob joined the chat".to_string()),
        "{out:?}"
    );
    assert_eq!(out.last().unwrap(), "[LEAVE] Bob left the chat");
    assert!(
        out.iter().any(|l| l.starts_with("[HELP] /join #room")),
        "{out:?}"
    );
    assert!(
        out.iter().all(|l| l.starts_with('[')),
        "no time in front of piped lines: {out:?}"
    );

    // Ann heard Bob's three lines, the slash one as typed, and nothing else.
    let mut heard = Vec::new();
    let listen = async {
        while let Ok(msg) = ann.next_reply().await {
            match msg {
                ServerMsg::Message { from, text, .. } if from == "Bob" => heard.push(text),
                ServerMsg::Left { name, .. } if name == "Bob" => return,
                _ => {}
            }
        }
    };
    tokio::time::timeout(DEADLINE, listen)
        .await
        .expect("Bob's leave reached Ann");
    assert_eq!(heard, ["hello", "/shrug", "marker"]);
}
