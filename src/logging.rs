//! Logging setup: tracing-subscriber writing logfmt or JSON to stderr, the two formats
//! Prometheus' own `--log.format` offers.
//!
//! Logfmt lines look like
//! `ts=2026-11-22T00:00:00.123Z level=info target=plugin_exporter::plugin msg=started plugin=disk pid=123`:
//! the event's fields follow `msg`, then the fields of the enclosing spans, outermost first.
//! A value is quoted only when it has to be (empty, or containing whitespace, `=`, `"` or a
//! control character); inside quotes `"`, `\` and control characters are escaped.
//!
//! `--log.level` is authoritative: `RUST_LOG` is not read, so the level in a unit file is the
//! level one gets.

use std::fmt::{self, Write as _};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// The log line format, as given to `--log.format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// `key=value` pairs, one event per line.
    #[default]
    Logfmt,
    /// One JSON object per line, event fields flattened into it.
    Json,
}

impl LogFormat {
    /// The flag values, for help texts.
    pub const NAMES: [&'static str; 2] = ["logfmt", "json"];
}

impl FromStr for LogFormat {
    type Err = LoggingError;

    fn from_str(text: &str) -> Result<Self, LoggingError> {
        match text {
            "logfmt" => Ok(LogFormat::Logfmt),
            "json" => Ok(LogFormat::Json),
            _ => Err(LoggingError::Format(text.to_string())),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Logfmt => "logfmt",
            LogFormat::Json => "json",
        })
    }
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// `--log.level` is not one of the accepted names.
    #[error("invalid log level `{0}`: expected one of debug, info, warn, error")]
    Level(String),
    /// `--log.format` is not one of the accepted names.
    #[error("invalid log format `{0}`: expected logfmt or json")]
    Format(String),
    /// Another global subscriber was installed first.
    #[error("cannot install the logger")]
    Install(#[source] tracing::subscriber::SetGlobalDefaultError),
}

/// Parses a `--log.level` value: `debug`, `info`, `warn` or `error`.
pub fn parse_level(level: &str) -> Result<LevelFilter, LoggingError> {
    match level {
        "debug" => Ok(LevelFilter::DEBUG),
        "info" => Ok(LevelFilter::INFO),
        "warn" => Ok(LevelFilter::WARN),
        "error" => Ok(LevelFilter::ERROR),
        _ => Err(LoggingError::Level(level.to_string())),
    }
}

/// Installs the process-wide logger, writing to stderr. Call once, early in `main`.
pub fn init(level: &str, format: LogFormat) -> Result<(), LoggingError> {
    let subscriber = subscriber(parse_level(level)?, format, std::io::stderr);
    tracing::subscriber::set_global_default(subscriber).map_err(LoggingError::Install)
}

/// Builds the subscriber [`init`] installs, writing to `writer`; tests use it with
/// `tracing::subscriber::with_default` to capture lines without touching global state.
pub fn subscriber<W>(
    level: LevelFilter,
    format: LogFormat,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Logfmt => Box::new(
            tracing_subscriber::fmt()
                .with_max_level(level)
                .with_writer(writer)
                .with_ansi(false)
                .fmt_fields(LogfmtFields)
                .event_format(Logfmt)
                .finish(),
        ),
        LogFormat::Json => Box::new(
            tracing_subscriber::fmt()
                .json()
                .flatten_event(true)
                .with_max_level(level)
                .with_writer(writer)
                .with_ansi(false)
                .finish(),
        ),
    }
}

/// The logfmt event formatter: `ts`, `level`, `target`, `msg`, then fields.
#[derive(Clone, Copy, Debug, Default)]
pub struct Logfmt;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut line = format!(
            "ts={} level={} target=",
            rfc3339_millis(SystemTime::now()),
            level_name(*meta.level())
        );
        push_value(&mut line, meta.target());
        if let Some(message) = &fields.message {
            line.push_str(" msg=");
            push_value(&mut line, message);
        }
        if !fields.pairs.is_empty() {
            line.push(' ');
            line.push_str(&fields.pairs);
        }
        // Span fields were rendered by LogfmtFields when the span was created.
        for span in ctx
            .event_scope()
            .into_iter()
            .flat_map(|scope| scope.from_root())
        {
            let extensions = span.extensions();
            if let Some(rendered) = extensions.get::<FormattedFields<N>>() {
                if !rendered.is_empty() {
                    line.push(' ');
                    line.push_str(rendered);
                }
            }
        }
        writeln!(writer, "{line}")
    }
}

/// Renders span fields as logfmt pairs, so [`Logfmt`] can append them unchanged.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogfmtFields;

impl<'writer> FormatFields<'writer> for LogfmtFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut collected = Fields::default();
        fields.record(&mut collected);
        // A span's `message` field is unusual but is a field like any other here.
        if let Some(message) = collected.message.take() {
            collected.push("message", &message);
        }
        writer.write_str(&collected.pairs)
    }
}

/// Collects an event's or span's fields: the message apart, the rest as logfmt pairs.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    pairs: String,
}

impl Fields {
    fn push(&mut self, key: &str, value: &str) {
        if !self.pairs.is_empty() {
            self.pairs.push(' ');
        }
        self.pairs.push_str(key);
        self.pairs.push('=');
        push_value(&mut self.pairs, value);
    }

    fn record(&mut self, field: &Field, value: String) {
        if field.name() == "message" {
            self.message = Some(value);
        } else {
            self.push(field.name(), &value);
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record(field, value.to_string());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // The whole chain, since our errors keep the cause in `source()` (not in the text).
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(cause) = source {
            let _ = write!(text, ": {cause}");
            source = cause.source();
        }
        self.record(field, text);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record(field, format!("{value:?}"));
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// Appends `value`, quoted and escaped when logfmt parsers would otherwise misread it.
fn push_value(out: &mut String, value: &str) {
    let needs_quotes = value.is_empty()
        || value
            .chars()
            .any(|c| c == '=' || c == '"' || c.is_whitespace() || c.is_control());
    if !needs_quotes {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Formats `time` as RFC 3339 in UTC with milliseconds, e.g. `2026-11-22T00:00:00.123Z`.
/// A clock before 1970 prints the epoch rather than failing a log line.
fn rfc3339_millis(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days(secs / 86_400);
    let of_day = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar, by
/// Howard Hinnant's `civil_from_days` (eras of 400 years, years starting in March so the
/// leap day is last).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    #[test]
    fn timestamps() {
        let at = |secs: u64, millis: u64| {
            rfc3339_millis(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(1_795_305_600, 123), "2026-11-22T00:00:00.123Z");
        assert_eq!(at(951_868_799, 999), "2000-02-29T23:59:59.999Z");
        assert_eq!(at(4_107_542_400, 7), "2100-03-01T00:00:00.007Z");
        let before_epoch = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(rfc3339_millis(before_epoch), "1970-01-01T00:00:00.000Z");
    }

    fn quoted(value: &str) -> String {
        let mut out = String::new();
        push_value(&mut out, value);
        out
    }

    #[test]
    fn quoting() {
        assert_eq!(quoted("disk"), "disk");
        assert_eq!(quoted("a\\b"), "a\\b");
        assert_eq!(quoted(""), "\"\"");
        assert_eq!(quoted("two words"), "\"two words\"");
        assert_eq!(quoted("a=b"), "\"a=b\"");
        assert_eq!(quoted("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(quoted("line\nbreak \\"), "\"line\\nbreak \\\\\"");
        assert_eq!(quoted("tab\there"), "\"tab\\there\"");
        assert_eq!(quoted("bell\u{7}"), "\"bell\\u{7}\"");
    }

    #[test]
    fn levels_and_formats() {
        assert_eq!(parse_level("warn").unwrap(), LevelFilter::WARN);
        assert!(matches!(parse_level("WARN"), Err(LoggingError::Level(_))));
        assert!(matches!(parse_level("trace"), Err(LoggingError::Level(_))));
        for name in LogFormat::NAMES {
            assert_eq!(name.parse::<LogFormat>().unwrap().to_string(), name);
        }
        assert!("text".parse::<LogFormat>().is_err());
    }

    /// A writer that keeps what was logged.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn capture(level: LevelFilter, format: LogFormat, log: impl FnOnce()) -> String {
        let out = Capture::default();
        let writer = out.clone();
        let subscriber = subscriber(level, format, move || writer.clone());
        tracing::subscriber::with_default(subscriber, log);
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn logfmt_lines() {
        let text = capture(LevelFilter::INFO, LogFormat::Logfmt, || {
            let span = tracing::info_span!("supervise", plugin = "disk");
            let _entered = span.enter();
            tracing::info!(pid = 123, path = "/a b", "started");
            tracing::warn!(reason = %"x=y", "plugin said \"no\"");
            tracing::debug!("hidden at info");
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        let (ts, rest) = lines[0].split_once(' ').unwrap();
        assert!(
            ts.starts_with("ts=") && ts.ends_with('Z') && ts.len() == 27,
            "{ts}"
        );
        let target = "target=plugin_exporter::logging::tests";
        assert_eq!(
            rest,
            format!("level=info {target} msg=started pid=123 path=\"/a b\" plugin=disk")
        );
        let rest = lines[1].split_once(' ').unwrap().1;
        assert_eq!(
            rest,
            format!(
                "level=warn {target} msg=\"plugin said \\\"no\\\"\" reason=\"x=y\" plugin=disk"
            )
        );
    }

    #[test]
    fn json_lines() {
        let text = capture(LevelFilter::DEBUG, LogFormat::Json, || {
            tracing::debug!(plugin = "disk", pid = 123, "started");
        });
        let line: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert!(line["timestamp"].is_string(), "{line}");
        assert_eq!(line["level"], "DEBUG");
        assert_eq!(line["message"], "started");
        assert_eq!(line["plugin"], "disk");
        assert_eq!(line["pid"], 123);
        assert_eq!(line["target"], "plugin_exporter::logging::tests");
    }
}
