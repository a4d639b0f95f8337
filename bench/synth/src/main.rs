//! A synthetic plugin for the benchmarks in `bench/`: M gauge series in F families, built on
//! the plugin-protocol SDK, pushed (`--mode push`) or answering collects (`--mode collect`).
//!
//! With one family (the default) the series are those of the peers' `textfile_gen.py` (bench/textfile_gen.py):
//! family `bench_series_value`, help `A benchmark gauge`, label `series="s<i>"` and value
//! `<i>.5`. The exporter adds `plugin="<name>"`, so each line has the same length as the
//! peers' `bench_series_value{plugin="p0",series="s0"} 0.5` and nginx serves as many bytes.
//!
//! ```text
//! synth-plugin --series M [--families F] [--mode push|collect] [--every SECONDS]
//!              [--pushes N] [--wait-file PATH] [--done-file PATH] [--vary]
//! ```
//! - `--every`: push period (push mode; default 10). `0` pushes back to back.
//! - `--pushes N`: stop pushing after N pushes and stay idle until the host says stop
//!   (0, the default: no end).
//! - `--wait-file`: push only once this file exists (so a benchmark can start every plugin
//!   first and read the exporter's CPU time before the load).
//! - `--done-file`: created once the last of `--pushes` was written to stdout.
//! - `--vary`: change every value on each push or collect (the exporter cannot tell anyway;
//!   it makes the batches honest).
#![forbid(unsafe_code)]

use plugin_protocol::sdk::{self, Batch, Pusher};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Parsed command line.
#[derive(Debug)]
struct Args {
    series: usize,
    families: usize,
    push: bool,
    every: Duration,
    pushes: u64,
    wait_file: Option<PathBuf>,
    done_file: Option<PathBuf>,
    vary: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        series: 1000,
        families: 1,
        push: true,
        every: Duration::from_secs(10),
        pushes: 0,
        wait_file: None,
        done_file: None,
        vary: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--series" => a.series = value()?.parse().map_err(|e| format!("--series: {e}"))?,
            "--families" => {
                a.families = value()?.parse().map_err(|e| format!("--families: {e}"))?;
                if a.families == 0 {
                    return Err("--families must be at least 1".into());
                }
            }
            "--mode" => {
                a.push = match value()?.as_str() {
                    "push" => true,
                    "collect" => false,
                    m => return Err(format!("--mode: `{m}`, want push or collect")),
                }
            }
            "--every" => {
                let s: f64 = value()?.parse().map_err(|e| format!("--every: {e}"))?;
                a.every = Duration::try_from_secs_f64(s).map_err(|e| format!("--every: {e}"))?;
            }
            "--pushes" => a.pushes = value()?.parse().map_err(|e| format!("--pushes: {e}"))?,
            "--wait-file" => a.wait_file = Some(value()?.into()),
            "--done-file" => a.done_file = Some(value()?.into()),
            "--vary" => a.vary = true,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(a)
}

/// The family name of family `f` of `n`.
fn family_name(f: usize, n: usize) -> String {
    if n == 1 {
        "bench_series_value".to_string()
    } else {
        format!("bench_series_value_{f}")
    }
}

/// Fills `batch` with the series; `round` shifts every value when varying.
fn fill(batch: &mut Batch, a: &Args, round: u64) {
    let names: Vec<String> = (0..a.families)
        .map(|f| family_name(f, a.families))
        .collect();
    let shift = if a.vary { round as f64 } else { 0.0 };
    for i in 0..a.series {
        let f = i % a.families;
        let series = format!("s{i}");
        batch
            .gauge(names[f].as_str(), "A benchmark gauge")
            .sample(&[("series", series.as_str())], i as f64 + 0.5 + shift);
    }
}

fn push(a: &Args) -> std::io::Result<()> {
    let mut pusher = Pusher::start("synth-plugin", env!("CARGO_PKG_VERSION"))?;
    if let Some(w) = &a.wait_file {
        while !w.exists() {
            if !pusher.sleep(Duration::from_millis(50))? {
                return Ok(());
            }
        }
    }
    let mut round = 0u64;
    loop {
        if a.pushes == 0 || round < a.pushes {
            let mut batch = Batch::new();
            fill(&mut batch, a, round);
            pusher.push(&batch)?;
            round += 1;
            if a.pushes != 0 && round == a.pushes {
                if let Some(d) = &a.done_file {
                    std::fs::write(d, format!("{round}\n"))?;
                }
            }
        }
        // After the last push: idle, keeping the exporter's copy alive is its business.
        let wait = if a.pushes != 0 && round >= a.pushes {
            Duration::from_secs(3600)
        } else {
            a.every
        };
        if !pusher.sleep(wait)? {
            return Ok(());
        }
    }
}

fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("synth-plugin: {e}");
            return ExitCode::from(2);
        }
    };
    let result = if a.push {
        push(&a)
    } else {
        let mut round = 0u64;
        sdk::run(
            "synth-plugin",
            env!("CARGO_PKG_VERSION"),
            |batch: &mut Batch| -> Result<(), String> {
                fill(batch, &a, round);
                round += 1;
                Ok(())
            },
        )
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("synth-plugin: {e}");
            ExitCode::FAILURE
        }
    }
}
