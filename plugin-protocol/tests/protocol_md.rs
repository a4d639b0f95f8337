//! PROTOCOL.md is the normative spec; this test keeps its examples honest.
//!
//! Every line of a block tagged ```` ```json host ```` or ```` ```json plugin ````, and every
//! `host>` / `plugin>` line of a ```` ```transcript ```` block, must validate against
//! `schema/protocol.schema.json` (for its direction) and deserialize into [`HostMessage`] or
//! [`PluginMessage`]; what the Rust types serialize back must validate too. Lines that break
//! the protocol must be refused by both the schema and the types.

use jsonschema::Validator;
use plugin_protocol::{HostMessage, PluginMessage};
use serde_json::{json, Value as Json};
use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// Which pipe a line travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dir {
    /// Host to plugin (the plugin's stdin).
    Host,
    /// Plugin to host (the plugin's stdout).
    Plugin,
}

impl fmt::Display for Dir {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Dir::Host => "host",
            Dir::Plugin => "plugin",
        })
    }
}

/// One example message from PROTOCOL.md.
struct Example {
    dir: Dir,
    /// 1-based line number in PROTOCOL.md, for messages.
    lineno: usize,
    text: String,
}

fn crate_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    let path = crate_path(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn protocol_md() -> String {
    read("PROTOCOL.md")
}

fn schema() -> Json {
    serde_json::from_str(&read("schema/protocol.schema.json")).expect("the schema is JSON")
}

/// The schema's validators: the whole schema, and one per direction.
struct Schemas {
    any: Validator,
    host: Validator,
    plugin: Validator,
}

impl Schemas {
    fn load() -> Self {
        let root = schema();
        // The same document with the top level narrowed to one direction, so `$ref`s and
        // `$defs` resolve exactly as in the original.
        let narrowed = |def: &str| {
            let mut s = root.clone();
            let obj = s.as_object_mut().expect("the schema is an object");
            obj.remove("anyOf")
                .expect("the schema has a top-level anyOf");
            obj.insert("$ref".into(), json!(format!("#/$defs/{def}")));
            jsonschema::validator_for(&s).expect("the narrowed schema compiles")
        };
        Schemas {
            any: jsonschema::validator_for(&root).expect("the schema compiles"),
            host: narrowed("host_message"),
            plugin: narrowed("plugin_message"),
        }
    }

    fn for_dir(&self, dir: Dir) -> &Validator {
        match dir {
            Dir::Host => &self.host,
            Dir::Plugin => &self.plugin,
        }
    }

    /// The schema's complaints about `instance` for `dir`, one string each; empty when valid.
    fn errors(&self, dir: Dir, instance: &Json) -> Vec<String> {
        self.for_dir(dir)
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect()
    }
}

/// Extracts the example messages. Panics on a block whose tag is almost, but not exactly,
/// one of ours, on blank lines inside our blocks, and on an unclosed block.
fn examples(md: &str) -> Vec<Example> {
    enum Block {
        Outside,
        Json(Dir),
        Transcript,
        Other,
    }
    let mut out = Vec::new();
    let mut block = Block::Outside;
    for (i, line) in md.lines().enumerate() {
        let lineno = i + 1;
        if let Some(tag) = line.strip_prefix("```") {
            block = match block {
                Block::Outside => match tag {
                    "json host" => Block::Json(Dir::Host),
                    "json plugin" => Block::Json(Dir::Plugin),
                    "transcript" => Block::Transcript,
                    t if t.contains("host") || t.contains("plugin") => {
                        panic!("PROTOCOL.md:{lineno}: fence tag {t:?} is not `json host` or `json plugin`")
                    }
                    _ => Block::Other,
                },
                _ => {
                    assert!(
                        tag.is_empty(),
                        "PROTOCOL.md:{lineno}: fence opened inside a block"
                    );
                    Block::Outside
                }
            };
            continue;
        }
        match block {
            Block::Outside | Block::Other => {}
            Block::Json(dir) => {
                assert!(
                    !line.trim().is_empty(),
                    "PROTOCOL.md:{lineno}: blank line in a json block"
                );
                out.push(Example {
                    dir,
                    lineno,
                    text: line.to_owned(),
                });
            }
            Block::Transcript => {
                let (dir, text) = if let Some(t) = line.strip_prefix("host> ") {
                    (Dir::Host, t)
                } else if let Some(t) = line.strip_prefix("plugin> ") {
                    (Dir::Plugin, t)
                } else if line.starts_with("stderr> ") {
                    continue;
                } else {
                    panic!(
                        "PROTOCOL.md:{lineno}: transcript line without host>, plugin> or stderr>"
                    )
                };
                out.push(Example {
                    dir,
                    lineno,
                    text: text.to_owned(),
                });
            }
        }
    }
    assert!(
        matches!(block, Block::Outside),
        "PROTOCOL.md: unclosed code block"
    );
    out
}

/// The `type` of a message line.
fn type_of(v: &Json) -> &str {
    v.get("type").and_then(Json::as_str).unwrap_or("")
}

#[test]
fn every_example_validates_and_deserializes() {
    let schemas = Schemas::load();
    let examples = examples(&protocol_md());
    assert!(!examples.is_empty(), "PROTOCOL.md has no examples");

    for ex in &examples {
        let at = format!("PROTOCOL.md:{} ({} message)", ex.lineno, ex.dir);
        let value: Json =
            serde_json::from_str(&ex.text).unwrap_or_else(|e| panic!("{at}: not JSON: {e}"));
        assert!(value.is_object(), "{at}: not a JSON object");

        let errors = schemas.errors(ex.dir, &value);
        assert!(errors.is_empty(), "{at}: schema rejects it: {errors:#?}");
        assert!(
            schemas.any.is_valid(&value),
            "{at}: top-level schema rejects it"
        );

        // Deserialize with the wire types, serialize back, and check the result again.
        let reserialized = match ex.dir {
            Dir::Host => {
                let msg = HostMessage::from_line(ex.text.as_bytes())
                    .unwrap_or_else(|e| panic!("{at}: not a HostMessage: {e}"));
                let line = msg.to_line();
                // The host writes exactly this form: `type` first, compact. Plugins matching
                // `{"type":"collect"` as text depend on it.
                assert_eq!(
                    line.trim_end_matches('\n'),
                    ex.text,
                    "{at}: not in the host's form"
                );
                line
            }
            Dir::Plugin => {
                let msg = PluginMessage::from_line(ex.text.as_bytes())
                    .unwrap_or_else(|e| panic!("{at}: not a PluginMessage: {e}"));
                let line = msg.to_line();
                let again = PluginMessage::from_line(line.trim_end().as_bytes())
                    .unwrap_or_else(|e| panic!("{at}: its re-serialization does not parse: {e}"));
                assert_eq!(again.to_line(), line, "{at}: serialization is not stable");
                line
            }
        };
        assert!(reserialized.ends_with('\n') && reserialized.matches('\n').count() == 1);
        let back: Json = serde_json::from_str(&reserialized).expect("to_line writes JSON");
        assert_eq!(type_of(&back), type_of(&value), "{at}: type changed");
        let errors = schemas.errors(ex.dir, &back);
        assert!(
            errors.is_empty(),
            "{at}: schema rejects the re-serialized {reserialized}: {errors:#?}"
        );
    }
}

#[test]
fn every_message_type_has_an_example() {
    let examples = examples(&protocol_md());
    let mut seen = BTreeSet::new();
    let mut family_types = BTreeSet::new();
    let mut log_levels = BTreeSet::new();
    let (mut answer, mut without_id) = (false, false);
    for ex in &examples {
        let v: Json = serde_json::from_str(&ex.text).expect("checked elsewhere");
        let ty = type_of(&v).to_owned();
        if ex.dir == Dir::Plugin && ty == "metrics" {
            if v.get("id").is_some() {
                answer = true;
            } else {
                without_id = true;
            }
            for f in v["families"].as_array().into_iter().flatten() {
                family_types.insert(type_of(f).to_owned());
            }
        }
        if ex.dir == Dir::Plugin && ty == "log" {
            log_levels.insert(v["level"].as_str().unwrap_or("").to_owned());
        }
        seen.insert((ex.dir, ty));
    }
    for (dir, ty) in [
        (Dir::Host, "hello"),
        (Dir::Host, "collect"),
        (Dir::Host, "shutdown"),
        (Dir::Plugin, "hello"),
        (Dir::Plugin, "metrics"),
        (Dir::Plugin, "error"),
        (Dir::Plugin, "log"),
        (Dir::Host, "write"),
        (Dir::Plugin, "ack"),
    ] {
        assert!(
            seen.contains(&(dir, ty.to_owned())),
            "PROTOCOL.md has no `json {dir}` example of `{ty}`"
        );
    }
    for ty in [
        "counter",
        "gauge",
        "histogram",
        "summary",
        "untyped",
        "gaugehistogram",
        "info",
        "stateset",
    ] {
        assert!(
            family_types.contains(ty),
            "no metrics example has a {ty} family"
        );
    }
    for level in ["debug", "info", "warn", "error"] {
        assert!(
            log_levels.contains(level),
            "no log example at level {level}"
        );
    }
    assert!(answer, "no metrics example answers a collect by id");
    assert!(
        without_id,
        "no metrics example without id (in-order answer or push)"
    );
}

/// Lines that break the protocol: (direction, line, what is wrong).
const INVALID: &[(Dir, &str, &str)] = &[
    (
        Dir::Plugin,
        r#"{"type":"metric","families":[]}"#,
        "unknown message type",
    ),
    (Dir::Plugin, r#"{"families":[]}"#, "no type"),
    (
        Dir::Plugin,
        r#"{"type":"collect","id":1,"deadline_ms":1000}"#,
        "a host message",
    ),
    (Dir::Plugin, r#"["metrics"]"#, "not an object"),
    (Dir::Plugin, r#"["metrics",7,[]]"#, "not an object"),
    (Dir::Host, r#"["shutdown"]"#, "not an object"),
    (Dir::Plugin, r#"{"type":"hello"}"#, "hello without protocol"),
    (
        Dir::Plugin,
        r#"{"type":"hello","protocol":"1"}"#,
        "protocol as a string",
    ),
    (
        Dir::Plugin,
        r#"{"type":"metrics","families":[{"name":"x","type":"gauges","samples":[]}]}"#,
        "unknown family type",
    ),
    (
        Dir::Plugin,
        r#"{"type":"metrics","families":[{"type":"gauge","samples":[{"value":1}]}]}"#,
        "family without name",
    ),
    (
        Dir::Plugin,
        r#"{"type":"metrics","families":[{"name":"x","type":"gauge","samples":[{"value":"inf"}]}]}"#,
        "value \"inf\"",
    ),
    (
        Dir::Plugin,
        r#"{"type":"metrics","families":[{"name":"x","type":"gauge","samples":[{"value":"Infinity"}]}]}"#,
        "value \"Infinity\"",
    ),
    (
        Dir::Plugin,
        r#"{"type":"metrics","families":[{"name":"x","type":"gauge","samples":[{"value":"1.5"}]}]}"#,
        "number as a string",
    ),
    (
        Dir::Plugin,
        r#"{"type":"metrics","families":[{"name":"x","type":"gauge","samples":[{"labels":{"a":1},"value":1}]}]}"#,
        "label value not a string",
    ),
    (
        Dir::Plugin,
        r#"{"type":"metrics","families":[{"name":"x","type":"histogram","samples":[{"buckets":[{"le":"inf","count":1}],"sum":1,"count":1}]}]}"#,
        "bucket le \"inf\"",
    ),
    (
        Dir::Plugin,
        r#"{"type":"metrics","id":-1,"families":[]}"#,
        "negative id",
    ),
    (
        Dir::Plugin,
        r#"{"type":"metrics","id":"7","families":[]}"#,
        "id as a string",
    ),
    (
        Dir::Plugin,
        r#"{"type":"error","id":7}"#,
        "error without message",
    ),
    (
        Dir::Plugin,
        r#"{"type":"log","level":"fatal","message":"x"}"#,
        "unknown log level",
    ),
    (
        Dir::Plugin,
        r#"{"type":"log","message":"x"}"#,
        "log without level",
    ),
    (
        Dir::Host,
        r#"{"type":"collect","id":"7","deadline_ms":2500}"#,
        "id as a string",
    ),
    (
        Dir::Host,
        r#"{"type":"collect","id":7}"#,
        "collect without deadline",
    ),
    (
        Dir::Host,
        r#"{"type":"hello","protocol":1}"#,
        "hello without name",
    ),
    (
        Dir::Host,
        r#"{"type":"metrics","families":[]}"#,
        "a plugin message",
    ),
    (Dir::Host, r#"{"type":"stop"}"#, "unknown message type"),
    (Dir::Plugin, r#"{"type":"ack"}"#, "ack without id"),
    (
        Dir::Host,
        r#"{"type":"write","families":[]}"#,
        "write without id",
    ),
];

#[test]
fn invalid_lines_are_refused_by_schema_and_types() {
    let schemas = Schemas::load();
    for &(dir, line, why) in INVALID {
        let value: Json = serde_json::from_str(line).expect("the invalid lines are still JSON");
        assert!(
            !schemas.for_dir(dir).is_valid(&value),
            "schema accepts a {dir} line with {why}: {line}"
        );
        let parsed = match dir {
            Dir::Host => HostMessage::from_line(line.as_bytes()).map(|_| ()),
            Dir::Plugin => PluginMessage::from_line(line.as_bytes()).map(|_| ()),
        };
        assert!(
            parsed.is_err(),
            "types accept a {dir} line with {why}: {line}"
        );
    }
}

/// Lines the wire types parse (the host must see them to count them) but that break rules the
/// host checks after parsing; the schema, meant for plugin authors, already refuses them.
const PARSE_BUT_INVALID: &[(&str, &str)] = &[
    (
        r#"{"type":"metrics","families":[{"name":"1x","type":"gauge","samples":[{"value":1}]}]}"#,
        "invalid metric name",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"plugin_exporter_up","type":"gauge","samples":[{"value":1}]}]}"#,
        "reserved name prefix",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"x","type":"gauge","samples":[{"labels":{"__name__":"y"},"value":1}]}]}"#,
        "reserved label name",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"x","type":"gauge","samples":[{"labels":{"a-b":"y"},"value":1}]}]}"#,
        "invalid label name",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"x_total","type":"counter","samples":[{"value":-1}]}]}"#,
        "negative counter",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"x_total","type":"counter","samples":[{"value":"NaN"}]}]}"#,
        "NaN counter",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"x","type":"gauge","samples":[{"buckets":[],"sum":1,"count":1}]}]}"#,
        "gauge sample without value",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"x","type":"histogram","samples":[{"value":1}]}]}"#,
        "histogram sample without buckets",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"x","type":"summary","samples":[{"quantiles":[{"quantile":1.5,"value":1}],"sum":1,"count":1}]}]}"#,
        "quantile above 1",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"x","type":"gauge","samples":[{"labels":{"le":"1"},"value":1}]}]}"#,
        "label le outside the exposition's own use",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"x_total","type":"counter","samples":[{"value":1,"sum":1}]}]}"#,
        "counter sample with a histogram member",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"x","type":"histogram","samples":[{"buckets":[{"le":1,"count":1}],"sum":1,"count":1.5}]}]}"#,
        "fractional count",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"x","type":"histogram","samples":[{"buckets":[{"le":"NaN","count":1}],"sum":1,"count":1}]}]}"#,
        "NaN bucket bound",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"x","type":"histogram","samples":[{"buckets":[{"le":1,"count":1}],"sum":"NaN","count":1}]}]}"#,
        "NaN histogram sum",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"x","type":"histogram","samples":[{"buckets":[{"le":1,"count":1}],"sum":1}]}]}"#,
        "histogram without count or +Inf bucket",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"x","type":"summary","samples":[{"quantiles":[{"quantile":0.5,"value":-1}]}]}]}"#,
        "negative quantile value",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"x","type":"summary","samples":[{"sum":-1,"count":1}]}]}"#,
        "negative summary sum",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"x","type":"summary","samples":[{}]}]}"#,
        "empty summary sample",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"build_info","type":"info","samples":[{"value":2}]}]}"#,
        "info value 2",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"build","type":"info","samples":[{"labels":{"v":"1"}}]}]}"#,
        "info family without _info",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"x_info","type":"info","unit":"seconds","samples":[]}]}"#,
        "info family with a unit",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"mode","type":"stateset","samples":[{"labels":{"mode":"a"},"value":0.5}]}]}"#,
        "stateset value 0.5",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"x","type":"gauge","samples":[{"value":1,"exemplar":{"value":1}}]}]}"#,
        "exemplar on a gauge",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"x","type":"gauge","samples":[{"value":1,"created":1}]}]}"#,
        "created time on a gauge",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"x","type":"gaugehistogram","samples":[{"buckets":[{"le":"+Inf","count":1}],"created":1}]}]}"#,
        "created time on a gauge histogram",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"x_total","type":"counter","samples":[{"value":1,"exemplar":{"labels":{"a-b":"1"},"value":1}}]}]}"#,
        "invalid exemplar label name",
    ),
];

/// Lines that break the new members' types: the host cannot even read them.
const INVALID_MEMBERS: &[(&str, &str)] = &[
    (
        r#"{"type":"metrics","families":[{"name":"x","type":"gauge","samples":[{"value":1,"timestamp":"now"}]}]}"#,
        "timestamp as a string",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"x_total","type":"counter","samples":[{"value":1,"exemplar":{"labels":{}}}]}]}"#,
        "exemplar without a value",
    ),
    (
        r#"{"type":"metrics","families":[{"name":"x","type":"gaugehistograms","samples":[]}]}"#,
        "unknown family type",
    ),
];

#[test]
fn malformed_new_members_are_refused_by_schema_and_types() {
    let schemas = Schemas::load();
    for &(line, why) in INVALID_MEMBERS {
        let value: Json = serde_json::from_str(line).unwrap();
        assert!(
            !schemas.plugin.is_valid(&value),
            "schema accepts {why}: {line}"
        );
        assert!(
            PluginMessage::from_line(line.as_bytes()).is_err(),
            "types accept {why}: {line}"
        );
    }
}

/// Lines of plugins written before the OpenMetrics types existed, and OpenMetrics' name for
/// untyped: all still valid, and read the same.
#[test]
fn old_messages_keep_their_meaning() {
    let schemas = Schemas::load();
    let old = r#"{"type":"metrics","families":[{"name":"h","type":"histogram","samples":[{"buckets":[{"le":1,"count":1}],"sum":1,"count":2}]},{"name":"u","type":"unknown","samples":[{"value":1}]}]}"#;
    assert!(schemas.plugin.is_valid(&serde_json::from_str(old).unwrap()));
    let PluginMessage::Metrics(m) = PluginMessage::from_line(old.as_bytes()).unwrap() else {
        panic!("not metrics")
    };
    let s = &m.families[0].samples[0];
    assert_eq!(
        (s.timestamp, s.created, s.exemplar.is_none()),
        (None, None, true)
    );
    assert_eq!(m.families[1].kind, plugin_protocol::MetricType::Untyped);
    // Written back, nothing new appears.
    let back = PluginMessage::Metrics(m).to_line();
    assert!(!back.contains("timestamp") && !back.contains("exemplar") && !back.contains("created"));
}

#[test]
fn schema_also_refuses_what_the_host_drops_after_parsing() {
    let schemas = Schemas::load();
    for &(line, why) in PARSE_BUT_INVALID {
        let value: Json = serde_json::from_str(line).unwrap();
        assert!(
            !schemas.plugin.is_valid(&value),
            "schema accepts {why}: {line}"
        );
        PluginMessage::from_line(line.as_bytes())
            .unwrap_or_else(|e| panic!("types refuse {why}, so the host could not count it: {e}"));
    }
}

#[test]
fn unknown_fields_are_ignored_by_schema_and_types() {
    let schemas = Schemas::load();
    let host = r#"{"type":"collect","id":1,"deadline_ms":100,"trace":"abc"}"#;
    let plugin = r#"{"type":"metrics","id":1,"families":[{"name":"x","type":"gauge","samples":[{"value":1,"note":{}}],"extra":true}],"shard":3}"#;
    assert!(schemas.host.is_valid(&serde_json::from_str(host).unwrap()));
    assert!(HostMessage::from_line(host.as_bytes()).is_ok());
    assert!(schemas
        .plugin
        .is_valid(&serde_json::from_str(plugin).unwrap()));
    assert!(PluginMessage::from_line(plugin.as_bytes()).is_ok());
}

#[test]
fn the_schema_is_a_valid_draft_2020_12_schema() {
    let s = schema();
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
    if let Err(e) = jsonschema::meta::validate(&s) {
        panic!("schema/protocol.schema.json is not a valid schema: {e}");
    }
    for def in ["host_message", "plugin_message"] {
        let one_of = s["$defs"][def]["oneOf"].as_array().expect("a oneOf");
        assert!(!one_of.is_empty());
    }
}

/// The text of the first ```` ```sh ```` block after the heading that names the minimal plugin.
fn minimal_sh_plugin(md: &str) -> String {
    let section = md
        .split("\n## ")
        .find(|s| s.starts_with("A minimal plugin in sh"))
        .expect("PROTOCOL.md has a section `A minimal plugin in sh`");
    let start = section
        .find("```sh\n")
        .expect("the section has a ```sh block")
        + 6;
    let len = section[start..]
        .find("```")
        .expect("the ```sh block is closed");
    section[start..start + len].to_owned()
}

#[test]
fn the_minimal_sh_plugin_is_the_shipped_example() {
    let script = minimal_sh_plugin(&protocol_md());
    // The example lives in the workspace, not in this crate; skip when the crate stands alone.
    let shipped = crate_path("../examples/sh/loadavg.sh");
    if let Ok(text) = std::fs::read_to_string(&shipped) {
        assert_eq!(
            script, text,
            "the sh plugin in PROTOCOL.md differs from examples/sh/loadavg.sh"
        );
    }
}

#[cfg(target_os = "linux")]
mod sh_plugin {
    //! Runs the minimal sh plugin from PROTOCOL.md as a real process.

    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    /// Starts the script as `sh -c SCRIPT`, the text exactly as PROTOCOL.md shows it.
    fn spawn() -> Child {
        Command::new("sh")
            .arg("-c")
            .arg(minimal_sh_plugin(&protocol_md()))
            .arg("loadavg.sh")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("sh starts")
    }

    /// Waits for the child to exit, failing after a generous timeout (and killing it).
    fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > until {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the sh plugin did not exit");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn answers_collects_in_order_and_exits_on_shutdown() {
        let schemas = Schemas::load();
        let mut child = spawn();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdin
            .write_all(b"{\"type\":\"hello\",\"protocol\":1,\"name\":\"loadavg\",\"config\":{}}\n")
            .unwrap();
        for id in 1..=2u64 {
            let collect = HostMessage::Collect(plugin_protocol::Collect {
                id,
                deadline_ms: 1000,
            });
            stdin.write_all(collect.to_line().as_bytes()).unwrap();
            stdin.flush().unwrap();
            // The answer arrives while stdin is still open: the plugin does not wait for EOF.
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            assert!(line.ends_with('\n'), "unterminated answer {line:?}");
            let value: Json = serde_json::from_str(&line).expect("the answer is JSON");
            let errors = schemas.errors(Dir::Plugin, &value);
            assert!(errors.is_empty(), "{line}: {errors:#?}");
            let PluginMessage::Metrics(m) = PluginMessage::from_line(line.trim_end().as_bytes())
                .expect("the answer is a PluginMessage")
            else {
                panic!("not a metrics answer: {line}");
            };
            assert_eq!(m.id, None, "the sh plugin answers in order");
            let names: Vec<_> = m.families.iter().map(|f| f.name.as_str()).collect();
            assert_eq!(names, ["loadavg_load1", "loadavg_load5", "loadavg_load15"]);
        }
        stdin
            .write_all(
                HostMessage::Shutdown(Default::default())
                    .to_line()
                    .as_bytes(),
            )
            .unwrap();
        stdin.flush().unwrap();
        // stdin stays open: the plugin must exit on `shutdown` alone.
        let status = wait_exit(&mut child);
        assert!(status.success(), "exit status {status}");
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
        assert_eq!(rest, "", "output after shutdown");
        drop(stdin);
    }

    #[test]
    fn exits_on_stdin_eof() {
        let mut child = spawn();
        drop(child.stdin.take());
        let status = wait_exit(&mut child);
        assert!(status.success(), "exit status {status}");
    }
}
