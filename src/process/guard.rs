//! The guard: a small process (this binary, `guard` subcommand) that outlives the exporter
//! and kills what its plugins left behind, however the exporter died.

use super::tags::sweep_for;
use std::io;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// Starts the guard: a small process (this binary, `guard` subcommand) that waits for the
/// exporter to die however it dies, SIGKILL included, and then kills every process tagged
/// with the exporter's pid. The parent-death signal reaches plugins only; the guard reaches
/// what they left behind. The write end of its stdin stays open for the exporter's lifetime.
pub fn start_guard() -> io::Result<()> {
    static GUARD_STDIN: OnceLock<std::process::ChildStdin> = OnceLock::new();
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .arg("guard")
        .arg(std::process::id().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    let stdin = child.stdin.take().expect("stdin was piped");
    // Never waited on here: when it exits, the reaper reaps it as an untracked child.
    drop(child);
    let _ = GUARD_STDIN.set(stdin);
    Ok(())
}

/// The guard's body: blocks until stdin reaches EOF (the exporter is gone), then kills the
/// exporter's tagged processes until none is left. A killed plugin may have forked while
/// it died, so it scans again until a scan finds nothing.
pub fn run_guard(supervisor: u32) {
    let mut sink = [0u8; 64];
    let mut stdin = io::stdin().lock();
    loop {
        match io::Read::read(&mut stdin, &mut sink) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    for _ in 0..100 {
        if sweep_for(supervisor, None) == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
