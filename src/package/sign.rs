//! `plugin-exporter plugins sign DIR --key FILE`: pins every file's SHA-256 in the manifest
//! and signs the manifest with a minisign secret key (a key from `minisign -G` works; an
//! encrypted one takes its password from `PLUGIN_EXPORTER_KEY_PASSWORD`, else asks).

use std::path::Path;

use super::manifest::{MANIFEST, SIGNATURE};
use super::trust::{package_files, sha256_hex};

/// Why signing failed, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SignError(pub String);

/// The manifest text with its top-level `files:` block replaced by `files` (or appended).
pub fn with_files(text: &str, files: &[(String, String)]) -> String {
    let mut out = String::with_capacity(text.len() + files.len() * 80);
    let mut skipping = false;
    for line in text.lines() {
        let top_level = !line.starts_with([' ', '\t', '#']) && !line.is_empty();
        if top_level {
            skipping = line.starts_with("files:");
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out.push_str("files:\n");
    for (f, sum) in files {
        out.push_str(&format!("  {}: {sum}\n", yaml_key(f)));
    }
    out
}

/// A file path as a YAML key: quoted unless plainly safe.
fn yaml_key(s: &str) -> String {
    let plain = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-'));
    if plain && !s.starts_with(['.', '-']) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

/// Pins the files of the package in `dir` and signs its manifest with the key in `key_file`.
pub fn sign(dir: &Path, key_file: &Path) -> Result<(), SignError> {
    let manifest = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&manifest)
        .map_err(|e| SignError(format!("cannot read {}: {e}", manifest.display())))?;
    let mut files = Vec::new();
    for f in package_files(dir).map_err(|e| SignError(format!("{}: {e}", dir.display())))? {
        let sum = sha256_hex(&dir.join(&f))
            .map_err(|e| SignError(format!("{}: {e}", dir.join(&f).display())))?;
        files.push((f, sum));
    }
    let text = with_files(&text, &files);
    // The manifest must still read as one after the rewrite.
    yaml_serde::from_str::<super::manifest::Manifest>(&text)
        .map_err(|e| SignError(format!("{}: {e}", manifest.display())))?;
    let key_text = std::fs::read_to_string(key_file)
        .map_err(|e| SignError(format!("cannot read {}: {e}", key_file.display())))?;
    let boxed = minisign::SecretKeyBox::from_string(&key_text).map_err(|e| {
        SignError(format!(
            "{}: not a minisign secret key: {e}",
            key_file.display()
        ))
    })?;
    let key = match boxed.clone().into_unencrypted_secret_key() {
        Ok(k) => k,
        Err(plain) => boxed
            .into_secret_key(std::env::var("PLUGIN_EXPORTER_KEY_PASSWORD").ok())
            .map_err(|e| SignError(format!("{}: {plain}; {e}", key_file.display())))?,
    };
    let comment = format!("plugin-exporter package {}", dir.display());
    let sig = minisign::sign(None, &key, text.as_bytes(), Some(&comment), None)
        .map_err(|e| SignError(format!("signing {}: {e}", manifest.display())))?;
    std::fs::write(&manifest, &text)
        .map_err(|e| SignError(format!("cannot write {}: {e}", manifest.display())))?;
    std::fs::write(dir.join(SIGNATURE), sig.to_string()).map_err(|e| {
        SignError(format!(
            "cannot write {}: {e}",
            dir.join(SIGNATURE).display()
        ))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_block_is_replaced_whatever_follows_it() {
        let text = "name: a\nfiles:\n  old: x\n  other: y\nversion: 1.0.0\n";
        let out = with_files(text, &[("bin/run.sh".into(), "ab".into())]);
        assert_eq!(out, "name: a\nversion: 1.0.0\nfiles:\n  bin/run.sh: ab\n");
        assert_eq!(yaml_key("a b"), "'a b'");
    }
}
