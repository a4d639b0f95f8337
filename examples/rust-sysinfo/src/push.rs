//! Example plugin-exporter plugin in Rust for `mode: push`: every few seconds it pushes the
//! host's uptime, boot time and process count, using the `plugin-protocol` SDK's [`Pusher`].
//!
//! The push period comes from the plugin's `config` in the exporter's configuration
//! (`every_seconds`, default 5); keep it well under 3 x the plugin's `interval`, after which
//! the exporter treats pushed series as stale. The plugin exits when the exporter sends
//! `shutdown` or closes stdin, which [`Pusher::sleep`] reports.
#![forbid(unsafe_code)]

use plugin_protocol::sdk::{Batch, Pusher};
use plugin_protocol::LogLevel;
use std::io;
use std::process::ExitCode;
use std::time::Duration;
use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System};

/// The plugin's name in its `hello`.
const NAME: &str = "sysinfo-push";

/// Push period when the configuration sets none.
const DEFAULT_PERIOD: Duration = Duration::from_secs(5);

fn run() -> io::Result<()> {
    let mut pusher = Pusher::start(NAME, env!("CARGO_PKG_VERSION"))?;
    // The host's hello is its first line; without one (a run by hand) use the default.
    let config = pusher
        .host_hello(Duration::from_secs(1))?
        .map(|h| h.config)
        .unwrap_or_default();
    let period = match config.get("every_seconds") {
        None => DEFAULT_PERIOD,
        Some(v) => match v.as_f64().filter(|s| *s >= 0.1 && *s <= 86400.0) {
            Some(s) => Duration::from_secs_f64(s),
            None => {
                pusher.log(
                    LogLevel::Warn,
                    format!(
                        "config.every_seconds must be a number from 0.1 to 86400, not {v}; pushing every {}s",
                        DEFAULT_PERIOD.as_secs()
                    ),
                )?;
                DEFAULT_PERIOD
            }
        },
    };

    let mut system = System::new();
    let mut pushes = 0u64;
    loop {
        system.refresh_processes_specifics(
            ProcessesToUpdate::All,
            true,
            ProcessRefreshKind::nothing(),
        );
        pushes += 1;
        let mut batch = Batch::new();
        batch
            .gauge("sysinfo_uptime_seconds", "Time since the host booted.")
            .unit("seconds")
            .sample(&[], System::uptime() as f64);
        batch
            .gauge(
                "sysinfo_boot_time_seconds",
                "When the host booted, in seconds since the Unix epoch.",
            )
            .unit("seconds")
            .sample(&[], System::boot_time() as f64);
        batch
            .gauge("sysinfo_processes", "Processes running on the host.")
            .sample(&[], system.processes().len() as f64);
        batch
            .counter(
                "sysinfo_push_pushes_total",
                "Batches this plugin process has pushed, this one included.",
            )
            .sample(&[], pushes as f64);
        pusher.push(&batch)?;
        if !pusher.sleep(period)? {
            return Ok(());
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{NAME}: {e}");
            ExitCode::FAILURE
        }
    }
}
