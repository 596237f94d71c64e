//! Icecast-protocol sources: `PUT` (with `Expect: 100-continue`) or `SOURCE` requests to
//! `/ingest/...` that carry no `Content-Length` and no `Transfer-Encoding`, after which
//! the source streams raw audio on the connection until it closes. That is what
//! ffmpeg's `icecast://` output (and Icecast source clients generally) send; HTTP/1.1
//! reads such a request as having an empty body and the audio as the next request, so
//! hyper cannot serve it. The accept loop peeks at each cleartext connection: one that
//! starts like an ingest request is read here; if its head turns out to frame a body
//! the HTTP way (chunked or sized), the head is replayed into hyper unchanged.
//!
//! The request head is parsed with `httparse` (hyper's own parser); only the framing
//! decision and the Icecast replies are written here.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::state::AppState;

/// Largest request head accepted from a source.
const MAX_HEAD: usize = 16 * 1024;

/// Whether a connection's first bytes look like an ingest request (peeked, not read).
pub(crate) fn looks_like_ingest(first: &[u8]) -> bool {
    [&b"PUT /ingest/"[..], b"SOURCE /ingest/", b"POST /ingest/"]
        .iter()
        .any(|p| first.starts_with(p) || (first.len() < p.len() && p.starts_with(first)))
}

/// What to do with a connection whose head was read here.
pub(crate) enum Outcome {
    /// Served as an Icecast source (the connection is finished).
    Done,
    /// An ordinary HTTP request: serve `io` (the head replayed in front of the socket).
    Http(Replay),
}

/// Reads the request head; serves an Icecast source to its end, or hands back the
/// connection for hyper.
pub(crate) async fn serve(
    mut stream: TcpStream,
    st: Arc<AppState>,
    head_timeout: Duration,
) -> io::Result<Outcome> {
    let mut buf = BytesMut::with_capacity(1024);
    let head_len = tokio::time::timeout(head_timeout, async {
        loop {
            if let Some(n) = head_end(&buf) {
                return Ok(n);
            }
            if buf.len() >= MAX_HEAD {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "head too large"));
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    })
    .await
    .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?;
    let head_len = match head_len {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            let _ = reply(&mut stream, "431 Request Header Fields Too Large", "").await;
            return Ok(Outcome::Done);
        }
        Err(e) => return Err(e),
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let parsed = req.parse(&buf[..head_len]);
    let (Ok(httparse::Status::Complete(_)), Some(method), Some(path)) =
        (parsed, req.method, req.path)
    else {
        let _ = reply(&mut stream, "400 Bad Request", "malformed request head\n").await;
        return Ok(Outcome::Done);
    };
    let framed = req.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("content-length")
            || h.name.eq_ignore_ascii_case("transfer-encoding")
    });
    if framed || !path.starts_with("/ingest/") {
        return Ok(Outcome::Http(Replay {
            head: buf.freeze(),
            stream,
        }));
    }
    let mut map = HeaderMap::new();
    for h in req.headers.iter() {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) {
            map.append(n, v);
        }
    }
    let expect_continue = map
        .get("expect")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::PUT);
    let target = path
        .strip_prefix("/ingest/")
        .unwrap_or("")
        .split('?')
        .next()
        .unwrap_or("")
        .to_owned();
    // Audio the source sent right behind its head, then the rest of the connection.
    let early = buf.split_off(head_len).freeze();
    let (read, write) = stream.into_split();
    let write = Arc::new(tokio::sync::Mutex::new(write));
    let body = Body::from_stream(SourceBody {
        early: (!early.is_empty()).then_some(early),
        read,
        continue_to: expect_continue.then(|| write.clone()),
        sending: None,
    });
    let resp = crate::ingest::run((*st).clone(), method, target, map, body).await;
    let status = resp.status();
    let text = axum::body::to_bytes(resp.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let mut w = write.lock().await;
    let line = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let _ = reply(&mut *w, &line, &String::from_utf8_lossy(&text)).await;
    Ok(Outcome::Done)
}

/// End of the request head (after the blank line), if complete.
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

async fn reply<W: AsyncWrite + Unpin>(w: &mut W, status: &str, body: &str) -> io::Result<()> {
    let msg = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    w.write_all(msg.as_bytes()).await?;
    w.shutdown().await
}

type WriteHalf = Arc<tokio::sync::Mutex<tokio::net::tcp::OwnedWriteHalf>>;
type Sending = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

/// The source's audio as a request body. `100 Continue` goes out on the first poll, i.e.
/// only once the handler has accepted the stream key and starts reading (as hyper does).
struct SourceBody {
    early: Option<Bytes>,
    read: tokio::net::tcp::OwnedReadHalf,
    continue_to: Option<WriteHalf>,
    sending: Option<Sending>,
}

impl futures_util::Stream for SourceBody {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(w) = this.continue_to.take() {
            this.sending = Some(Box::pin(async move {
                w.lock()
                    .await
                    .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                    .await
            }));
        }
        if let Some(f) = this.sending.as_mut() {
            match f.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Ok(())) => this.sending = None,
            }
        }
        if let Some(b) = this.early.take() {
            return Poll::Ready(Some(Ok(b)));
        }
        let mut buf = [0u8; 8192];
        let mut rb = ReadBuf::new(&mut buf);
        match Pin::new(&mut this.read).poll_read(cx, &mut rb) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(())) if rb.filled().is_empty() => Poll::Ready(None),
            Poll::Ready(Ok(())) => Poll::Ready(Some(Ok(Bytes::copy_from_slice(rb.filled())))),
        }
    }
}

/// A connection whose first bytes were already read: they are read again first.
pub(crate) struct Replay {
    head: Bytes,
    stream: TcpStream,
}

impl AsyncRead for Replay {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.head.is_empty() {
            let n = self.head.len().min(buf.remaining());
            let chunk = self.head.split_to(n);
            buf.put_slice(&chunk);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Replay {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_requests_are_recognised_from_their_first_bytes() {
        for yes in [
            &b"PUT /ingest/radio HTTP/1.1\r\n"[..],
            b"SOURCE /ingest/k",
            b"POST /ingest/",
            b"PUT /in",
            b"SOU",
        ] {
            assert!(looks_like_ingest(yes), "{}", String::from_utf8_lossy(yes));
        }
        for no in [
            &b"GET /demo/master.m3u8"[..],
            b"PRI * HTTP/2.0",
            b"PUT /other/x",
            b"\x16\x03\x01",
        ] {
            assert!(!looks_like_ingest(no), "{}", String::from_utf8_lossy(no));
        }
        assert_eq!(head_end(b"PUT / HTTP/1.1\r\nA: b\r\n\r\nAUDIO"), Some(24));
        assert_eq!(head_end(b"PUT / HTTP/1.1\r\nA: b\r\n"), None);
    }
}
