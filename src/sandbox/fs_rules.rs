//! The file system half of the tighter fence: what a plugin may read, write and execute
//! ([`FsPlan`]: the strict or standard set plus the configured paths), and the programs a
//! plugin's own program needs to run at all ([`interpreters`]).
//!
//! - The strict set reads the system's libraries and a few files every program may need
//!   ([`STRICT_READ`]), the plugin's own directory and working directory, and `/proc/self`;
//!   writes only the plugin's private `TMPDIR` (and `/dev/null`); executes only the plugin's
//!   program and its interpreters.
//! - The standard set reads the whole file system except where secrets live ([`HIDDEN`]),
//!   with the same writes, and executes the system's programs ([`STANDARD_EXEC`]).
//!
//! Landlock only allows: "everything but" is every entry of a directory that holds a hidden
//! path, down to the hidden path itself, each allowed on its own. Entries created later in
//! such a directory are not readable.

use crate::config::{FsPaths, Preset};
use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// Read by every fenced plugin: the dynamic loader's and libc's files, devices that are no
/// secret, time zones, users and groups (names, not passwords).
pub const STRICT_READ: &[&str] = &[
    "/usr",
    "/lib",
    "/lib64",
    "/lib32",
    "/libx32",
    "/bin",
    "/sbin",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/ld.so.preload",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/passwd",
    "/etc/group",
    "/etc/hosts",
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];

/// Paths of the child itself, which the child opens for its own rule (in the parent they
/// would name the exporter).
pub const OWN_READ: &[&str] = &["/proc/self"];

/// Written by every fenced plugin besides its `TMPDIR`.
pub const ALWAYS_WRITE: &[&str] = &["/dev/null"];

/// What the standard set does not read: home directories, devices, boot files, password
/// and key files, the exporter's own configuration, mounted secrets.
pub const HIDDEN: &[&str] = &[
    "/root",
    "/home",
    "/dev",
    "/boot",
    "/lost+found",
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/ssh",
    "/etc/ssl/private",
    "/etc/security/opasswd",
    "/etc/krb5.keytab",
    "/etc/plugin-exporter",
    "/var/backups",
    "/var/spool/cron",
    "/var/mail",
    "/run/secrets",
    "/var/run/secrets",
];

/// Executed by plugins under the standard set: the system's programs and libraries.
pub const STANDARD_EXEC: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/opt",
];

/// The paths one plugin start may read, write and execute (absent paths are skipped when
/// the rules are made).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsPlan {
    /// Read files and list directories beneath.
    pub read: Vec<PathBuf>,
    /// Read, write, create and remove beneath.
    pub write: Vec<PathBuf>,
    /// Execute and read beneath.
    pub exec: Vec<PathBuf>,
    /// Read beneath, opened by the child ([`OWN_READ`]).
    pub own_read: Vec<&'static str>,
}

/// Where one plugin start stands: its program, working directory, `TMPDIR` and `PATH`.
pub struct Start<'a> {
    /// `command[0]`, absolute.
    pub program: &'a Path,
    /// The configured working directory.
    pub working_dir: Option<&'a Path>,
    /// The private temporary directory.
    pub tmpdir: &'a Path,
    /// The `PATH` the plugin gets (for `#!/usr/bin/env NAME`).
    pub path_env: Option<&'a OsStr>,
}

/// The plan of a plugin fenced with `base`'s set plus `extra`.
pub fn plan(base: Preset, extra: &FsPaths, start: &Start) -> FsPlan {
    let paths = |list: &[&str]| list.iter().map(PathBuf::from).collect::<Vec<_>>();
    let mut read = paths(STRICT_READ);
    let mut exec = interpreters(start.program, start.path_env);
    exec.insert(0, start.program.to_path_buf());
    if base == Preset::Standard {
        read.extend(standard_read());
        exec.extend(paths(STANDARD_EXEC));
    }
    read.extend(start.program.parent().map(Path::to_path_buf));
    read.extend(start.working_dir.map(Path::to_path_buf));
    read.extend(extra.read.iter().cloned());
    let mut write = vec![start.tmpdir.to_path_buf()];
    write.extend(paths(ALWAYS_WRITE));
    write.extend(extra.write.iter().cloned());
    exec.extend(extra.exec.iter().cloned());
    for list in [&mut read, &mut write, &mut exec] {
        let mut seen = std::collections::HashSet::new();
        list.retain(|p| seen.insert(p.clone()));
    }
    FsPlan {
        read,
        write,
        exec,
        own_read: OWN_READ.to_vec(),
    }
}

/// The directories listed for the standard set, with their modification times then.
type Listed = Vec<(PathBuf, Option<SystemTime>)>;

/// What the standard set reads: every path beneath `/` but [`HIDDEN`]. The listing is kept
/// while the directories it listed are unchanged (their modification time moves when an
/// entry is added, removed or renamed), so a start costs a few `stat` calls, not a walk.
fn standard_read() -> Vec<PathBuf> {
    static CACHE: Mutex<Option<(Listed, Vec<PathBuf>)>> = Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((listed, read)) = cache.as_ref() {
        if listed.iter().all(|(dir, at)| modified(dir) == *at) {
            return read.clone();
        }
    }
    let hidden: Vec<PathBuf> = HIDDEN.iter().map(PathBuf::from).collect();
    let (mut listed, mut read) = (Vec::new(), Vec::new());
    all_but(Path::new("/"), &hidden, &mut read, &mut listed);
    *cache = Some((listed, read.clone()));
    read
}

fn modified(dir: &Path) -> Option<SystemTime> {
    std::fs::metadata(dir).and_then(|m| m.modified()).ok()
}

/// Adds `dir` to `out` if nothing hidden is beneath it; else each of its entries the same
/// way, leaving out the hidden paths themselves. Each directory listed goes to `listed`.
fn all_but(dir: &Path, hidden: &[PathBuf], out: &mut Vec<PathBuf>, listed: &mut Listed) {
    if hidden.iter().any(|h| h == dir) {
        return;
    }
    if !hidden.iter().any(|h| h.starts_with(dir)) {
        out.push(dir.to_path_buf());
        return;
    }
    listed.push((dir.to_path_buf(), modified(dir)));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for entry in entries {
        all_but(&entry, hidden, out, listed);
    }
}

/// What running `program` executes before it runs itself: the interpreter of its `#!` line
/// (for `/usr/bin/env NAME`, also NAME found in `path_env`), and the dynamic loader of
/// each ELF file on the way, followed through at most four steps.
pub fn interpreters(program: &Path, path_env: Option<&OsStr>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let mut todo = vec![program.to_path_buf()];
    let mut steps = 0;
    while let Some(file) = todo.pop() {
        steps += 1;
        if steps > 8 {
            break;
        }
        let Ok(mut f) = File::open(&file) else {
            continue;
        };
        let mut head = [0u8; 256];
        let n = f.read(&mut head).unwrap_or(0);
        let head = &head[..n];
        let next = if head.starts_with(b"#!") {
            shebang(head, path_env)
        } else if head.starts_with(b"\x7fELF") {
            elf_interpreter(&f).into_iter().collect()
        } else {
            Vec::new()
        };
        for p in next {
            if !out.contains(&p) && p != program {
                out.push(p.clone());
                todo.push(p);
            }
        }
    }
    out
}

/// The programs a `#!` line runs: its interpreter, and for `env` the program it looks up.
fn shebang(head: &[u8], path_env: Option<&OsStr>) -> Vec<PathBuf> {
    let line = head[2..].split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let Some(interpreter) = words.next() else {
        return Vec::new();
    };
    let mut out = vec![PathBuf::from(interpreter)];
    if Path::new(interpreter).file_name() == Some(OsStr::new("env")) {
        // `env [-S] [-i] [NAME=VALUE]... PROGRAM`: the first word that is neither.
        let name = words.find(|w| !w.starts_with('-') && !w.contains('='));
        if let Some(found) = name.and_then(|n| lookup(n, path_env)) {
            out.push(found);
        }
    }
    out
}

/// `name` looked up in `path_env` as execvp would (absolute entries only).
fn lookup(name: &str, path_env: Option<&OsStr>) -> Option<PathBuf> {
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    std::env::split_paths(path_env?)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The `PT_INTERP` path of an ELF file (its dynamic loader), if it has one.
fn elf_interpreter(f: &File) -> Option<PathBuf> {
    let mut ident = [0u8; 64];
    f.read_exact_at(&mut ident, 0).ok()?;
    let wide = match ident[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let little = ident[5] == 1;
    let num = |b: &[u8]| -> u64 {
        let mut v = 0u64;
        for (i, byte) in b.iter().enumerate() {
            let shift = if little { i } else { b.len() - 1 - i };
            v |= (*byte as u64) << (8 * shift);
        }
        v
    };
    let (phoff, phentsize, phnum) = if wide {
        (
            num(&ident[32..40]),
            num(&ident[54..56]),
            num(&ident[56..58]),
        )
    } else {
        (
            num(&ident[28..32]),
            num(&ident[42..44]),
            num(&ident[44..46]),
        )
    };
    if phentsize < 32 || phnum > 256 {
        return None;
    }
    let mut header = vec![0u8; phentsize as usize];
    for i in 0..phnum {
        f.read_exact_at(&mut header, phoff + i * phentsize).ok()?;
        if num(&header[0..4]) != 3 {
            continue; // not PT_INTERP
        }
        let (offset, size) = if wide {
            (num(&header[8..16]), num(&header[32..40]))
        } else {
            (num(&header[4..8]), num(&header[16..20]))
        };
        if size == 0 || size > 4096 {
            return None;
        }
        let mut path = vec![0u8; size as usize];
        f.read_exact_at(&mut path, offset).ok()?;
        let end = path.iter().position(|b| *b == 0).unwrap_or(path.len());
        path.truncate(end);
        return Some(PathBuf::from(String::from_utf8(path).ok()?));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shell_script_needs_its_shell_and_the_loader() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("p.sh");
        std::fs::write(&script, "#!/bin/sh -e\necho\n").unwrap();
        let found = interpreters(&script, None);
        assert_eq!(found[0], PathBuf::from("/bin/sh"));
        assert!(
            found
                .iter()
                .any(|p| p.to_string_lossy().contains("ld-linux")),
            "{found:?}"
        );
    }

    #[test]
    fn env_shebangs_look_the_program_up_in_path() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("p.py");
        std::fs::write(&script, "#!/usr/bin/env -S sh -e\n").unwrap();
        let found = interpreters(&script, Some(OsStr::new("relative:/usr/bin:/bin")));
        assert_eq!(
            found[..2],
            [PathBuf::from("/usr/bin/env"), "/usr/bin/sh".into()]
        );
    }

    #[test]
    fn the_standard_set_leaves_out_secrets_but_reads_their_neighbours() {
        let start = Start {
            program: Path::new("/usr/bin/true"),
            working_dir: None,
            tmpdir: Path::new("/tmp/x"),
            path_env: None,
        };
        let p = plan(Preset::Standard, &FsPaths::default(), &start);
        assert!(
            p.read.contains(&PathBuf::from("/etc/hostname"))
                || !Path::new("/etc/hostname").exists()
        );
        for hidden in ["/etc/shadow", "/etc", "/root", "/", "/dev"] {
            assert!(
                !p.read.contains(&PathBuf::from(hidden)),
                "{hidden} in {:?}",
                p.read
            );
        }
        assert!(p.read.contains(&PathBuf::from("/usr")));
        assert!(p.exec.contains(&PathBuf::from("/usr")));
        assert_eq!(p.write, [PathBuf::from("/tmp/x"), "/dev/null".into()]);
        let strict = plan(Preset::Strict, &FsPaths::default(), &start);
        assert_eq!(strict.exec[0], PathBuf::from("/usr/bin/true"));
        assert!(!strict.exec.contains(&PathBuf::from("/usr")));
        assert!(strict.read.contains(&PathBuf::from("/usr/bin")));
    }
}
