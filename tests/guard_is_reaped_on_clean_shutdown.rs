//! On a clean shutdown the exporter stops its guard and reaps it before it exits: nothing of
//! it is left to whoever inherits it. This test process makes itself a child subreaper, so
//! a guard the exporter left behind would become its child and stay as a zombie: the check
//! is deterministic.

mod common;
use common::*;
use std::time::{Duration, Instant};

/// The state letter of a process, `None` when there is none.
fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

fn guard_of(exporter: i32) -> Option<i32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        (args.get(1) == Some(&&b"guard"[..])
            && args.get(2) == Some(&exporter.to_string().as_bytes()))
        .then_some(pid)
    })
}

#[test]
fn the_guard_is_gone_when_the_exporter_exits_after_sigterm() {
    nix::sys::prctl::set_child_subreaper(true).expect("cannot become a child subreaper");
    let name = unique("calm");
    let cfg = format!(
        "plugins:\n  - {{name: {name}, command: [\"{}\"]}}\n",
        repo().join("examples/sh/loadavg.sh").display()
    );
    let mut e = Exporter::start(&cfg, &[]);
    e.scrape_until(Duration::from_secs(10), |b| {
        value(
            b,
            &format!("plugin_exporter_plugin_up{{plugin=\"{name}\"}}"),
        ) == Some(1.0)
    });
    let guard = guard_of(e.pid()).expect("the exporter runs no guard");
    e.signal(libc::SIGTERM);
    assert_eq!(e.wait_exit(Duration::from_secs(15)), Some(0));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match state(guard) {
            None => break,
            Some('Z') => panic!("the guard {guard} was left behind as a zombie"),
            Some(s) => assert!(
                Instant::now() < deadline,
                "the guard {guard} still runs (state {s}) after the exporter exited"
            ),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
