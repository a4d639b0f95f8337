//! `plugin-exporter plugins verify|new`: checking a package directory as its author or an
//! operator would, and scaffolding a new one that passes that check as generated.

use std::path::Path;

use super::manifest::{Manifest, SIGNATURE};
use super::trust::{files_problem, verify_signature, Signature, TrustedKey};

/// Checks one package directory: manifest, schema, checksums, signature (against `keys`,
/// when given). Returns the lines to print and whether it is sound.
pub fn verify(dir: &Path, keys: &[TrustedKey]) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    let (m, bytes) = match Manifest::read(dir) {
        Ok(x) => x,
        Err(e) => return (vec![format!("FAIL {e}")], false),
    };
    let mut ok = true;
    out.push(format!("{} {} ({})", m.name, m.version, dir.display()));
    if let Some(schema) = &m.config_schema {
        if let Err(e) = jsonschema::validator_for(schema) {
            out.push(format!(
                "FAIL {}: config_schema: {e}",
                dir.join("plugin.yml").display()
            ));
            ok = false;
        }
    }
    match files_problem(dir, &m) {
        None => out.push(format!("ok   {} files as pinned", m.files.len())),
        Some(why) => {
            out.push(format!("FAIL {why}"));
            ok = false;
        }
    }
    if let Some(why) = m.requirement_problem() {
        out.push(format!("FAIL {why}"));
        ok = false;
    }
    let program = dir.join(&m.command[0]);
    if !program.is_file() {
        out.push(format!("FAIL command {} does not exist", program.display()));
        ok = false;
    }
    match verify_signature(dir, &bytes, keys) {
        Signature::Invalid(why) => {
            out.push(format!("FAIL {why}"));
            ok = false;
        }
        Signature::UnknownSigner if keys.is_empty() => {
            out.push(format!(
                "ok   signed ({} not checked: no --key given)",
                SIGNATURE
            ));
        }
        s => out.push(format!("ok   {s}")),
    }
    (out, ok)
}

/// The languages `plugins new` writes.
pub const LANGS: [&str; 2] = ["sh", "python"];

/// Writes a new package `name` under `parent` in `lang`, its files pinned (unsigned).
pub fn new_package(
    parent: &Path,
    name: &str,
    lang: &str,
    role: &str,
) -> Result<std::path::PathBuf, String> {
    let dir = parent.join(name);
    if dir.exists() {
        return Err(format!("{} exists already", dir.display()));
    }
    if role != "collector" {
        return Err(format!(
            "plugins new writes collectors so far, not `{role}`"
        ));
    }
    let (file, body) = match lang {
        "sh" => ("plugin.sh", SH_PLUGIN.to_string()),
        "python" => ("plugin.py", PY_PLUGIN.to_string()),
        other => {
            return Err(format!(
                "unknown language `{other}` (one of {})",
                LANGS.join(", ")
            ))
        }
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let write = |f: &str, text: &str, exec: bool| -> Result<(), String> {
        let path = dir.join(f);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        if exec {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(())
    };
    let body = body
        .replace("METRIC", &name.replace('-', "_"))
        .replace("NAME", name);
    write(file, &body, true)?;
    let manifest = MANIFEST_TEMPLATE
        .replace("NAME", name)
        .replace("FILE", file);
    write("plugin.yml", &manifest, false)?;
    write(
        "test-config.yml",
        &format!(
            "# Runs this package from its parent directory:\n#   plugin-exporter --config.file {name}/test-config.yml\n\
             plugins_dirs: [..]\ntrust: {{unsigned: allow}}\nplugins:\n  - name: {name}\n    package: {name}\n    config: {{greeting: hello}}\n"
        ),
        false,
    )?;
    let mut files = Vec::new();
    for f in super::trust::package_files(&dir).map_err(|e| e.to_string())? {
        let sum = super::trust::sha256_hex(&dir.join(&f)).map_err(|e| e.to_string())?;
        files.push((f, sum));
    }
    write(
        "plugin.yml",
        &super::sign::with_files(&manifest, &files),
        false,
    )?;
    Ok(dir)
}

const MANIFEST_TEMPLATE: &str = "name: NAME
version: 0.1.0
description: A plugin made with plugin-exporter plugins new
homepage: https://example.org/NAME
license: Apache-2.0
roles: [collector]
command: [FILE]
mode: scrape
timeout: 5s
protocol: 1
requires: {plugin_exporter: '>=0.1', protocol: '1'}
config_schema:
  type: object
  properties:
    greeting: {type: string, description: the value of the greeting label}
  additionalProperties: false
limits: {memory: 64MiB}
";

const SH_PLUGIN: &str = r#"#!/bin/sh
# NAME: answers each collect with one gauge. Protocol: plugin-protocol/PROTOCOL.md.
greeting=hello
while IFS= read -r line; do
  case "$line" in
    '{"type":"hello"'*)
      g=$(printf '%s' "$line" | sed -n 's/.*"greeting":"\([^"]*\)".*/\1/p')
      [ -n "$g" ] && greeting=$g
      printf '{"type":"hello","protocol":1,"name":"NAME","version":"0.1.0"}\n' ;;
    '{"type":"collect"'*)
      id=$(printf '%s' "$line" | sed -n 's/.*"id":\([0-9]*\).*/\1/p')
      printf '{"type":"metrics","id":%s,"families":[{"name":"METRIC_up","type":"gauge","help":"1 while NAME runs.","samples":[{"labels":{"greeting":"%s"},"value":1}]}]}\n' "${id:-0}" "$greeting" ;;
    '{"type":"shutdown"'*) exit 0 ;;
  esac
done
"#;

const PY_PLUGIN: &str = r#"#!/usr/bin/env python3
"""NAME: answers each collect with one gauge. Protocol: plugin-protocol/PROTOCOL.md."""
import json
import sys

greeting = "hello"
for line in sys.stdin:
    msg = json.loads(line)
    kind = msg.get("type")
    if kind == "hello":
        greeting = (msg.get("config") or {}).get("greeting", greeting)
        out = {"type": "hello", "protocol": 1, "name": "NAME", "version": "0.1.0"}
    elif kind == "collect":
        name = "NAME".replace("-", "_") + "_up"
        sample = {"labels": {"greeting": greeting}, "value": 1}
        family = {"name": name, "type": "gauge", "help": "1 while NAME runs.", "samples": [sample]}
        out = {"type": "metrics", "id": msg.get("id"), "families": [family]}
    elif kind == "shutdown":
        break
    else:
        continue
    print(json.dumps(out), flush=True)
"#;
