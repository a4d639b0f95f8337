//! [`CgroupError`]: what went wrong with a cgroup operation, with the path and, for
//! writes, the value; and [`chain`], an error with its sources on one line, for the
//! detection reasons and debug logs.

use std::io;
use std::path::PathBuf;

/// What went wrong with a cgroup operation; carries the path and, for writes, the value.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// Cgroups are off (mode `none`).
    #[error("cgroups are off: {reason}")]
    Disabled {
        /// Why (the detection reason).
        reason: String,
    },
    /// The plugin name cannot be a directory name.
    #[error("plugin name {name:?} cannot name a cgroup")]
    InvalidName {
        /// The name.
        name: String,
    },
    /// A limit the kernel cannot express.
    #[error("invalid {what} limit {value}")]
    InvalidLimit {
        /// Which limit.
        what: &'static str,
        /// The value given.
        value: String,
    },
    /// A limit was asked for a controller our cgroup does not offer.
    #[error("the {controller} controller is not available in {}", path.display())]
    ControllerMissing {
        /// The controller.
        controller: &'static str,
        /// The cgroup lacking it.
        path: PathBuf,
    },
    /// A cgroup directory could not be created.
    #[error("cannot create cgroup {}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A control file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A value could not be written to a control file.
    #[error("cannot write {value:?} to {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The value.
        value: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A `cgroup.procs` file could not be opened for the child to join.
    #[error("cannot open {} for writing", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A cgroup directory could not be removed (`EBUSY`: processes or child cgroups left).
    #[error("cannot remove cgroup {}", path.display())]
    RemoveDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// An error with its sources, on one line (detection reasons are single strings).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}
