//! A plain TCP connection's socket, shared by its own task and by the
//! fan-out's direct writes (see `room::queue`'s `direct`).
//!
//! tokio's borrowed halves (`TcpStream::split`) need the stream by `&mut`,
//! so nothing else could write to it; here the stream sits in an `Arc` and
//! both halves are built on `&TcpStream`'s readiness API (`poll_*_ready`,
//! then `try_*`), the same edge-triggered protocol tokio's own halves use.
//! A write by someone else (the direct path) that meets `WouldBlock`
//! clears the write readiness like any other, so the task's next write
//! waits for the socket as usual.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// One half (read or write, or both) of a shared socket.
#[derive(Debug, Clone, Copy)]
pub struct SharedHalf<'a>(pub &'a TcpStream);

impl AsyncRead for SharedHalf<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.0.poll_read_ready(cx))?;
            match self.0.try_read_buf(buf) {
                Ok(_) => return Poll::Ready(Ok(())),
                // Readiness was stale: `try_read_buf` cleared it, so the
                // next `poll_read_ready` waits for the socket.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
    }
}

impl AsyncWrite for SharedHalf<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write_vectored(bufs) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                other => return Poll::Ready(other),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Half-closes: the client reads everything written, then EOF.
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(socket2::SockRef::from(self.0).shutdown(std::net::Shutdown::Write))
    }
}

/// A connected loopback pair for tests: the server's end (no Nagle, as a
/// session sets it) and the client's.
#[cfg(test)]
pub(crate) async fn loopback_pair() -> (TcpStream, TcpStream) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap());
    let (client, accepted) = tokio::join!(client, listener.accept());
    let (server, _) = accepted.unwrap();
    server.set_nodelay(true).unwrap();
    (server, client.unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn both_halves_work_and_shutdown_half_closes() {
        let (server, mut client) = loopback_pair().await;
        let mut read_half = SharedHalf(&server);
        let mut write_half = SharedHalf(&server);

        // More than the socket buffers hold, so writes meet WouldBlock and
        // must wait for readiness.
        let big = vec![7u8; 8 << 20];
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            client.write_all(b"hello").await.unwrap();
            client.read_to_end(&mut got).await.unwrap();
            got
        });
        let mut hello = [0u8; 5];
        read_half.read_exact(&mut hello).await.unwrap();
        assert_eq!(&hello, b"hello");
        write_half.write_all(&big).await.unwrap();
        write_half.shutdown().await.unwrap();
        let got = reader.await.unwrap();
        assert_eq!(got.len(), big.len(), "everything, then EOF");
    }
}
