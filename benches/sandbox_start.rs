//! Sandbox start cost: what a `sandbox:` profile adds to starting a plugin. Each iteration
//! prepares the fence of one start ([`plugin_exporter::sandbox::confine::prepare`]: the
//! `TMPDIR`, the Landlock ruleset with its rules, the seccomp filters), forks and execs
//! `/bin/true` through the exporter's spawner (the child joins nothing, sets no rlimits,
//! applies the fence) and waits until the reaper reaped it. The cost of a profile is its
//! time less `unconfined`'s. `sandbox_prepare/*` times the parent's share alone, and the
//! plan and ruleset of the strict and standard sets apart. Needs root (network namespaces)
//! and a kernel with Landlock and seccomp; what the kernel offers is printed first.
//!
//! Run: `cargo bench --bench sandbox_start`.

use criterion::{criterion_group, criterion_main, Criterion};
use plugin_exporter::config::{Network, Preset, SandboxKeys, SandboxProfile, Syscalls};
use plugin_exporter::process::reaper::Reaper;
use plugin_exporter::process::spawn::{SpawnSpec, Spawner};
use plugin_exporter::sandbox::confine::{prepare, Plugin};
use plugin_exporter::sandbox::KernelSupport;
use std::ffi::OsString;
use std::path::Path;

fn profile(preset: Preset) -> SandboxProfile {
    SandboxKeys {
        preset: Some(preset),
        ..SandboxKeys::default()
    }
    .resolve()
}

fn profiles() -> Vec<(&'static str, SandboxProfile)> {
    let only = |f: &dyn Fn(&mut SandboxProfile)| {
        let mut p = profile(Preset::Unconfined);
        f(&mut p);
        p
    };
    vec![
        ("unconfined", profile(Preset::Unconfined)),
        ("strict", profile(Preset::Strict)),
        ("standard", profile(Preset::Standard)),
        ("syscalls_only", only(&|p| p.syscalls = Syscalls::Default)),
        ("network_none_only", only(&|p| p.network = Network::None)),
        (
            "network_ports_only",
            only(&|p| {
                p.network = Network::Ports {
                    connect: vec![443],
                    bind: vec![],
                }
            }),
        ),
    ]
}

async fn start_once(profile: &SandboxProfile) {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    let plugin = Plugin {
        name: "bench-sandbox-start",
        program: Path::new("/bin/true"),
        working_dir: None,
        path_env: Some(&path),
        run_as: None,
    };
    let t = prepare(profile, &plugin, KernelSupport::get()).expect("the fence is prepared");
    let mut env: Vec<(OsString, OsString)> = vec![("PATH".into(), path.clone())];
    env.extend(t.env);
    let spawned = Spawner::global()
        .spawn(SpawnSpec {
            plugin: "bench-sandbox-start".into(),
            argv: vec!["/bin/true".into()],
            env,
            working_dir: None,
            rlimits: Vec::new(),
            cgroup_join: Vec::new(),
            run_as: None,
            confinement: t.confinement,
        })
        .await
        .expect("the plugin starts");
    let status = spawned.exited.await.expect("reaped");
    assert_eq!(
        status,
        plugin_exporter::process::reaper::ExitStatus::Exited(0)
    );
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async { Reaper::start() }).unwrap();
    println!("sandbox_info {:?}", KernelSupport::get());
    let mut g = c.benchmark_group("sandbox_start");
    for (name, p) in profiles() {
        g.bench_function(name, |b| b.iter(|| rt.block_on(start_once(&p))));
    }
    g.finish();
    // The parent's share alone: the TMPDIR, the ruleset and its rules, the filters.
    let mut g = c.benchmark_group("sandbox_prepare");
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    for (name, p) in profiles() {
        let plugin = Plugin {
            name: "bench-sandbox-start",
            program: Path::new("/bin/true"),
            working_dir: None,
            path_env: Some(&path),
            run_as: None,
        };
        g.bench_function(name, |b| {
            b.iter(|| prepare(&p, &plugin, KernelSupport::get()).unwrap())
        });
    }
    let start = plugin_exporter::sandbox::fs_rules::Start {
        program: Path::new("/bin/true"),
        working_dir: None,
        tmpdir: Path::new("/tmp"),
        path_env: Some(&path),
    };
    for base in [Preset::Strict, Preset::Standard] {
        let extra = plugin_exporter::config::FsPaths::default();
        let plan = plugin_exporter::sandbox::fs_rules::plan(base, &extra, &start);
        g.bench_function(format!("plan_{}", base.as_str()), |b| {
            b.iter(|| plugin_exporter::sandbox::fs_rules::plan(base, &extra, &start))
        });
        g.bench_function(format!("ruleset_{}", base.as_str()), |b| {
            b.iter(|| plugin_exporter::sandbox::ruleset::build(Some(&plan), None).unwrap())
        });
    }
    g.finish();
    plugin_exporter::sandbox::tmpdir::remove("bench-sandbox-start");
}

criterion_group!(benches, bench);
criterion_main!(benches);
