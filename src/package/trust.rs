//! Who made a package and whether it is as they made it: the minisign signature of the
//! manifest (verified with `minisign-verify` against the trusted keys), and the SHA-256 of
//! every file the manifest pins, checked at start and before every restart.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::manifest::{Manifest, MANIFEST, SIGNATURE};

/// What to do with a package that no trusted key signed (`trust.unsigned`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unsigned {
    /// Refuse to run it.
    Refuse,
    /// Run it with the strictest limits and sandbox.
    #[default]
    Restrict,
    /// Run it as it asks.
    Allow,
}

/// The signature's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    /// Signed by the trusted key with this id (hex).
    Trusted(String),
    /// No signature file.
    Unsigned,
    /// Signed, by a key that is not trusted.
    UnknownSigner,
    /// A signature file that does not verify or cannot be read.
    Invalid(String),
}

impl Signature {
    /// The status code shown in the API, `check-config` and the self-metric.
    pub fn code(&self) -> &'static str {
        match self {
            Signature::Trusted(_) => "trusted",
            Signature::Unsigned => "unsigned",
            Signature::UnknownSigner => "unknown_signer",
            Signature::Invalid(_) => "invalid",
        }
    }

    /// True when a trusted key signed it.
    pub fn is_trusted(&self) -> bool {
        matches!(self, Signature::Trusted(_))
    }
}

impl std::fmt::Display for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Signature::Trusted(id) => write!(f, "signed by trusted key {id}"),
            Signature::Unsigned => f.write_str("unsigned"),
            Signature::UnknownSigner => f.write_str("signed by a key that is not trusted"),
            Signature::Invalid(why) => write!(f, "bad signature: {why}"),
        }
    }
}

/// A trusted public key, as `minisign -G` writes it (the base64 line, or the whole `.pub`).
#[derive(Clone)]
pub struct TrustedKey {
    key: minisign_verify::PublicKey,
    /// The key as written.
    pub text: String,
}

impl std::fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrustedKey({})", self.text)
    }
}

impl PartialEq for TrustedKey {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl TrustedKey {
    /// Parses a key: its base64 line, or the two lines of a `.pub` file.
    pub fn parse(text: &str) -> Result<TrustedKey, String> {
        let line = text
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .unwrap_or("");
        let key = minisign_verify::PublicKey::from_base64(line)
            .map_err(|e| format!("not a minisign public key ({e})"))?;
        Ok(TrustedKey {
            key,
            text: line.to_string(),
        })
    }
}

/// The key id a signature names, in hex (as `minisign` shows it), from its second line.
fn key_id_of(sig_text: &str) -> Option<String> {
    use base64::Engine;
    let line = sig_text.lines().nth(1)?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(line.trim())
        .ok()?;
    let id = raw.get(2..10)?;
    Some(id.iter().rev().map(|b| format!("{b:02X}")).collect())
}

/// Checks the manifest's signature (`plugin.yml.minisig`) against `keys`.
pub fn verify_signature(dir: &Path, manifest: &[u8], keys: &[TrustedKey]) -> Signature {
    let path = dir.join(SIGNATURE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Signature::Unsigned,
        Err(e) => return Signature::Invalid(format!("cannot read {}: {e}", path.display())),
    };
    let sig = match minisign_verify::Signature::decode(&text) {
        Ok(s) => s,
        Err(e) => return Signature::Invalid(format!("{}: {e}", path.display())),
    };
    let mut known = false;
    for k in keys {
        match k.key.verify(manifest, &sig, false) {
            Ok(()) => return Signature::Trusted(key_id_of(&text).unwrap_or_default()),
            Err(minisign_verify::Error::UnexpectedKeyId) => {}
            Err(e) => {
                known = true;
                let _ = e;
            }
        }
    }
    if known {
        Signature::Invalid(format!(
            "{} does not verify: {MANIFEST} changed after signing",
            path.display()
        ))
    } else {
        Signature::UnknownSigner
    }
}

/// SHA-256 of a file, hex.
pub fn sha256_hex(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Every file under `dir` but the manifest and its signature, as paths relative to it
/// (`/`-separated), sorted.
pub fn package_files(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut out = BTreeSet::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(dir.join(&rel))? {
            let e = e?;
            let name = rel.join(e.file_name());
            let ty = e.file_type()?;
            if ty.is_dir() {
                stack.push(name);
            } else if ty.is_file() {
                let s = name.to_string_lossy().to_string();
                if s != MANIFEST && s != SIGNATURE {
                    out.insert(s);
                }
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// The first file that differs from what the manifest pins (changed, missing, or present
/// but not pinned), in words naming it; `None` when every file is as signed.
pub fn files_problem(dir: &Path, manifest: &Manifest) -> Option<String> {
    let present = match package_files(dir) {
        Ok(p) => p,
        Err(e) => return Some(format!("cannot list {}: {e}", dir.display())),
    };
    for f in &present {
        if !manifest.files.contains_key(f) {
            return Some(format!(
                "{} is in the package but not in its manifest's files",
                dir.join(f).display()
            ));
        }
    }
    for (f, want) in &manifest.files {
        let path = dir.join(f);
        match sha256_hex(&path) {
            Ok(got) if got.eq_ignore_ascii_case(want) => {}
            Ok(got) => {
                return Some(format!(
                    "{} was changed after signing: SHA-256 {got}, the manifest pins {want}",
                    path.display()
                ))
            }
            Err(e) => return Some(format!("{}: {e}", path.display())),
        }
    }
    None
}
