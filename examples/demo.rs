//! A self-contained demo on loopback: starts a Chatty server, has three
//! people chat, prints what one of them sees, and shuts the server down.
//!
//! ```text
//! cargo run --example demo            # scripted conversation, then exit
//! cargo run --example demo -- --stay  # keep the server up for your own clients
//! ```

use std::time::Duration;

use chatty::client::render::render;
use chatty::client::Client;
use chatty::protocol::ServerMsg;
use chatty::server::{Server, ServerConfig};
use tokio::sync::oneshot;

const SCRIPT: &[(&str, &str)] = &[
    ("Leo", "hello"),
    ("Ann", "hi Leo! welcome to Chatty"),
    ("Max", "is this the LAN chat?"),
    ("Ann", "yes: no configuration, just start it"),
    ("Leo", "nice. bye for now"),
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let stay = std::env::args().any(|a| a == "--stay");
    let server = Server::bind("127.0.0.1:0", ServerConfig::default()).await?;
    let addr = server.local_addr().to_string();
    println!("listening on {addr}");
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));

    // Ann's view of the chat is what we print.
    let mut ann = Client::connect(&addr).await?;
    let welcome = ann.join("Ann").await?;
    println!("(showing what Ann sees; {} online)", welcome.members.len());
    let (mut ann_rx, mut ann_tx) = ann.split();
    let printer = tokio::spawn(async move {
        while let Ok(Some(msg)) = ann_rx.recv().await {
            for line in render(&msg, "Ann") {
                println!("{line}");
            }
            if matches!(msg, ServerMsg::Shutdown { .. }) {
                break;
            }
        }
    });

    let mut leo = Client::connect(&addr).await?;
    leo.join("Leo").await?;
    let mut max = Client::connect(&addr).await?;
    max.join("Max").await?;
    for (who, text) in SCRIPT {
        tokio::time::sleep(Duration::from_millis(300)).await; // pacing for people to read
        match *who {
            "Leo" => leo.say(text).await?,
            "Max" => max.say(text).await?,
            _ => ann_tx.say(text).await?,
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    leo.leave().await?;

    if stay {
        println!(
            "\nserver stays up: chat with `cargo run -- client {addr} --name You`; Ctrl-C stops it"
        );
        tokio::signal::ctrl_c().await?;
    } else {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let _ = stop.send(());
    running.await??;
    let _ = tokio::time::timeout(Duration::from_secs(2), printer).await;
    drop(max);
    Ok(())
}
