//! Limits on connections, enforced where they are accepted, before any HTTP is parsed:
//! - a cap on open connections: past it, new clients wait in the kernel's accept queue instead
//!   of each costing the server buffers and a task;
//! - a cap per client address (IPv6 per /64; trusted proxies exempt), so one address can never
//!   take every slot: a connection over it is closed at once, without holding up the others;
//! - a deadline for a request's headers (first byte and the blank line that ends them), and an
//!   idle timeout between requests on a kept-alive connection. poem 3.1 gives hyper no timer,
//!   so hyper's own `header_read_timeout` is off; the IO wrapper below keeps the time instead.

use std::{
    collections::HashMap,
    future::Future,
    io::{Error as IoError, ErrorKind, Result as IoResult},
    net::IpAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll, Waker},
    time::Duration,
};

use poem::{
    listener::Acceptor,
    web::{LocalAddr, RemoteAddr},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::{OwnedSemaphorePermit, Semaphore},
    time::{Instant, Sleep},
};

use super::{client_ip::canonical, ratelimit::key_of, ClientIpResolver};

/// How connections are limited (from `[server]`).
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub max: usize,
    pub per_ip: usize,
    pub header_timeout: Duration,
    pub keep_alive_timeout: Duration,
    /// Peers exempt from the per-address cap (all traffic comes through them).
    pub trusted: ClientIpResolver,
}

/// Open connections per client address; an address leaves the map with its last connection.
#[derive(Debug, Default)]
struct PerIp(Mutex<HashMap<IpAddr, usize>>);

impl PerIp {
    fn try_add(self: &Arc<Self>, key: IpAddr, cap: usize) -> Option<IpSlot> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let count = map.entry(key).or_insert(0);
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            map: Arc::clone(self),
            key,
        })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().map(|m| m.len()).unwrap_or(0)
    }
}

/// One connection's place under its address's cap, given back on drop.
struct IpSlot {
    map: Arc<PerIp>,
    key: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut map = self.map.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = map.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(&self.key);
            }
        }
    }
}

/// Accepts at most `limits.max` connections at a time, `limits.per_ip` per client address.
pub struct LimitedAcceptor<A> {
    inner: A,
    permits: Arc<Semaphore>,
    per_ip: Arc<PerIp>,
    limits: ConnectionLimits,
}

impl<A> LimitedAcceptor<A> {
    pub fn new(inner: A, limits: ConnectionLimits) -> Self {
        Self {
            inner,
            permits: Arc::new(Semaphore::new(limits.max)),
            per_ip: Arc::default(),
            limits,
        }
    }
}

impl<A: Acceptor> Acceptor for LimitedAcceptor<A> {
    type Io = Limited<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(
        &mut self,
    ) -> IoResult<(Self::Io, LocalAddr, RemoteAddr, poem::http::uri::Scheme)> {
        // Wait for a connection to close before taking the next one off the queue.
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(IoError::other)?;
        loop {
            let (io, local, remote, scheme) = self.inner.accept().await?;
            let peer = remote.as_socket_addr().map(|a| canonical(a.ip()));
            let slot = match peer {
                Some(ip) if !self.limits.trusted.trusts(ip) => {
                    match self.per_ip.try_add(key_of(ip), self.limits.per_ip) {
                        Some(slot) => Some(slot),
                        None => {
                            // Over its address's cap: dropping the socket closes it.
                            tracing::debug!(client_ip = %ip, "connection refused: per-address cap");
                            continue;
                        }
                    }
                }
                _ => None,
            };
            let io = Limited {
                io,
                _permit: permit,
                _slot: slot,
                phase: Phase::Headers,
                head: Head::default(),
                reader: None,
                deadline: Box::pin(tokio::time::sleep(self.limits.header_timeout)),
                header_timeout: self.limits.header_timeout,
                keep_alive_timeout: self.limits.keep_alive_timeout,
            };
            return Ok((io, local, remote, scheme));
        }
    }
}

/// Where a connection is in its request/response cycle, as far as timeouts care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Between requests (after a response): the next byte must come before the idle timeout.
    Idle,
    /// Reading a request's headers: they must be complete before the header deadline.
    Headers,
    /// Headers are in; the request body and the handler have their own limits.
    Request,
}

/// How far a request's head has come.
#[derive(Debug, Clone, Copy, Default)]
struct Head {
    /// Some non-empty line has ended (the request line, at least).
    lines: bool,
    /// The current line has bytes.
    in_line: bool,
}

/// A connection holding its places under the caps until it is dropped, and closed when the
/// client is too slow with its headers or idle too long between requests.
pub struct Limited<T> {
    io: T,
    _permit: OwnedSemaphorePermit,
    _slot: Option<IpSlot>,
    phase: Phase,
    head: Head,
    /// hyper may be waiting on a read begun before the response: woken when the phase changes,
    /// so that its next read watches the new deadline.
    reader: Option<Waker>,
    deadline: Pin<Box<Sleep>>,
    header_timeout: Duration,
    keep_alive_timeout: Duration,
}

impl<T> Limited<T> {
    /// Follows the bytes of a request's head until the empty line that ends it. Line ends may be
    /// CRLF or a bare LF (as hyper accepts); empty lines before the request line do not count,
    /// so they cannot end the deadline early.
    fn saw(&mut self, bytes: &[u8]) {
        if self.phase == Phase::Idle && !bytes.is_empty() {
            self.phase = Phase::Headers;
            self.head = Head::default();
            self.deadline
                .as_mut()
                .reset(Instant::now() + self.header_timeout);
        }
        if self.phase != Phase::Headers {
            return;
        }
        for &b in bytes {
            match b {
                b'\r' => {}
                b'\n' if self.head.in_line => {
                    self.head.in_line = false;
                    self.head.lines = true;
                }
                b'\n' if self.head.lines => {
                    self.phase = Phase::Request;
                    return;
                }
                b'\n' => {}
                _ => self.head.in_line = true,
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Limited<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<IoResult<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let this = &mut *self;
                this.saw(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Pending if self.phase == Phase::Request => {
                self.reader = Some(cx.waker().clone());
                Poll::Pending
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    let what = if self.phase == Phase::Idle {
                        "idle keep-alive connection"
                    } else {
                        "request headers not received in time"
                    };
                    tracing::debug!(what, "closing connection");
                    Poll::Ready(Err(IoError::new(ErrorKind::TimedOut, what)))
                }
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> Limited<T> {
    /// A response is going out: the connection is idle once it is written.
    fn wrote(&mut self, result: &Poll<IoResult<usize>>) {
        if let Poll::Ready(Ok(n)) = result {
            if *n > 0 {
                self.phase = Phase::Idle;
                self.deadline
                    .as_mut()
                    .reset(Instant::now() + self.keep_alive_timeout);
                if let Some(reader) = self.reader.take() {
                    reader.wake();
                }
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Limited<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<IoResult<usize>> {
        let result = Pin::new(&mut self.io).poll_write(cx, buf);
        self.wrote(&result);
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<IoResult<usize>> {
        let result = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.wrote(&result);
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<IoResult<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<IoResult<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limited(phase: Phase) -> Limited<()> {
        Limited {
            io: (),
            _permit: Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap(),
            _slot: None,
            phase,
            head: Head::default(),
            reader: None,
            deadline: Box::pin(tokio::time::sleep(Duration::from_secs(1))),
            header_timeout: Duration::from_secs(1),
            keep_alive_timeout: Duration::from_secs(1),
        }
    }

    #[tokio::test]
    async fn the_head_ends_at_its_first_empty_line() {
        for (chunks, done) in [
            (&[&b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..]][..], true),
            (&[b"GET / HTTP/1.1\r\nHost: a\r", b"\n\r", b"\n"], true),
            (&[b"GET / HTTP/1.1\nHost: a\n\n"], true),
            (&[b"\r\n\r\n\r\n"], false),
            (&[b"GET / HTTP/1.1\r\nHost: a\r\n"], false),
            (&[b"GET / HTTP/1.1\r\nHost: a\r\r\n"], false),
        ] {
            let mut conn = limited(Phase::Headers);
            for chunk in chunks {
                conn.saw(chunk);
            }
            assert_eq!(conn.phase == Phase::Request, done, "{chunks:?}");
        }
        // After a response, the next request's first byte starts a new head.
        let mut conn = limited(Phase::Idle);
        conn.saw(b"G");
        assert_eq!(conn.phase, Phase::Headers);
        conn.saw(b"ET / HTTP/1.1\r\n\r\n");
        assert_eq!(conn.phase, Phase::Request);
    }

    #[test]
    fn per_ip_counts_leave_no_entries_behind() {
        let per_ip = Arc::new(PerIp::default());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let a = per_ip.try_add(ip, 2).unwrap();
        let b = per_ip.try_add(ip, 2).unwrap();
        assert!(per_ip.try_add(ip, 2).is_none());
        drop(a);
        let c = per_ip.try_add(ip, 2).unwrap();
        drop(b);
        drop(c);
        assert_eq!(per_ip.len(), 0);
    }
}
