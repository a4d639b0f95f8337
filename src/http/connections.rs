//! Which connections the server holds, and for how long: the listen backlog,
//! `--web.max-connections`, `--web.idle-timeout`, the header read timeout and the
//! descriptor limit.
//!
//! Every accepted connection gets a [`Slot`] in [`Connections`] until its task ends. A slot
//! knows whether a request is in flight and since when the connection has been idle, which
//! gives:
//! - admission: while fewer than the limit are open, a new connection is simply taken; at
//!   the limit, the connection idle the longest (a keep-alive connection with no request in
//!   flight, or one that never sent a request) is closed to make room, and when every one is
//!   busy the new connection is closed at once. Idle clients thus cannot hold every
//!   descriptor and starve scrapes;
//! - timeouts, checked by the connection's own task: a new connection, or a keep-alive one
//!   that has started sending its next request, has [`HEADER_READ_TIMEOUT`] to finish the
//!   headers; a keep-alive connection waiting for its next request is closed after the idle
//!   timeout. (hyper's own header read timeout runs from the moment it waits for a request,
//!   idle time included, so it is off and this module keeps both apart.)
//!
//! Closing is graceful (hyper finishes a response it is writing), then forced after
//! [`CLOSE_GRACE`]. A connection task holds a permit until it ends: there are a quarter more
//! permits than connections allowed, so evictions need not wait for each victim to let go,
//! and the descriptors in use stay bounded (when all are taken, admission waits for one).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// How long a client has to send a request's headers: from the accept on a new connection,
/// from the first byte of the next request on a keep-alive one.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a connection asked to close may take to finish the response it is writing.
pub const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// How long admission waits for an evicted connection to let go of its descriptor.
const EVICTION_WAIT: Duration = Duration::from_secs(1);

/// Descriptors kept for everything but connections: a connection may take at most this
/// share of the soft NOFILE limit (plugins' pipes, the config watcher, logs, cgroup files).
const NOFILE_SHARE_DIVISOR: u64 = 2;

/// Connections the kernel may hold for us before we accept them (it caps this at
/// `net.core.somaxconn`). std and mio ask for 128, which a burst of clients overflows; a
/// SYN dropped then is retried only a second later, and that second goes to a scrape.
const LISTEN_BACKLOG: u32 = 4096;

/// A listener on `address` (`host:port`; the first of its addresses that can be bound).
pub async fn listen(address: &str) -> io::Result<TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host(address).await? {
        match listen_on(addr) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolves to nothing",
        )
    }))
}

/// A listener on `addr`, with address reuse (as std and mio) and a backlog of
/// [`LISTEN_BACKLOG`].
pub fn listen_on(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The limits the command line sets.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most connections open at once.
    pub max: usize,
    /// How long a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// See [`HEADER_READ_TIMEOUT`].
    pub header_timeout: Duration,
}

/// Raises the soft NOFILE limit to the hard limit, as Go programs do at start, and returns
/// the soft limit in force (`None` when it cannot be read).
pub fn raise_nofile_limit() -> Option<u64> {
    let (before, hard) = match rlimit::Resource::NOFILE.get() {
        Ok(limits) => limits,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the NOFILE limit");
            return None;
        }
    };
    let soft = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(soft) => soft,
        Err(e) => {
            tracing::warn!(error = %e, soft = before, hard, "cannot raise the NOFILE soft limit");
            before
        }
    };
    tracing::debug!(
        nofile = soft,
        before,
        hard,
        "NOFILE soft limit raised to the hard limit"
    );
    Some(soft)
}

/// `requested` connections, lowered to what the soft NOFILE limit `nofile` leaves room for
/// (half of it, at least one); logged when lowered.
pub fn cap_connections(requested: usize, nofile: Option<u64>) -> usize {
    let Some(nofile) = nofile else {
        return requested;
    };
    let room = usize::try_from(nofile / NOFILE_SHARE_DIVISOR)
        .unwrap_or(usize::MAX)
        .max(1);
    if requested > room {
        tracing::warn!(
            requested,
            max_connections = room,
            nofile,
            "--web.max-connections lowered to half the NOFILE limit"
        );
        return room;
    }
    requested
}

/// The open connections.
pub struct Connections {
    limits: Limits,
    /// One permit per connection task, open or closing: see [`permits`].
    permits: Arc<Semaphore>,
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    /// Connections not yet asked to close.
    open: HashMap<u64, Arc<Slot>>,
    /// Set by [`Connections::close_all`]: nothing is admitted any more.
    closed: bool,
}

/// One connection's state, shared by its task, its service and its I/O.
pub struct Slot {
    state: Mutex<State>,
    /// Asks the connection's task to close it.
    close: Notify,
    /// Tells the connection's task that its deadline moved (the phase changed).
    changed: Notify,
}

#[derive(Debug, Clone, Copy)]
struct State {
    phase: Phase,
    /// When `phase` began.
    since: Instant,
    /// Requests being handled (HTTP/1 handles one at a time; counted anyway).
    in_flight: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Accepted; no request received yet.
    New,
    /// A response was sent; waiting for the next request.
    Idle,
    /// The next request has started arriving; its headers are not complete.
    Reading,
    /// A request is being handled.
    Busy,
}

/// A connection taken by [`Connections::admit`]; gives its slot and permit back on drop.
pub struct Admitted {
    connections: Arc<Connections>,
    id: u64,
    slot: Arc<Slot>,
    _permit: OwnedSemaphorePermit,
}

/// Marks a request in flight on its connection until dropped.
pub struct Busy(Arc<Slot>);

impl Connections {
    /// No connection open yet.
    pub fn new(limits: Limits) -> Arc<Connections> {
        Arc::new(Connections {
            limits,
            permits: Arc::new(Semaphore::new(permits(limits.max))),
            table: Mutex::default(),
        })
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a new connection, closing the one idle the longest when the limit is reached;
    /// `None` when every connection is busy (or the server is shutting down): the caller
    /// closes the new one at once.
    pub async fn admit(self: &Arc<Self>) -> Option<Admitted> {
        {
            let mut table = self.table();
            if table.closed {
                return None;
            }
            if table.open.len() >= self.limits.max {
                let victim = table
                    .open
                    .iter()
                    .filter_map(|(id, s)| s.idle_since().map(|since| (since, *id)))
                    .min()
                    .map(|(_, id)| id);
                let Some(victim) = victim else {
                    tracing::debug!(
                        max_connections = self.limits.max,
                        "every connection busy; closing a new one"
                    );
                    return None;
                };
                if let Some(slot) = table.open.remove(&victim) {
                    tracing::debug!(
                        "connection limit reached; closing the connection idle the longest"
                    );
                    slot.close.notify_one();
                }
            }
        }
        // Normally free at once; after an eviction, free when the victim's task has ended.
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => tokio::time::timeout(EVICTION_WAIT, self.permits.clone().acquire_owned())
                .await
                .ok()?
                .ok()?,
        };
        let mut table = self.table();
        if table.closed {
            return None;
        }
        let id = table.next_id;
        table.next_id += 1;
        let slot = Arc::new(Slot {
            state: Mutex::new(State {
                phase: Phase::New,
                since: Instant::now(),
                in_flight: 0,
            }),
            close: Notify::new(),
            changed: Notify::new(),
        });
        table.open.insert(id, slot.clone());
        Some(Admitted {
            connections: self.clone(),
            id,
            slot,
            _permit: permit,
        })
    }

    /// Asks every connection to close and refuses new ones (the server is stopping).
    pub fn close_all(&self) {
        let mut table = self.table();
        table.closed = true;
        for (_, slot) in table.open.drain() {
            slot.close.notify_one();
        }
    }

    /// Resolves once every connection task has ended.
    pub async fn all_closed(&self) {
        let all = u32::try_from(permits(self.limits.max)).unwrap_or(u32::MAX);
        let _ = self.permits.acquire_many(all).await;
    }
}

/// Permits for `max` connections: a quarter more, for evicted ones still closing.
fn permits(max: usize) -> usize {
    let max = max.max(1);
    max.saturating_add((max / 4).max(1))
}

impl Admitted {
    /// The connection's slot.
    pub fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.connections.table().open.remove(&self.id);
    }
}

impl Slot {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Resolves when the connection is asked to close (eviction or shutdown).
    pub async fn close_requested(&self) {
        self.close.notified().await;
    }

    /// Resolves when the connection's deadline may have moved: see [`Slot::next_check`].
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Marks a request in flight until the returned guard drops.
    pub fn begin(self: &Arc<Self>) -> Busy {
        let mut s = self.state();
        s.in_flight += 1;
        s.phase = Phase::Busy;
        self.changed.notify_one();
        Busy(self.clone())
    }

    /// Bytes arrived: on a keep-alive connection waiting for its next request, that request
    /// has begun, and its header read timeout starts.
    fn on_read(&self) {
        let mut s = self.state();
        if s.phase == Phase::Idle {
            s.phase = Phase::Reading;
            s.since = Instant::now();
            self.changed.notify_one();
        }
    }

    /// Since when the connection has had no request in flight; `None` while busy.
    fn idle_since(&self) -> Option<Instant> {
        let s = self.state();
        (s.in_flight == 0).then_some(s.since)
    }

    /// When the connection's task should look at it again.
    pub fn next_check(&self, limits: &Limits) -> Instant {
        let s = *self.state();
        deadline(&s, limits).unwrap_or_else(|| Instant::now() + limits.idle_timeout)
    }

    /// Why the connection should be closed now, if it should.
    pub fn expired(&self, limits: &Limits, now: Instant) -> Option<&'static str> {
        let s = *self.state();
        let due = deadline(&s, limits)?;
        (now >= due).then_some(match s.phase {
            Phase::Idle => "idle timeout",
            _ => "header read timeout",
        })
    }
}

/// When a connection in state `s` times out; `None` while a request is in flight.
fn deadline(s: &State, limits: &Limits) -> Option<Instant> {
    match s.phase {
        Phase::Busy => None,
        Phase::New | Phase::Reading => Some(s.since + limits.header_timeout),
        Phase::Idle => Some(s.since + limits.idle_timeout),
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut s = self.0.state();
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.in_flight == 0 {
            s.phase = Phase::Idle;
            s.since = Instant::now();
            self.0.changed.notify_one();
        }
    }
}

/// A connection's stream that tells its slot when bytes arrive.
pub struct Watched<S> {
    inner: S,
    slot: Arc<Slot>,
}

impl<S> Watched<S> {
    /// Wraps `inner`, reporting reads to `slot`.
    pub fn new(inner: S, slot: Arc<Slot>) -> Watched<S> {
        Watched { inner, slot }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut me.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            me.slot.on_read();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize) -> Limits {
        Limits {
            max,
            idle_timeout: Duration::from_secs(60),
            header_timeout: HEADER_READ_TIMEOUT,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_connection_idle_the_longest_makes_room() {
        let c = Connections::new(limits(3));
        let new = c.admit().await.unwrap();
        tokio::time::advance(Duration::from_secs(1)).await;
        let kept = c.admit().await.unwrap();
        drop(kept.slot().begin());
        tokio::time::advance(Duration::from_secs(1)).await;
        let busy = c.admit().await.unwrap();
        let _request = busy.slot().begin();
        // Full: the never-used connection goes first, then the keep-alive one; each new
        // connection waits until the one it replaces has let go of its permit.
        let mut open = vec![busy];
        for victim in [new, kept] {
            let admitting = tokio::spawn({
                let c = c.clone();
                async move { c.admit().await }
            });
            victim.slot().close_requested().await;
            drop(victim);
            open.push(admitting.await.unwrap().expect("admitted"));
            assert_eq!(c.table().open.len(), 3);
            tokio::time::advance(Duration::from_secs(1)).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn admission_waits_while_too_many_evicted_connections_are_closing() {
        let c = Connections::new(limits(1));
        let a = c.admit().await.unwrap();
        // The spare permit: b is taken at once, a is asked to close.
        let b = c.admit().await.unwrap();
        a.slot().close_requested().await;
        // No spare left while a is still closing: c waits for it.
        let admitting = tokio::spawn({
            let c = c.clone();
            async move { c.admit().await }
        });
        b.slot().close_requested().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!admitting.is_finished());
        drop(a);
        assert!(admitting.await.unwrap().is_some());
        // A victim that never lets go: the new connection is refused after a while.
        let c2 = Connections::new(limits(1));
        let (_x, _y) = (c2.admit().await.unwrap(), c2.admit().await.unwrap());
        assert!(c2.admit().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn when_every_connection_is_busy_the_new_one_is_refused() {
        let c = Connections::new(limits(2));
        let a = c.admit().await.unwrap();
        let b = c.admit().await.unwrap();
        let (_x, _y) = (a.slot().begin(), b.slot().begin());
        assert!(c.admit().await.is_none());
        c.close_all();
        drop((a, b));
        assert!(c.admit().await.is_none(), "closed");
        tokio::time::timeout(Duration::from_secs(1), c.all_closed())
            .await
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn timeouts_follow_the_phase() {
        let c = Connections::new(Limits {
            max: 4,
            idle_timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(30),
        });
        let l = c.limits();
        let a = c.admit().await.unwrap();
        let s = a.slot().clone();
        let t0 = Instant::now();
        assert_eq!(s.next_check(&l), t0 + Duration::from_secs(30));
        assert_eq!(s.expired(&l, t0 + Duration::from_secs(29)), None);
        assert_eq!(
            s.expired(&l, t0 + Duration::from_secs(30)),
            Some("header read timeout")
        );
        let busy = s.begin();
        s.on_read();
        assert_eq!(s.expired(&l, t0 + Duration::from_secs(3600)), None);
        tokio::time::advance(Duration::from_secs(5)).await;
        drop(busy);
        let t1 = Instant::now();
        assert_eq!(s.next_check(&l), t1 + Duration::from_secs(60));
        assert_eq!(
            s.expired(&l, t1 + Duration::from_secs(60)),
            Some("idle timeout")
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        s.on_read();
        let t2 = Instant::now();
        assert_eq!(s.next_check(&l), t2 + Duration::from_secs(30));
    }

    #[test]
    fn the_limit_leaves_half_the_descriptors() {
        assert_eq!(cap_connections(512, Some(1024)), 512);
        assert_eq!(cap_connections(512, Some(256)), 128);
        assert_eq!(cap_connections(512, Some(1)), 1);
        assert_eq!(cap_connections(512, None), 512);
    }
}
