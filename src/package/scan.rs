//! Finding packages: every directory holding a `plugin.yml` one level under each
//! `plugins_dirs` entry, read and judged (signature, files, requirements); and choosing, for a
//! plugin entry, the highest version that matches its range.

use std::path::{Path, PathBuf};

use super::manifest::Manifest;
use super::trust::{files_problem, verify_signature, Signature, TrustedKey};

/// One package found.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// Its directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// Its signature's verdict.
    pub signature: Signature,
    /// A file that is not as signed, if any.
    pub tampered: Option<String>,
}

/// A directory that looked like a package but could not be read.
#[derive(Debug, Clone)]
pub struct Broken {
    /// Its directory.
    pub dir: PathBuf,
    /// Why, naming the file and line.
    pub error: String,
}

/// Scans `dirs` for packages, sorted by name then version (highest first).
pub fn scan(dirs: &[PathBuf], keys: &[TrustedKey]) -> (Vec<Found>, Vec<Broken>) {
    let mut found = Vec::new();
    let mut broken = Vec::new();
    for root in dirs {
        let Ok(entries) = std::fs::read_dir(root) else {
            continue;
        };
        let mut dirs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for dir in dirs {
            if !dir.join(super::manifest::MANIFEST).exists() {
                continue;
            }
            match read(&dir, keys) {
                Ok(f) => found.push(f),
                Err(error) => broken.push(Broken { dir, error }),
            }
        }
    }
    found.sort_by(|a, b| {
        a.manifest
            .name
            .cmp(&b.manifest.name)
            .then(b.manifest.semver().cmp(&a.manifest.semver()))
    });
    (found, broken)
}

/// Reads and judges one package directory.
pub fn read(dir: &Path, keys: &[TrustedKey]) -> Result<Found, String> {
    let (manifest, bytes) = Manifest::read(dir).map_err(|e| e.to_string())?;
    let signature = verify_signature(dir, &bytes, keys);
    let tampered = files_problem(dir, &manifest);
    Ok(Found {
        dir: dir.to_path_buf(),
        manifest,
        signature,
        tampered,
    })
}

/// The highest version of package `name` matching `range` (any when `None`), or why none.
pub fn choose<'a>(
    found: &'a [Found],
    name: &str,
    range: Option<&str>,
) -> Result<&'a Found, String> {
    let req = match range {
        Some(r) => Some(semver::VersionReq::parse(r).map_err(|e| format!("version `{r}`: {e}"))?),
        None => None,
    };
    let versions: Vec<&Found> = found.iter().filter(|f| f.manifest.name == name).collect();
    if versions.is_empty() {
        return Err(format!("no package named `{name}` in plugins_dirs"));
    }
    versions
        .iter()
        .copied()
        .filter(|f| req.as_ref().is_none_or(|r| r.matches(&f.manifest.semver())))
        .max_by(|a, b| a.manifest.semver().cmp(&b.manifest.semver()))
        .ok_or_else(|| {
            let have: Vec<&str> = versions
                .iter()
                .map(|f| f.manifest.version.as_str())
                .collect();
            format!(
                "no version of package `{name}` matches `{}` (installed: {})",
                range.unwrap_or("*"),
                have.join(", ")
            )
        })
}
