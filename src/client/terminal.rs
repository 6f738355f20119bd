//! `chatty client`: the chat as a person (or a script) uses it. This
//! module connects and joins, then hands over to the chat loop (`chat.rs`);
//! the exit statuses are part of the command's interface (README).

use std::io::IsTerminal;
use std::time::Duration;

use super::chat::Chat;
use super::connect::{connect_first, join, NotJoined, Servers};
use super::console::Console;
use super::link::{Conn, Link};
use super::render::clean;
use super::replies::{self, topic_line};
use super::survivors;
use super::Connector;

pub use super::exit::{EXIT_CONNECTION, EXIT_NAME_REFUSED, EXIT_OK, EXIT_SERVER_SHUTDOWN};

/// How long a client keeps trying to reach another server after losing
/// its own, unless `--failover-timeout` says otherwise.
pub const DEFAULT_FAILOVER_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the chat client: connects to the first reachable of `addrs` as
/// `name`, and fails over to another live server if that one is lost.
/// Every server, failover candidates included, is reached through
/// `connector` (plain TCP or TLS). Returns the exit status.
pub async fn run(
    addrs: &[String],
    name: &str,
    failover_timeout: Duration,
    connector: Connector,
) -> i32 {
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let mut console = match Console::new(interactive) {
        Ok(console) => console,
        Err(err) => {
            eprintln!("[ERROR] cannot set up the terminal: {err}");
            return EXIT_CONNECTION;
        }
    };
    let code = start(addrs, name, failover_timeout, connector, &mut console).await;
    console.finish();
    code
}

/// Connects and joins, then chats until the end.
async fn start(
    addrs: &[String],
    name: &str,
    timeout: Duration,
    connector: Connector,
    console: &mut Console,
) -> i32 {
    let Some((mut client, addr)) = connect_first(addrs, &connector, console).await else {
        return EXIT_CONNECTION;
    };
    let welcome = match join(&mut client, name, &addr, &connector, console).await {
        Ok(welcome) => welcome,
        Err(NotJoined::Connection) => return EXIT_CONNECTION,
        Err(NotJoined::NameRefused) => return EXIT_NAME_REFUSED,
        Err(NotJoined::ShuttingDown) => return EXIT_SERVER_SHUTDOWN,
    };
    let others: Vec<String> = welcome.members.iter().map(|m| clean(&m.name)).collect();
    console.print(&format!(
        "[SERVER] connected to {addr} as {}; {} online: {}",
        clean(&welcome.name),
        others.len(),
        others.join(", ")
    ));
    let announced = if welcome.servers.is_empty() {
        addrs.to_vec()
    } else {
        welcome.servers.clone()
    };
    let servers = Servers {
        addr,
        announced,
        given: addrs.to_vec(),
        connector,
        turn: survivors::draw_turn(),
    };
    for room in &welcome.rooms {
        if room.count.is_some() {
            console.print(&replies::room_state(room)[0]);
        }
        if let Some(topic) = &room.topic {
            console.print(&topic_line(&room.room, &topic.text, &topic.by));
        }
    }
    let mut chat = Chat::new(console, servers, welcome, timeout);
    chat.run(Link::Up(Conn::open(client))).await
}
