//! Plugins in `mode: push`: the [`Pusher`], which sends batches on the plugin's own schedule
//! while a background thread listens for the host's `hello` and `shutdown`.

use super::batch::Batch;
use super::wire::{check_version, hello, metrics, parse_host_line, send, send_logs};
use crate::{HostHello, HostMessage, LogLevel, LogMessage, PluginMessage};
use std::io::{self, BufRead, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Sends batches on the plugin's own schedule, for plugins in `mode: push`.
///
/// A background thread reads the host's lines, so the plugin notices `shutdown` and the end of
/// stdin: [`Pusher::sleep`] returns `false` then, which ends the plugin's loop.
///
/// ```
/// use plugin_protocol::sdk::{Batch, Pusher};
/// use std::time::Duration;
///
/// let host: &'static [u8] = b"{\"type\":\"hello\",\"protocol\":1,\"name\":\"backup\",\"config\":{}}\n{\"type\":\"shutdown\"}\n";
/// let mut out = Vec::new();
/// let mut pusher = Pusher::with_io(host, &mut out, "backup", "1.0.0").unwrap();
/// let mut pushes = 0;
/// loop {
///     let mut batch = Batch::new();
///     batch
///         .gauge("backup_last_success_timestamp_seconds", "When the last backup finished.")
///         .unit("seconds")
///         .sample(&[], 1735689600.0);
///     pusher.push(&batch).unwrap();
///     pushes += 1;
///     // Returns false as soon as the host says shutdown (here: at once).
///     if !pusher.sleep(Duration::from_secs(60)).unwrap() {
///         break;
///     }
/// }
/// drop(pusher);
/// assert_eq!(pushes, 1);
/// let out = String::from_utf8(out).unwrap();
/// assert!(out.lines().nth(1).unwrap().starts_with(r#"{"type":"metrics","families":[{"name":"backup_last"#));
/// ```
pub struct Pusher<W: Write> {
    pub(crate) out: W,
    pub(crate) host: Arc<HostState>,
}

/// What the reader thread has heard from the host.
#[derive(Default)]
pub(crate) struct HostState {
    heard: Mutex<Heard>,
    changed: Condvar,
}

#[derive(Default)]
struct Heard {
    hello: Option<HostHello>,
    stopped: bool,
    refused: Option<String>,
}

impl HostState {
    fn lock(&self) -> MutexGuard<'_, Heard> {
        // The reader thread only sets plain fields while holding the lock and cannot panic
        // there, so a poisoned lock still holds consistent data.
        self.heard.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut Heard)) {
        f(&mut self.lock());
        self.changed.notify_all();
    }
}

impl Pusher<io::Stdout> {
    /// Starts pushing over stdin and stdout: sends the plugin's `hello` and starts reading the
    /// host's lines.
    pub fn start(name: &str, version: &str) -> io::Result<Self> {
        Self::with_io(io::BufReader::new(io::stdin()), io::stdout(), name, version)
    }
}

impl<W: Write> Pusher<W> {
    /// [`Pusher::start`] with the host's lines read from `reader` and the plugin's written to
    /// `writer`.
    pub fn with_io<R: BufRead + Send + 'static>(
        reader: R,
        mut writer: W,
        name: &str,
        version: &str,
    ) -> io::Result<Self> {
        send(&mut writer, &hello(name, version))?;
        let host = Arc::new(HostState::default());
        let listener = host.clone();
        let name = name.to_owned();
        std::thread::Builder::new()
            .name("plugin-host-reader".into())
            .spawn(move || listen(reader, &listener, &name))?;
        Ok(Pusher { out: writer, host })
    }

    /// Sends the batch's log lines, then its families as a push (`metrics` without `id`),
    /// which replaces everything pushed before. Build a new batch for each push.
    ///
    /// When the host has gone (broken pipe), nothing is sent and the pusher counts as
    /// stopped.
    pub fn push(&mut self, batch: &Batch) -> io::Result<()> {
        let sent = send_logs(&mut self.out, &batch.log)
            .and_then(|()| send(&mut self.out, &metrics(None, &batch.families)));
        self.gone_on_broken_pipe(sent)
    }

    /// Sends one `log` line.
    pub fn log(&mut self, level: LogLevel, message: impl Into<String>) -> io::Result<()> {
        let line = PluginMessage::Log(LogMessage {
            level,
            message: message.into(),
        });
        let sent = send(&mut self.out, &line);
        self.gone_on_broken_pipe(sent)
    }

    fn gone_on_broken_pipe(&self, sent: io::Result<()>) -> io::Result<()> {
        match sent {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.host.update(|h| h.stopped = true);
                Ok(())
            }
            r => r,
        }
    }

    /// Waits `period`, or less if the host says stop. `Ok(true)`: push again; `Ok(false)`: the
    /// host sent `shutdown`, closed stdin or has gone, so the plugin should exit. An error
    /// when the host speaks another protocol version: the plugin should print it to stderr
    /// and exit with a non-zero status.
    pub fn sleep(&self, period: Duration) -> io::Result<bool> {
        let end = Instant::now() + period;
        let mut heard = self.host.lock();
        loop {
            if let Some(e) = &heard.refused {
                return Err(io::Error::new(io::ErrorKind::InvalidData, e.clone()));
            }
            if heard.stopped {
                return Ok(false);
            }
            let now = Instant::now();
            if now >= end {
                return Ok(true);
            }
            heard = self
                .host
                .changed
                .wait_timeout(heard, end - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The host's `hello` (with the plugin's `config`), waiting up to `wait` for it; `None`
    /// when it did not come (the plugin runs by hand, or the host stopped first). An error
    /// when the host speaks another protocol version, as for [`Pusher::sleep`].
    pub fn host_hello(&self, wait: Duration) -> io::Result<Option<HostHello>> {
        let end = Instant::now() + wait;
        let mut heard = self.host.lock();
        loop {
            if let Some(e) = &heard.refused {
                return Err(io::Error::new(io::ErrorKind::InvalidData, e.clone()));
            }
            if heard.hello.is_some() || heard.stopped {
                return Ok(heard.hello.clone());
            }
            let now = Instant::now();
            if now >= end {
                return Ok(None);
            }
            heard = self
                .host
                .changed
                .wait_timeout(heard, end - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// True once the host said stop (see [`Pusher::sleep`]).
    pub fn stopped(&self) -> bool {
        self.host.lock().stopped
    }
}

/// The reader thread of a [`Pusher`]: records the host's hello and when it says stop.
fn listen<R: BufRead>(mut reader: R, host: &HostState, name: &str) {
    let mut told_about_collect = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("{name}: reading from the host: {e}");
                break;
            }
        }
        match parse_host_line(name, &line) {
            Some(HostMessage::Hello(h)) => match check_version(&h) {
                Ok(()) => host.update(|s| s.hello = Some(h)),
                Err(e) => {
                    host.update(|s| {
                        s.refused = Some(e.to_string());
                        s.stopped = true;
                    });
                    return;
                }
            },
            Some(HostMessage::Collect(_)) if !told_about_collect => {
                eprintln!("{name}: this plugin pushes and answers no collect: configure it with `mode: push`");
                told_about_collect = true;
            }
            Some(HostMessage::Collect(_))
            | Some(HostMessage::Process(_))
            | Some(HostMessage::Write(_))
            | None => {}
            Some(HostMessage::Shutdown(_)) => break,
        }
    }
    host.update(|s| s.stopped = true);
}
