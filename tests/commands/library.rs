//! The client library's version-2 requests against a scripted server that
//! speaks version 2 (`common::fake`): each sends its frame and returns its
//! answer, passing by the chat traffic that comes first; refusals come
//! back as errors with the server's code.

use crate::common;

use chatty::client::{Client, ClientError};
use chatty::protocol::{ClientMsg, ErrorCode, ServerMsg, LOBBY};
use common::fake::{FakeServer, ANN, NOBODY, TAKEN};

/// Leo, joined to `fake`, whose hello and join the fake has seen.
async fn leo(fake: &FakeServer) -> Client {
    let mut leo = Client::connect(&fake.addr).await.unwrap();
    assert_eq!(leo.version(), 2);
    let welcome = leo.join("Leo").await.unwrap();
    assert_eq!(
        welcome.rooms.len(),
        1,
        "just the lobby: {:?}",
        welcome.rooms
    );
    assert_eq!(welcome.rooms[0].room, LOBBY);
    fake.until("the join", |m| matches!(m, ClientMsg::Join { .. }));
    leo
}

/// Something Ann says in the lobby, in the way of the next answer.
fn ann_talks(fake: &FakeServer) {
    fake.push(ServerMsg::Message {
        id: fake.next_id(),
        from: ANN.into(),
        text: "chatter".into(),
        room: LOBBY.into(),
        action: false,
        cid: None,
    });
}

fn refused_with(result: Result<impl std::fmt::Debug, ClientError>, want: ErrorCode) {
    match result {
        Err(ClientError::Refused { code, fatal, .. }) => {
            assert_eq!(code, want);
            assert!(!fatal);
        }
        other => panic!("expected error {want}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_are_entered_talked_in_and_parted() {
    let fake = FakeServer::start(2);
    let mut leo = leo(&fake).await;
    ann_talks(&fake);
    let state = leo.enter("#dev").await.unwrap();
    assert_eq!(state.room, "#dev");
    assert_eq!(state.members[0].name, "Leo");
    assert_eq!(
        fake.next(),
        ClientMsg::Enter {
            room: "#dev".into()
        }
    );

    leo.say_in("#dev", "hi dev").await.unwrap();
    leo.act("#dev", "waves").await.unwrap();
    leo.say_in(LOBBY, "hi all").await.unwrap();
    let send = |text: &str, room: Option<&str>, action| ClientMsg::Send {
        text: text.into(),
        room: room.map(Into::into),
        action,
        cid: None,
    };
    assert_eq!(fake.next(), send("hi dev", Some("#dev"), false));
    assert_eq!(fake.next(), send("waves", Some("#dev"), true));
    assert_eq!(
        fake.next(),
        send("hi all", None, false),
        "the lobby unnamed"
    );

    // The answer to part is one's own `left`; the echoes before it pass by.
    leo.part("#dev").await.unwrap();
    assert_eq!(
        fake.next(),
        ClientMsg::Part {
            room: "#dev".into(),
            text: None,
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_messages_and_nick_changes_wait_for_their_answer() {
    let fake = FakeServer::start(2);
    let mut leo = leo(&fake).await;
    ann_talks(&fake);
    let id = leo.private(ANN, "psst").await.unwrap();
    assert_eq!(id.origin, fake.id);
    assert!(
        matches!(fake.next(), ClientMsg::Private { to, text, .. } if to == ANN && text == "psst")
    );
    refused_with(leo.private(NOBODY, "hello?").await, ErrorCode::NO_SUCH_NAME);

    assert_eq!(leo.nick("Leonardo").await.unwrap(), "Leonardo");
    assert_eq!(leo.name(), Some("Leonardo"));
    refused_with(leo.nick(TAKEN).await, ErrorCode::NAME_TAKEN);
    assert_eq!(
        leo.name(),
        Some("Leonardo"),
        "a refused nick changes nothing"
    );
    // The new name is the one the echo of a private message names.
    leo.private(ANN, "it's me").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_and_queries_return_their_answers() {
    let fake = FakeServer::start(2);
    let mut leo = leo(&fake).await;
    leo.enter("#dev").await.unwrap();
    assert_eq!(leo.topic_get("#dev").await.unwrap(), None);
    ann_talks(&fake);
    let topic = leo
        .topic_set("#dev", "release friday")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (topic.text.as_str(), topic.by.as_str()),
        ("release friday", "Leo")
    );
    assert_eq!(
        leo.topic_get("#dev").await.unwrap().unwrap().text,
        "release friday"
    );

    let who = leo.who("#dev").await.unwrap();
    let names: Vec<&str> = who.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, [ANN, "Leo"]);
    let rooms = leo.rooms().await.unwrap();
    assert_eq!(rooms.len(), 2);
    assert_eq!(rooms[1].topic, "release friday");
    let whois = leo.whois(ANN).await.unwrap();
    assert_eq!((whois.name.as_str(), whois.server), (ANN, fake.id));
    assert_eq!(whois.rooms, [LOBBY]);
    refused_with(leo.whois(NOBODY).await, ErrorCode::NO_SUCH_NAME);

    let asked: Vec<ClientMsg> = fake
        .until(
            "whois",
            |m| matches!(m, ClientMsg::Whois { name } if name == NOBODY),
        )
        .into_iter()
        .filter(|m| !matches!(m, ClientMsg::Enter { .. }))
        .collect();
    assert_eq!(asked.len(), 7, "{asked:?}");
    assert!(
        matches!(&asked[1], ClientMsg::Topic { room, text: Some(t) } if room == "#dev" && t == "release friday")
    );
}
