//! Waiting for what a server sends to a library client, with a deadline.
//!
//! A client that waits for one message must still answer the server's
//! keepalive pings on the way, or a long wait ends in an idle disconnect.

use std::time::Duration;

use anyhow::bail;

use crate::api::{Client, ClientMsg, ServerMsg};

/// Reads messages until one satisfies `pred` (`what` names it in errors),
/// answering pings; fails after `limit`, at end of connection or on a read
/// error.
pub async fn wait_for(
    client: &mut Client,
    what: &str,
    limit: Duration,
    mut pred: impl FnMut(&ServerMsg) -> bool,
) -> anyhow::Result<ServerMsg> {
    let read = async {
        loop {
            match client.recv().await {
                Ok(Some(ServerMsg::Ping { nonce })) => {
                    let _ = client.send_msg(&ClientMsg::Pong { nonce }).await;
                }
                Ok(Some(msg)) if pred(&msg) => return Ok(msg),
                Ok(Some(_)) => {}
                Ok(None) => bail!("connection closed while waiting for {what}"),
                Err(err) => bail!("error while waiting for {what}: {err}"),
            }
        }
    };
    match tokio::time::timeout(limit, read).await {
        Ok(result) => result,
        Err(_) => bail!("timed out waiting for {what}"),
    }
}
