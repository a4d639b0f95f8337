//! Whether the exporter is asked to stop (SIGTERM) or killed outright (SIGKILL), no process
//! of any plugin is left: not the plugins, not helpers in their group, not helpers that left
//! it with setsid, not a plugin that ignores SIGTERM.
mod common;
use common::*;
use std::time::Duration;

const OK: &str = r#"{"type":"metrics","families":[{"name":"alive","type":"gauge","help":"Alive.","samples":[{"value":1}]}]}"#;

fn start(dir: &tempfile::TempDir) -> (Exporter, [String; 3]) {
    let data = dir.path().join("ok");
    std::fs::write(&data, format!("{OK}\n")).unwrap();
    let names = [unique("plain"), unique("detach"), unique("stubborn")];
    let cfg = format!(
        "plugins:\n\
         - {{name: {}, command: [\"{r}\", \"{d}\"]}}\n\
         - {{name: {}, command: [\"{detach}\", \"{d}\"]}}\n\
         - {{name: {}, command: [\"{stubborn}\", \"{d}\"]}}\n",
        names[0],
        names[1],
        names[2],
        r = fixture("respond.sh"),
        detach = fixture("detach.sh"),
        stubborn = fixture("ignore_term.sh"),
        d = data.display(),
    );
    let e = Exporter::start(&cfg, &["--plugin.shutdown-grace", "300ms"]);
    for n in &names {
        e.plugin_pid(n);
    }
    // detach.sh itself plus its two helpers.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while plugin_processes(&names[1]).len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "detach helpers never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (e, names)
}

#[test]
fn after_sigterm_no_plugin_process_is_left_and_the_exit_code_is_0() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, names) = start(&dir);
    e.signal(libc::SIGTERM);
    assert_eq!(e.wait_exit(Duration::from_secs(20)), Some(0));
    for n in &names {
        wait_no_plugin_processes(n, Duration::from_secs(5));
    }
    assert!(
        e.logs()
            .iter()
            .any(|l| l.contains("ignored SIGTERM") && l.contains(&names[2])),
        "the stubborn plugin was not killed after the grace period"
    );
}

#[test]
fn after_sigkill_no_plugin_process_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, names) = start(&dir);
    e.signal(libc::SIGKILL);
    assert_eq!(e.wait_exit(Duration::from_secs(5)), None);
    for n in &names {
        wait_no_plugin_processes(n, Duration::from_secs(5));
    }
}
