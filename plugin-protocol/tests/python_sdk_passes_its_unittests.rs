//! The Python SDK (`python/plugin_exporter_sdk.py`) passes its own unittest suite, so
//! `cargo test` covers it too. The suite drives plugins built on the SDK through pipes.
use std::path::Path;
use std::process::Command;

#[test]
fn python_sdk_unittests_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("python");
    let out = Command::new("python3")
        .args(["-m", "unittest", "-v", "test_plugin_exporter_sdk"])
        .current_dir(&dir)
        // Keep the source tree free of __pycache__ directories.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 runs (Python 3.8 or later)");
    assert!(
        out.status.success(),
        "python3 -m unittest failed in {}:\n{}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
