//! systemd integration, written by hand (the protocol is a few lines, no crate needed):
//!
//! - `sd_notify`: state changes (`READY=1`, `STOPPING=1`, `RELOADING=1`, `WATCHDOG=1`) sent as
//!   one datagram to the unix socket named by `$NOTIFY_SOCKET`, a path or, when it starts
//!   with `@`, an abstract socket. Without `$NOTIFY_SOCKET` (not started by systemd with
//!   `Type=notify`) every notification is a no-op that returns `Ok(false)`.
//! - The watchdog: `$WATCHDOG_USEC` (for us only if `$WATCHDOG_PID` is unset or ours) asks
//!   for `WATCHDOG=1` at least that often; [`spawn_watchdog`] sends it every half interval
//!   from a tokio task, so a stalled runtime stops the pings and systemd restarts us.
//! - Socket activation: `$LISTEN_PID` (must be ours) and `$LISTEN_FDS` (N descriptors from
//!   fd 3), adopted as TCP listeners by [`listeners_from_env`].
//!
//! Everything reads the environment of the process; nothing but [`listeners_from_env`]
//! changes it. The parsing is done by pure functions so that tests never touch the
//! process environment.

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::socket::{getsockopt, sockopt, SockType};
use nix::time::{clock_gettime, ClockId};
use std::ffi::OsStr;
use std::io;
use std::net::TcpListener;
use std::ops::Range;
use std::os::fd::{FromRawFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixDatagram};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: RawFd = 3;
/// How long one notification may block when systemd's socket queue is full.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// Sends `state` (one or more `KEY=VALUE` lines) to systemd. `Ok(false)` when
/// `$NOTIFY_SOCKET` is unset or empty, i.e. we were not started by systemd with
/// `Type=notify`; `Ok(true)` once the datagram was sent.
pub fn notify(state: &str) -> io::Result<bool> {
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(socket) if !socket.is_empty() => notify_to(&socket, state).map(|()| true),
        _ => Ok(false),
    }
}

/// Sends `state` as one datagram to `socket`: a filesystem path, or an abstract socket name
/// written with a leading `@` (systemd's convention for `$NOTIFY_SOCKET`).
fn notify_to(socket: &OsStr, state: &str) -> io::Result<()> {
    let name = socket.as_bytes();
    let addr = match name.first() {
        Some(b'@') => UnixAddr::from_abstract_name(&name[1..])?,
        Some(b'/') => UnixAddr::from_pathname(Path::new(socket))?,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("NOTIFY_SOCKET={socket:?} is neither an absolute path nor @abstract"),
            ))
        }
    };
    let sock = UnixDatagram::unbound()?;
    sock.set_write_timeout(Some(SEND_TIMEOUT))?;
    let sent = sock.send_to_addr(state.as_bytes(), &addr)?;
    if sent != state.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "notification datagram was truncated",
        ));
    }
    Ok(())
}

/// `READY=1`: startup is complete (listeners bound, plugin supervisors started).
pub fn ready() -> io::Result<bool> {
    notify("READY=1")
}

/// `STOPPING=1`: shutdown has begun.
pub fn stopping() -> io::Result<bool> {
    notify("STOPPING=1")
}

/// `RELOADING=1` with `MONOTONIC_USEC=` (the time of the request on `CLOCK_MONOTONIC`), as
/// systemd 253+ expects for `Type=notify-reload`; older versions ignore the second line.
/// Send [`ready`] once the reload is done.
pub fn reloading() -> io::Result<bool> {
    notify(&format!(
        "RELOADING=1\nMONOTONIC_USEC={}",
        monotonic_usec()?
    ))
}

/// Microseconds on `CLOCK_MONOTONIC`, the clock systemd compares `MONOTONIC_USEC` with.
fn monotonic_usec() -> io::Result<u64> {
    let now = clock_gettime(ClockId::CLOCK_MONOTONIC).map_err(io::Error::from)?;
    // CLOCK_MONOTONIC is never negative.
    Ok(now.tv_sec() as u64 * 1_000_000 + now.tv_nsec() as u64 / 1_000)
}

/// The watchdog interval systemd asks for (`WatchdogSec=`, passed as `$WATCHDOG_USEC`), or
/// `None` when there is none or it is meant for another process (`$WATCHDOG_PID` set and
/// not our pid).
pub fn watchdog_interval() -> Option<Duration> {
    let usec = std::env::var_os("WATCHDOG_USEC");
    let pid = std::env::var_os("WATCHDOG_PID");
    watchdog_from(usec.as_deref(), pid.as_deref(), std::process::id())
}

/// [`watchdog_interval`] on given values: `usec` must be a positive integer, and `pid`, when
/// present, must equal `me`.
fn watchdog_from(usec: Option<&OsStr>, pid: Option<&OsStr>, me: u32) -> Option<Duration> {
    let usec: u64 = usec?.to_str()?.parse().ok()?;
    if usec == 0 {
        return None;
    }
    if let Some(pid) = pid {
        if pid.to_str()?.parse::<u32>().ok()? != me {
            return None;
        }
    }
    Some(Duration::from_micros(usec))
}

/// Starts a tokio task sending `WATCHDOG=1` every `interval / 2` until the runtime shuts
/// down. Must be called within a tokio runtime. Because the pings come from a task, a
/// runtime that stops making progress stops them too, and systemd restarts the service.
/// A failed send is logged once until a send succeeds again.
pub fn spawn_watchdog(interval: Duration) -> tokio::task::JoinHandle<()> {
    let period = (interval / 2).max(Duration::from_millis(1));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tick.tick().await;
            match notify("WATCHDOG=1") {
                Ok(_) if failing => {
                    failing = false;
                    tracing::info!("systemd watchdog notifications are sent again");
                }
                Ok(_) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "cannot send WATCHDOG=1 to systemd");
                }
                Err(_) => {}
            }
        }
    })
}

/// Set once the passed descriptors were adopted, so that they are never owned twice.
static ADOPTED: AtomicBool = AtomicBool::new(false);

/// Takes the listening TCP sockets systemd passes (socket activation, a `.socket` unit):
/// `Ok(None)` when none were passed to this process (`$LISTEN_PID` or `$LISTEN_FDS` unset,
/// `$LISTEN_PID` not our pid, or no descriptors); else one listener per descriptor, in
/// order from fd 3, each made close-on-exec so that no child inherits it. A descriptor that
/// is not a listening TCP socket (e.g. `ListenDatagram=` or a unix socket) is an error.
///
/// Process-wide effect: this is the only function that changes the environment. Like
/// `sd_listen_fds(1)` it removes `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES`, so that
/// children do not take the variables for theirs and a second call returns `Ok(None)`.
/// Changing the environment races with other threads reading it, and until this returns
/// the descriptors are inherited by any child spawned: call it once, at startup, before
/// starting threads or children.
pub fn listeners_from_env() -> io::Result<Option<Vec<TcpListener>>> {
    let pid = std::env::var_os("LISTEN_PID");
    let fds = std::env::var_os("LISTEN_FDS");
    for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(var);
    }
    let Some(range) = passed_fds(pid.as_deref(), fds.as_deref(), std::process::id())? else {
        return Ok(None);
    };
    if ADOPTED.swap(true, Ordering::SeqCst) {
        return Ok(None);
    }
    range.map(adopt).collect::<io::Result<Vec<_>>>().map(Some)
}

/// The descriptors passed to process `me`, from `$LISTEN_PID` and `$LISTEN_FDS`.
fn passed_fds(
    pid: Option<&OsStr>,
    fds: Option<&OsStr>,
    me: u32,
) -> io::Result<Option<Range<RawFd>>> {
    let (Some(pid), Some(fds)) = (pid, fds) else {
        return Ok(None);
    };
    let invalid = |what: &str, v: &OsStr| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{what}={v:?} is not a number"),
        )
    };
    let pid: u32 = pid
        .to_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("LISTEN_PID", pid))?;
    if pid != me {
        return Ok(None);
    }
    let n: RawFd = fds
        .to_str()
        .and_then(|s| s.parse().ok())
        .filter(|n| *n >= 0 && *n <= RawFd::MAX - LISTEN_FDS_START)
        .ok_or_else(|| invalid("LISTEN_FDS", fds))?;
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(LISTEN_FDS_START..LISTEN_FDS_START + n))
}

/// Adopts passed descriptor `fd` as a listening TCP socket, close-on-exec.
fn adopt(fd: RawFd) -> io::Result<TcpListener> {
    let fail = |why: String| io::Error::new(io::ErrorKind::InvalidInput, format!("fd {fd}: {why}"));
    // Checked before wrapping it: the descriptor is open and is a socket.
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .map_err(|e| fail(format!("not an open descriptor ({e})")))?;
    if !link.as_os_str().as_bytes().starts_with(b"socket:") {
        return Err(fail(format!("not a socket but {}", link.display())));
    }
    // SAFETY: `fd` is open (its /proc/self/fd link exists) and was passed by systemd to
    // this process alone ($LISTEN_PID is our pid). Nothing else in the process owns it:
    // the variables naming it were removed before and `ADOPTED` lets only one call get
    // here, so the listener is its one owner and closing it on drop is sound.
    let listener = unsafe { TcpListener::from_raw_fd(fd) };
    fcntl(&listener, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(io::Error::from)?;
    let stream = getsockopt(&listener, sockopt::SockType).map_err(io::Error::from)?;
    if stream != SockType::Stream {
        return Err(fail(format!("a {stream:?} socket, not a stream socket")));
    }
    if !getsockopt(&listener, sockopt::AcceptConn).map_err(io::Error::from)? {
        return Err(fail("a socket that is not listening".to_string()));
    }
    listener
        .local_addr()
        .map_err(|_| fail("not an IPv4 or IPv6 socket".to_string()))?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn os(s: &str) -> Option<OsString> {
        Some(OsString::from(s))
    }

    #[test]
    fn notify_reaches_an_abstract_socket() {
        let name = format!("plugin-exporter-test-{}-abstract", std::process::id());
        let addr = UnixAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        notify_to(OsStr::new(&format!("@{name}")), "READY=1\nSTATUS=up").unwrap();
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).expect("datagram within 10 s");
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=up");
    }

    #[test]
    fn notify_reaches_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        notify_to(path.as_os_str(), "WATCHDOG=1").unwrap();
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).expect("datagram within 10 s");
        assert_eq!(&buf[..n], b"WATCHDOG=1");
    }

    #[test]
    fn notify_to_a_relative_or_missing_socket_fails() {
        let err = notify_to(OsStr::new("relative/path"), "READY=1").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let dir = tempfile::tempdir().unwrap();
        assert!(notify_to(dir.path().join("absent").as_os_str(), "READY=1").is_err());
    }

    #[test]
    fn monotonic_usec_is_the_monotonic_clock() {
        // std's Instant is CLOCK_MONOTONIC on Linux; ours must move with it.
        let a = monotonic_usec().unwrap();
        let t = std::time::Instant::now();
        std::thread::sleep(Duration::from_millis(20));
        let b = monotonic_usec().unwrap();
        let elapsed = t.elapsed().as_micros() as u64;
        assert!(b - a >= 20_000 && b - a <= elapsed + 20_000, "{a} {b}");
    }

    #[test]
    fn watchdog_interval_honours_watchdog_pid() {
        let us = Some(Duration::from_millis(200));
        let w = |u: &str, p: Option<&str>| {
            watchdog_from(os(u).as_deref(), p.and_then(os).as_deref(), 42)
        };
        assert_eq!(w("200000", None), us);
        assert_eq!(w("200000", Some("42")), us);
        assert_eq!(w("200000", Some("43")), None);
        assert_eq!(w("200000", Some("x")), None);
        assert_eq!(w("0", None), None);
        assert_eq!(w("-5", None), None);
        assert_eq!(w("soon", None), None);
        assert_eq!(watchdog_from(None, None, 42), None);
    }

    #[test]
    fn passed_fds_need_our_pid_and_a_count() {
        let f = |p: Option<&str>, n: Option<&str>| {
            passed_fds(p.and_then(os).as_deref(), n.and_then(os).as_deref(), 42)
        };
        assert_eq!(f(Some("42"), Some("2")).unwrap(), Some(3..5));
        assert_eq!(f(Some("42"), Some("0")).unwrap(), None);
        assert_eq!(f(Some("43"), Some("2")).unwrap(), None);
        assert_eq!(f(None, Some("2")).unwrap(), None);
        assert_eq!(f(Some("42"), None).unwrap(), None);
        assert!(f(Some("me"), Some("2")).is_err());
        assert!(f(Some("42"), Some("-1")).is_err());
        assert!(f(Some("42"), Some("many")).is_err());
    }

    #[test]
    fn adopting_a_descriptor_that_is_not_a_tcp_listener_fails() {
        // A connected unix socket: open, a socket, but neither listening nor TCP. `adopt`
        // owns (and closes) a socket from then on, so its ownership is handed over.
        use std::os::fd::{AsRawFd, IntoRawFd};
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let err = adopt(a.into_raw_fd()).unwrap_err();
        assert!(err.to_string().contains("not listening"), "{err}");
        // Not a socket: refused before it is wrapped, so it stays ours.
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        let err = adopt(file.as_raw_fd()).unwrap_err();
        assert!(err.to_string().contains("not a socket"), "{err}");
    }
}
