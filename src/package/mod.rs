//! Plugin packages: a directory with a manifest (`plugin.yml`, [`manifest`]), signed with
//! minisign ([`trust`]: the signature covers the manifest, which pins every file's SHA-256),
//! found under `plugins_dirs` ([`scan`]) and signed by their authors with
//! `plugin-exporter plugins sign` ([`sign`]).

pub mod cli;
pub mod manifest;
pub mod scan;
pub mod sign;
pub mod trust;

pub use manifest::Manifest;
pub use scan::Found;
pub use trust::{Signature, TrustedKey, Unsigned};

/// The limits a package runs with under `trust.unsigned: restrict`: the strictest the
/// exporter sets (see the README's "Plugin packages").
pub const RESTRICTED_LIMITS: &str =
    "{memory: 64MiB, cpu: 0.25, pids: 16, nofile: 256, fsize: 16MiB}";

/// A configured plugin's package, as the supervisor checks it before every start.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageRef {
    /// Package name.
    pub name: String,
    /// Version chosen.
    pub version: String,
    /// Its directory.
    pub dir: std::path::PathBuf,
    /// Its signature's verdict.
    pub signature: Signature,
    /// Its manifest, for the files check.
    pub manifest: Manifest,
}
