//! Real Debian monitoring-plugins checks (check_load, check_disk, check_procs, check_users,
//! check_swap when the machine has swap), converted by `formats::nagios::families` and put
//! through the exporter's own pipeline (validate, render, assemble), pass
//! `promtool check metrics` without lint problems, parse with the reference Python parser in
//! both formats, and expose the series docs/NAGIOS.md promises.
//!
//! A missing monitoring-plugins-basic fails the tests with an install hint: a skipped check
//! would look like a passed one.
mod common;

use std::path::Path;
use std::process::Command;

use plugin_exporter::exposition::merge::{assemble, Contribution};
use plugin_exporter::exposition::render::{render, RenderedFamily};
use plugin_exporter::exposition::validate::{validate, Drops, ValidateOptions};
use plugin_exporter::exposition::Format;
use plugin_exporter::formats::nagios;

const PLUGINS: &str = "/usr/lib/nagios/plugins";

/// One check as the exporter would configure it: plugin name, program, arguments.
struct Check {
    plugin: &'static str,
    program: &'static str,
    args: &'static [&'static str],
}

/// The checks every machine can run, with thresholds far from today's values where the
/// check needs them.
const CHECKS: &[Check] = &[
    Check {
        plugin: "load",
        program: "check_load",
        args: &["-w", "50,40,30", "-c", "100,80,60"],
    },
    Check {
        plugin: "disk",
        program: "check_disk",
        args: &["-w", "10%", "-c", "5%", "-p", "/"],
    },
    Check {
        plugin: "procs",
        program: "check_procs",
        args: &[],
    },
    Check {
        plugin: "users",
        program: "check_users",
        args: &["-w", "10", "-c", "20"],
    },
];

const SWAP: Check = Check {
    plugin: "swap",
    program: "check_swap",
    args: &["-w", "10%", "-c", "5%"],
};

/// True when the kernel lists at least one active swap area. Without one, check_swap
/// reports CRITICAL with all-zero perfdata, which says nothing about the conversion.
fn has_swap() -> bool {
    std::fs::read_to_string("/proc/swaps")
        .map(|s| s.lines().count() > 1)
        .unwrap_or(false)
}

/// Runs a check with the C locale (perfdata decimals must be points) and returns its stdout
/// and exit code.
fn run(check: &Check) -> (String, Option<i32>) {
    let path = Path::new(PLUGINS).join(check.program);
    assert!(
        path.exists(),
        "{} is missing: install Debian's monitoring-plugins-basic \
         (`apt-get install -y monitoring-plugins-basic`; scripts/test installs it)",
        path.display()
    );
    let out = Command::new(&path)
        .args(check.args)
        .env("LC_ALL", "C")
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", path.display()));
    let stdout = String::from_utf8(out.stdout).expect("check output is UTF-8");
    (stdout, out.status.code())
}

/// Runs a check and converts its output, failing on any problem: real checks print clean
/// perfdata and exit 0..=3.
fn convert(check: &Check) -> (String, Option<i32>, Vec<plugin_protocol::Family>) {
    let (stdout, code) = run(check);
    assert!(
        matches!(code, Some(0..=3)),
        "{} exited {code:?}: {stdout}",
        check.program
    );
    let (families, problems) = nagios::families(&stdout, code);
    assert!(
        problems.is_empty(),
        "{} output {stdout:?} gave problems {problems:?}",
        check.program
    );
    (stdout, code, families)
}

/// Validates and renders one plugin's families with the exporter's `plugin` label, failing
/// when validation drops anything.
fn rendered(plugin: &str, families: Vec<plugin_protocol::Family>) -> Vec<RenderedFamily> {
    let extra = Some(("plugin", plugin));
    let mut drops = Drops::default();
    let valid = validate(
        families,
        &ValidateOptions::with_extra_label(extra),
        &mut drops,
    );
    assert_eq!(
        drops,
        Drops::default(),
        "{plugin}: validation dropped series"
    );
    // As the exporter does: spans (for cross-plugin duplicate removal) only without the
    // plugin label, since with it no two plugins' series can be equal.
    render(valid, extra, false)
}

/// The whole exposition of several plugins, as a scrape would serve it.
fn exposition(plugins: &[Vec<RenderedFamily>], format: Format) -> String {
    let contributions: Vec<Contribution> = plugins
        .iter()
        .map(|f| Contribution { families: f })
        .collect();
    let mut out = Vec::new();
    let drops = assemble(&[], &contributions, format, &mut out);
    assert!(
        drops
            .iter()
            .all(|d| d.conflict == 0 && d.duplicate_series == 0),
        "merge dropped series: {drops:?}"
    );
    String::from_utf8(out).expect("expositions are UTF-8")
}

/// Fails unless promtool finds the text exposition clean (exit 0, no lint problem).
fn assert_promtool_clean(body: &str) {
    let (code, output) = common::promtool_check(body);
    assert_eq!(code, 0, "promtool check metrics: {output}\nbody:\n{body}");
}

/// The value of `series` in `body`, failing with the body when it is absent.
fn value(body: &str, series: &str) -> f64 {
    common::value(body, series).unwrap_or_else(|| panic!("no series {series} in:\n{body}"))
}

/// Converts one check alone and checks its exposition; returns the text body.
fn single(check: &Check) -> String {
    let (stdout, code, families) = convert(check);
    let body = exposition(&[rendered(check.plugin, families)], Format::Text);
    assert_promtool_clean(&body);
    let status = value(
        &body,
        &format!("nagios_status{{plugin=\"{}\"}}", check.plugin),
    );
    assert_eq!(Some(status as i32), code, "status of {stdout:?}");
    body
}

#[test]
fn check_load_gives_load_averages_with_their_thresholds() {
    let body = single(&CHECKS[0]);
    for (label, warn, crit) in [("load1", 50.0, 100.0), ("load5", 40.0, 80.0)] {
        assert!(
            value(
                &body,
                &format!(r#"nagios_perfdata{{label="{label}",plugin="load"}}"#)
            ) >= 0.0
        );
        let bound = |role: &str| {
            value(
                &body,
                &format!(
                    r#"nagios_perfdata_{role}{{label="{label}",bound="upper",plugin="load"}}"#
                ),
            )
        };
        assert_eq!((bound("warning"), bound("critical")), (warn, crit));
        assert_eq!(
            value(
                &body,
                &format!(r#"nagios_perfdata_minimum{{label="{label}",plugin="load"}}"#)
            ),
            0.0
        );
    }
    assert!(common::value(&body, r#"nagios_perfdata{label="load15",plugin="load"}"#).is_some());
}

#[test]
fn check_disk_gives_bytes_used_with_thresholds_and_size() {
    let body = single(&CHECKS[1]);
    let used = value(&body, r#"nagios_perfdata_bytes{label="/",plugin="disk"}"#);
    let size = value(
        &body,
        r#"nagios_perfdata_maximum_bytes{label="/",plugin="disk"}"#,
    );
    let warn = value(
        &body,
        r#"nagios_perfdata_warning_bytes{label="/",bound="upper",plugin="disk"}"#,
    );
    let crit = value(
        &body,
        r#"nagios_perfdata_critical_bytes{label="/",bound="upper",plugin="disk"}"#,
    );
    assert!(used > 0.0 && used <= size, "used {used} of {size}");
    // -w 10% -c 5% free: warn at 90% used, crit at 95%, in bytes (check_disk rounds).
    assert!((warn / size - 0.9).abs() < 0.01, "warn {warn} of {size}");
    assert!((crit / size - 0.95).abs() < 0.01, "crit {crit} of {size}");
    assert!(body.contains("# TYPE nagios_perfdata_bytes gauge\n"));
}

#[test]
fn check_procs_gives_a_process_count() {
    let body = single(&CHECKS[2]);
    assert!(value(&body, r#"nagios_perfdata{label="procs",plugin="procs"}"#) >= 1.0);
    assert_eq!(
        value(
            &body,
            r#"nagios_perfdata_minimum{label="procs",plugin="procs"}"#
        ),
        0.0
    );
}

#[test]
fn check_users_gives_a_user_count_with_thresholds() {
    let body = single(&CHECKS[3]);
    assert!(value(&body, r#"nagios_perfdata{label="users",plugin="users"}"#) >= 0.0);
    for (role, v) in [("warning", 10.0), ("critical", 20.0)] {
        for (bound, want) in [("lower", 0.0), ("upper", v)] {
            let series = format!(
                r#"nagios_perfdata_{role}{{label="users",bound="{bound}",plugin="users"}}"#
            );
            assert_eq!(value(&body, &series), want, "{series}");
        }
    }
}

#[test]
fn check_swap_gives_bytes_with_swap_and_critical_zeros_without() {
    let body = single(&SWAP);
    let bytes = value(
        &body,
        r#"nagios_perfdata_bytes{label="swap",plugin="swap"}"#,
    );
    let maximum = value(
        &body,
        r#"nagios_perfdata_maximum_bytes{label="swap",plugin="swap"}"#,
    );
    let status = value(&body, r#"nagios_status{plugin="swap"}"#);
    if has_swap() {
        assert!(bytes >= 0.0 && maximum > 0.0 && bytes <= maximum, "{body}");
    } else {
        // No swap area: check_swap says CRITICAL, and its zero-sized perfdata still comes
        // through as bytes.
        assert_eq!((bytes, maximum, status), (0.0, 0.0, 2.0), "{body}");
    }
}

#[test]
fn all_checks_merged_in_one_scrape_pass_promtool_and_python_parsers() {
    let mut checks: Vec<&Check> = CHECKS.iter().collect();
    if has_swap() {
        checks.push(&SWAP);
    }
    let plugins: Vec<Vec<RenderedFamily>> = checks
        .iter()
        .map(|c| rendered(c.plugin, convert(c).2))
        .collect();
    let text = exposition(&plugins, Format::Text);
    assert_promtool_clean(&text);
    // Families shared by several checks are written once, with every check's series.
    assert_eq!(text.matches("# TYPE nagios_status gauge\n").count(), 1);
    for c in &checks {
        assert!(
            common::value(&text, &format!("nagios_status{{plugin=\"{}\"}}", c.plugin)).is_some(),
            "no status for {}:\n{text}",
            c.plugin
        );
    }
    let names = common::python_parse(&text, false);
    assert!(names.iter().any(|n| n == "nagios_status"), "{names:?}");
    let om = exposition(&plugins, Format::OpenMetrics);
    let names = common::python_parse(&om, true);
    assert!(
        names.iter().any(|n| n == "nagios_perfdata_bytes"),
        "{names:?}"
    );
    assert!(om.contains("# UNIT nagios_perfdata_bytes bytes\n"), "{om}");
}

#[test]
fn a_failing_check_still_gives_status_and_perfdata() {
    // Thresholds below any real load turn check_load CRITICAL (exit 2); the perfdata stays.
    let check = Check {
        plugin: "load",
        program: "check_load",
        args: &["-w", "0,0,0", "-c", "0,0,0"],
    };
    let (stdout, code) = run(&check);
    let (families, problems) = nagios::families(&stdout, code);
    assert!(problems.is_empty(), "{problems:?}");
    let body = exposition(&[rendered("load", families)], Format::Text);
    assert_promtool_clean(&body);
    // A load of exactly 0.00 is OK even against 0: accept both.
    let status = value(&body, r#"nagios_status{plugin="load"}"#);
    assert!(status == 0.0 || status == 2.0, "{stdout}");
    assert_eq!(Some(status as i32), code);
    assert!(common::value(&body, r#"nagios_perfdata{label="load1",plugin="load"}"#).is_some());
}
