//! Idle connections cannot exhaust the exporter's descriptors: with a NOFILE limit of 1024
//! and 3,000 idle client connections, scrapes still succeed (the connection limit closes
//! the connection idle the longest to make room). `--web.max-connections` bounds the
//! connections and `--web.idle-timeout` closes idle keep-alive connections.
mod common;
use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

const DATA: &str = r#"{"type":"metrics","families":[{"name":"fd_value","type":"gauge","help":"A value.","samples":[{"value":1}]}]}"#;

/// Starts the exporter with one plugin and `extra` flags, through `sh` so that its soft and
/// hard NOFILE limits are `nofile` (when given).
fn start(nofile: Option<u32>, extra: &[&str]) -> Exporter {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    std::fs::write(&data, format!("{DATA}\n")).unwrap();
    let cfg = dir.path().join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  allow_root: true\nplugins:\n- {{name: {}, command: [\"{}\", \"{}\"]}}\n",
            unique("fd"),
            fixture("respond.sh"),
            data.display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new("sh");
    let script = match nofile {
        // `ulimit -n` sets both limits; sh fails loudly when it cannot.
        Some(n) => format!("ulimit -n {n} && exec \"$0\" \"$@\""),
        None => "exec \"$0\" \"$@\"".to_string(),
    };
    cmd.arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_plugin-exporter"))
        .arg("--config.file")
        .arg(&cfg)
        .args(["--web.listen-address", "127.0.0.1:0"])
        .args(["--log.format", "json", "--log.level", "debug"])
        .args(extra);
    Exporter::spawn_command(cmd, dir)
}

/// The exporter's address; always on loopback.
fn sock(e: &Exporter) -> SocketAddr {
    let a: SocketAddr = e.addr.parse().unwrap();
    assert!(a.ip().is_loopback(), "traffic stays on 127.0.0.1");
    a
}

/// One keep-alive GET of `path` on `s`: reads exactly one response (Content-Length bodies
/// only, which is what the exporter sends) and returns its status.
fn get_on(s: &mut TcpStream, addr: &str, path: &str) -> std::io::Result<u16> {
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        raw.extend_from_slice(&buf[..n]);
        let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        if raw.len() >= end + 4 + len {
            let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
            return Ok(status);
        }
    }
}

/// One scrape on a new connection, bounded by `within`.
fn scrape(e: &Exporter, within: Duration) -> std::io::Result<u16> {
    let mut s = TcpStream::connect_timeout(&sock(e), within)?;
    s.set_read_timeout(Some(within))?;
    s.set_write_timeout(Some(within))?;
    get_on(&mut s, &e.addr, "/metrics")
}

/// Waits until the server closes `s` (a read returns 0 or a reset); the time it took.
fn closed_within(s: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None
            }
            Err(_) => return Some(start.elapsed()),
        }
    }
}

#[test]
fn three_thousand_idle_connections_do_not_starve_scrapes_at_nofile_1024() {
    // This process holds 3,000 sockets: it needs more than the usual 1024.
    let (_, hard) = rlimit::Resource::NOFILE.get().unwrap();
    assert!(
        hard >= 4000,
        "this test needs a hard NOFILE limit of at least 4000 for itself, not {hard}"
    );
    rlimit::Resource::NOFILE.set(hard, hard).unwrap();

    let e = start(Some(1024), &[]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", e.pid())).unwrap();
    let nofile = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_string();
    assert!(
        nofile.split_whitespace().filter(|w| *w == "1024").count() == 2,
        "the exporter should run with soft and hard NOFILE 1024: {nofile}"
    );
    assert_eq!(scrape(&e, Duration::from_secs(10)).unwrap(), 200);

    let mut idle = Vec::new();
    let mut failures = 0;
    let open_until = Instant::now() + Duration::from_secs(30);
    while idle.len() < 3000 && failures < 3 && Instant::now() < open_until {
        match TcpStream::connect_timeout(&sock(&e), Duration::from_secs(1)) {
            Ok(s) => {
                idle.push(s);
                failures = 0;
            }
            Err(_) => failures += 1,
        }
    }
    let opened = idle.len();

    let mut took = Vec::new();
    for i in 0..5 {
        let t = Instant::now();
        let r = scrape(&e, Duration::from_secs(5));
        took.push(t.elapsed());
        assert!(
            matches!(r, Ok(200)),
            "scrape {i} with {opened} idle connections open: {r:?} after {:?}",
            t.elapsed()
        );
    }
    eprintln!("scrapes with {opened} idle connections open took {took:?}");
    assert_eq!(opened, 3000, "could not open 3000 connections");

    drop(idle);
    for i in 0..5 {
        let r = scrape(&e, Duration::from_secs(5));
        assert!(
            matches!(r, Ok(200)),
            "scrape {i} after the idle connections closed: {r:?}"
        );
    }
    assert!(
        e.logs()
            .iter()
            .any(|l| l.contains("NOFILE") && l.contains("1024")),
        "the NOFILE limit was not logged"
    );
}

#[test]
fn the_connection_idle_the_longest_makes_room_for_a_new_one() {
    let e = start(None, &["--web.max-connections", "4"]);
    let pause = || std::thread::sleep(Duration::from_millis(100));
    // The oldest never sends a request; the next has finished one (keep-alive), then two
    // that never send one either.
    let mut oldest = TcpStream::connect(sock(&e)).unwrap();
    pause();
    let mut kept = TcpStream::connect(sock(&e)).unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(get_on(&mut kept, &e.addr, "/-/healthy").unwrap(), 200);
    pause();
    let mut open: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(sock(&e)).unwrap())
        .collect();
    pause();
    // Four open: a fifth is served, and the oldest is closed to make room.
    let mut fifth = TcpStream::connect(sock(&e)).unwrap();
    fifth
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(get_on(&mut fifth, &e.addr, "/metrics").unwrap(), 200);
    assert!(
        closed_within(&mut oldest, Duration::from_secs(5)).is_some(),
        "the connection idle the longest is still open"
    );
    open.push(fifth);
    pause();
    // The next to go is the keep-alive connection, idle since its request.
    assert_eq!(scrape(&e, Duration::from_secs(10)).unwrap(), 200);
    assert!(
        closed_within(&mut kept, Duration::from_secs(5)).is_some(),
        "the keep-alive connection idle the longest is still open"
    );
    pause();
    for s in &mut open {
        s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 1];
        let r = s.read(&mut b);
        assert!(
            matches!(&r, Err(e) if e.kind() == ErrorKind::WouldBlock),
            "a younger idle connection was closed: {r:?}"
        );
    }
}

#[test]
fn idle_keep_alive_connections_are_closed_after_the_idle_timeout() {
    let e = start(None, &["--web.idle-timeout", "1s"]);
    let mut s = TcpStream::connect(sock(&e)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(get_on(&mut s, &e.addr, "/-/healthy").unwrap(), 200);
    // Still usable right away: keep-alive.
    assert_eq!(get_on(&mut s, &e.addr, "/-/healthy").unwrap(), 200);
    let after = closed_within(&mut s, Duration::from_secs(10))
        .expect("the idle connection was not closed within 10 s");
    assert!(
        after >= Duration::from_millis(800),
        "closed after {after:?}, before the idle timeout"
    );
}

#[test]
fn the_connection_limit_is_lowered_to_half_the_descriptor_limit() {
    let e = start(Some(256), &["--web.max-connections", "512"]);
    let line = e.wait_log(Duration::from_secs(10), |l| {
        l.contains("max-connections lowered")
    });
    assert!(line.contains("\"max_connections\":128"), "{line}");
    assert!(line.contains("\"nofile\":256"), "{line}");
    assert_eq!(scrape(&e, Duration::from_secs(10)).unwrap(), 200);
}
