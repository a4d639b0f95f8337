//! Without cgroups, the watchdog holds a spinning plugin near its CPU quota, kills one that
//! stays over its memory limit, and never leaves a process stopped behind it. Real
//! processes, real `/proc`; CPU is measured from `/proc` independently of the watchdog.

use nix::sys::signal::{killpg, Signal};
use nix::unistd::{sysconf, Pid, SysconfVar};
use plugin_exporter::process::tags::{TAG_PLUGIN, TAG_SUPERVISOR};
use plugin_exporter::sandbox::watchdog::{WatchLimits, WatchStats, Watchdog};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PERIOD: Duration = Duration::from_millis(100);

/// A fake plugin: a process group of its own, tagged like the exporter tags plugins. Killed
/// and reaped when dropped, whatever the test did.
struct Group {
    child: Child,
    pgid: i32,
}

impl Group {
    fn spawn(plugin: &str, argv: &[&str]) -> Group {
        let child = Command::new(argv[0])
            .args(&argv[1..])
            .process_group(0)
            .env(TAG_PLUGIN, plugin)
            .env(TAG_SUPERVISOR, std::process::id().to_string())
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn the fake plugin");
        let pgid = child.id() as i32;
        Group { child, pgid }
    }

    /// The group's processes now: (pid, state, utime+stime in clock ticks).
    fn members(&self) -> Vec<(i32, char, u64)> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let Some(close) = text.rfind(')') else {
                continue;
            };
            let f: Vec<&str> = text[close + 1..].split_whitespace().collect();
            if f.len() < 13 || f[2].parse::<i32>() != Ok(self.pgid) {
                continue;
            }
            let ticks = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
            out.push((pid, f[0].chars().next().unwrap(), ticks));
        }
        out
    }

    fn cpu_seconds(&self) -> f64 {
        let ticks: u64 = self.members().iter().map(|m| m.2).sum();
        ticks as f64 / clock_ticks()
    }

    fn stopped(&self) -> Vec<i32> {
        let members = self.members();
        members.iter().filter(|m| m.1 == 'T').map(|m| m.0).collect()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.pgid), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

fn clock_ticks() -> f64 {
    sysconf(SysconfVar::CLK_TCK).unwrap().unwrap() as f64
}

fn unique(what: &str) -> String {
    format!("watchdog-{what}-{}", std::process::id())
}

/// Polls `f` every 20 ms until it returns `Some`, or fails the test after `limit`.
async fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const SPIN_TWO_CPUS: &[&str] = &["sh", "-c", "while :; do :; done & while :; do :; done"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinning_plugin_is_held_near_its_cpu_quota_and_continued_when_unwatched() {
    let name = unique("cpu");
    let group = Group::spawn(&name, SPIN_TWO_CPUS);
    let wd = Watchdog::start(PERIOD);
    wd.watch(
        &name,
        group.pgid,
        WatchLimits {
            memory: None,
            cpu: Some(0.25),
        },
    );
    let stats = |wd: &Watchdog| wd.stats(&name).unwrap_or_default();
    // Both spinners run, and the first stop episode has begun: measure the steady state.
    wait_for(Duration::from_secs(5), "two spinners", || {
        (group.members().len() >= 2).then_some(())
    })
    .await;
    wait_for(Duration::from_secs(5), "a first throttle", || {
        (stats(&wd).cpu_throttles >= 1).then_some(())
    })
    .await;

    let (t0, ours0, theirs0) = (Instant::now(), group.cpu_seconds(), stats(&wd));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (t1, ours1, theirs1) = (Instant::now(), group.cpu_seconds(), stats(&wd));
    let window = (t1 - t0).as_secs_f64();
    let measured = (ours1 - ours0) / window;
    let reported = (theirs1.cpu_seconds - theirs0.cpu_seconds) / window;
    eprintln!(
        "cpu quota 0.25: measured {measured:.3} cores from /proc, watchdog counted \
         {reported:.3}, {} stop episodes over {window:.2} s",
        theirs1.cpu_throttles - theirs0.cpu_throttles
    );
    assert!(
        (measured - 0.25).abs() <= 0.15,
        "measured {measured:.3} cores against a 0.25 quota"
    );
    assert!(
        (reported - measured).abs() <= 0.1,
        "watchdog counted {reported:.3} cores, /proc says {measured:.3}"
    );
    assert!(theirs1.cpu_throttles > theirs0.cpu_throttles);
    assert!(theirs1.cpu_seconds >= theirs0.cpu_seconds);
    assert!(theirs1.processes >= 2, "{theirs1:?}");
    assert_eq!(theirs1.memory_kills, 0);

    wd.unwatch(&name);
    assert_eq!(
        group.stopped(),
        Vec::<i32>::new(),
        "stopped right after unwatch"
    );
    // And nothing stops them again: they spin freely.
    let spun_from = group.cpu_seconds();
    let until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < until {
        assert_eq!(group.stopped(), Vec::<i32>::new(), "stopped after unwatch");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        group.cpu_seconds() > spun_from,
        "spinners did not run after unwatch"
    );
    let after = stats(&wd);
    assert_eq!((after.processes, after.memory_bytes), (0, 0));
    assert!(
        after.cpu_seconds >= theirs1.cpu_seconds,
        "counters are kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_watchdog_continues_what_it_stopped() {
    let name = unique("drop");
    let group = Group::spawn(&name, SPIN_TWO_CPUS);
    let wd = Watchdog::start(PERIOD);
    let limits = WatchLimits {
        memory: None,
        cpu: Some(0.05),
    };
    wd.watch(&name, group.pgid, limits);
    // At 0.05 cores, two spinners are stopped nearly all the time.
    wait_for(Duration::from_secs(5), "a stopped member", || {
        (!group.stopped().is_empty()).then_some(())
    })
    .await;
    drop(wd);
    wait_for(Duration::from_secs(2), "members continued", || {
        group.stopped().is_empty().then_some(())
    })
    .await;
    let until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < until {
        assert_eq!(group.stopped(), Vec::<i32>::new(), "stopped after the drop");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_over_its_memory_limit_is_killed() {
    let name = unique("memory");
    let hog = "a = bytearray(200 << 20)\n\
               for i in range(0, len(a), 4096): a[i] = 1\n\
               import time; time.sleep(60)\n";
    let mut group = Group::spawn(&name, &["python3", "-c", hog]);
    let wd = Watchdog::start(PERIOD);
    wd.watch(
        &name,
        group.pgid,
        WatchLimits {
            memory: Some(64 << 20),
            cpu: None,
        },
    );
    let started = Instant::now();
    let status = wait_for(Duration::from_secs(15), "the hog to die", || {
        group.child.try_wait().unwrap()
    })
    .await;
    eprintln!("memory hog killed after {:?}", started.elapsed());
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    let stats: WatchStats = wait_for(Duration::from_secs(2), "an empty tree", || {
        wd.stats(&name).filter(|s| s.processes == 0)
    })
    .await;
    // A few more samples must not count the same kill again.
    tokio::time::sleep(PERIOD * 3).await;
    let stats_later = wd.stats(&name).unwrap();
    assert_eq!(stats.memory_kills, 1, "{stats:?}");
    assert_eq!(stats_later.memory_kills, 1, "{stats_later:?}");
}
