//! With basic auth, a flood of wrong passwords from many clients neither locks out a user
//! who logs in for the first time nor slows scrapes with cached credentials, and the
//! exporter's thread count stays bounded (bcrypt checks are bounded and failed attempts are
//! rate-limited per client address and user, so the flood answers mostly 429 at once).
mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Concurrent flooding clients.
const CLIENTS: usize = 200;
/// How long the flood lasts; it stops by itself.
const FLOOD: Duration = Duration::from_secs(8);
/// bcrypt cost of the configured hashes (exporter-toolkit's recommendation).
const COST: u32 = 10;

/// `Authorization` value for `user:password`.
fn basic(user: &str, password: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let raw = format!("{user}:{password}");
    let mut s = String::new();
    for chunk in raw.as_bytes().chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &c)| n | (u32::from(c) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    format!("Basic {s}")
}

/// One GET of /metrics on a new connection, bounded by `within`: the status, or an error
/// when the exporter did not answer in time. The client closes first, after the response:
/// the TIME_WAIT stays on this side, where the kernel knows not to reuse the port too soon
/// (closed by the server, thousands of loopback connections a second make new SYNs land on
/// the server's TIME_WAIT sockets, and they are retried after a second).
fn get(addr: &str, authorization: &str, within: Duration) -> std::io::Result<u16> {
    let sock: std::net::SocketAddr = addr.parse().unwrap();
    assert!(sock.ip().is_loopback(), "traffic stays on 127.0.0.1");
    let mut s = TcpStream::connect_timeout(&sock, within)?;
    s.set_read_timeout(Some(within))?;
    s.set_write_timeout(Some(within))?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {authorization}\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        raw.extend_from_slice(&buf[..n]);
        let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| std::io::Error::other("no Content-Length"))?;
        if raw.len() >= end + 4 + len {
            return head
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| std::io::Error::other("not an HTTP response"));
        }
    }
}

/// The exporter's thread count.
fn threads(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("Threads: in /proc/PID/status")
}

/// A first login of `user` during the flood: must succeed within 2 s of its first request,
/// retried at once (at most 4 times) when refused with 429. Returns its latency.
fn new_login(addr: &str, user: &str, password: &str) -> Duration {
    let start = Instant::now();
    let mut answers = Vec::new();
    for _ in 0..5 {
        let left = Duration::from_secs(2).saturating_sub(start.elapsed());
        match get(
            addr,
            &basic(user, password),
            left.max(Duration::from_millis(1)),
        ) {
            Ok(200) => {
                let took = start.elapsed();
                assert!(
                    took < Duration::from_secs(2),
                    "{user}'s first login took {took:?} ({answers:?})"
                );
                return took;
            }
            Ok(429) => answers.push("429".to_string()),
            other => panic!(
                "{user}'s first login failed after {:?}: {other:?} (before: {answers:?})",
                start.elapsed()
            ),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{user}'s first login was refused 5 times: {answers:?}");
}

#[test]
fn a_password_flood_starves_neither_new_logins_nor_cached_scrapes() {
    let web_dir = tempfile::tempdir().unwrap();
    let web = web_dir.path().join("web.yml");
    let users = [
        ("alice", "alice-secret"),
        ("bob", "bob-secret"),
        ("carol", "carol-secret"),
    ];
    let mut yaml = String::from("basic_auth_users:\n");
    for (u, p) in users {
        yaml.push_str(&format!("  {u}: {}\n", bcrypt::hash(p, COST).unwrap()));
    }
    std::fs::write(&web, yaml).unwrap();
    let e = Exporter::start(
        "plugins: []\n",
        &["--web.config.file", web.to_str().unwrap()],
    );
    let addr = e.addr.clone();
    let pid = e.pid();
    let alice = basic("alice", "alice-secret");
    // alice logs in once: cached from now on. Its time is the baseline of a first login.
    let t = Instant::now();
    assert_eq!(get(&addr, &alice, Duration::from_secs(10)).unwrap(), 200);
    let baseline = t.elapsed();
    let threads_before = threads(pid);

    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + FLOOD;
    let (refused, throttled, failed) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let flood: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (addr, stop) = (addr.clone(), stop.clone());
            let (refused, throttled, failed) = (refused.clone(), throttled.clone(), failed.clone());
            std::thread::spawn(move || {
                // Bounded in count and time, whatever the exporter does.
                for n in 0..100_000u32 {
                    if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                        return;
                    }
                    let wrong = basic("alice", &format!("guess-{i}-{n}"));
                    match get(&addr, &wrong, Duration::from_secs(2)) {
                        Ok(401) => refused.fetch_add(1, Ordering::Relaxed),
                        Ok(429) => throttled.fetch_add(1, Ordering::Relaxed),
                        Ok(s) => panic!("a wrong password got {s}"),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();

    // While the flood runs: thread count, cached scrapes, and two first logins.
    let max_threads = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, max_threads) = (stop.clone(), max_threads.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                max_threads.fetch_max(threads(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let scrape_times = Arc::new(Mutex::new(Vec::new()));
    let scraper = {
        let (addr, stop, times) = (addr.clone(), stop.clone(), scrape_times.clone());
        let alice = alice.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let t = Instant::now();
                let r = get(&addr, &alice, Duration::from_secs(5));
                times.lock().unwrap().push((t.elapsed(), r.ok()));
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    std::thread::sleep(Duration::from_secs(1));
    let bob = new_login(&addr, "bob", "bob-secret");
    std::thread::sleep(Duration::from_secs(3));
    let carol = new_login(&addr, "carol", "carol-secret");

    for t in flood {
        t.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    scraper.join().unwrap();

    let times = scrape_times.lock().unwrap().clone();
    let slowest = times.iter().map(|(d, _)| *d).max().unwrap_or_default();
    let (refused, throttled, failed) = (
        refused.load(Ordering::Relaxed),
        throttled.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    let max_threads = max_threads.load(Ordering::Relaxed);
    eprintln!(
        "flood: {refused} x 401, {throttled} x 429, {failed} without answer; threads {threads_before} \
         before, at most {max_threads} during; first logins bob {bob:?}, carol {carol:?} \
         (alice before the flood: {baseline:?}); {} cached scrapes, slowest {slowest:?}",
        times.len()
    );
    assert!(
        refused + throttled > CLIENTS as u64,
        "the flood did not run: {refused} refused, {throttled} throttled, {failed} failed"
    );
    assert!(times.len() >= 10, "too few cached scrapes: {times:?}");
    for (took, status) in &times {
        assert_eq!(*status, Some(200), "a cached scrape failed: {times:?}");
        assert!(
            *took < Duration::from_millis(800),
            "a cached scrape took {took:?}: {times:?}"
        );
    }
    assert!(
        max_threads < 64,
        "the exporter ran {max_threads} threads during the flood"
    );
    // After the flood, the cached and the new logins still work.
    for creds in [alice, basic("bob", "bob-secret")] {
        assert_eq!(get(&addr, &creds, Duration::from_secs(5)).unwrap(), 200);
    }
}
