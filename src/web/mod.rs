//! The `--web.config.file`: TLS, basic authentication and extra response headers, in the
//! format of Prometheus' exporter-toolkit, so one file can serve every exporter of a host.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt          # PEM chain, leaf first; relative to this file's directory
//!   key_file: server.key           # PEM private key: PKCS#8, PKCS#1 or SEC1
//!   client_auth_type: NoClientCert # see below
//!   client_ca_file: ca.crt         # PEM CAs that client certificates must chain to
//!   min_version: TLS12             # TLS12 (default) or TLS13
//!   max_version: TLS13             # TLS12 or TLS13 (default)
//!   prefer_server_cipher_suites: true  # default true: our cipher order wins
//! http_server_config:
//!   headers:                       # added to every response, 401s included
//!     X-Frame-Options: deny
//!   http2: true                    # accepted for compatibility; we serve HTTP/1.1 only
//! basic_auth_users:                # user: bcrypt hash; then every endpoint needs a user
//!   alice: $2y$10$...
//! ```
//!
//! `client_auth_type`, as Go's `tls.ClientAuthType` that exporter-toolkit exposes:
//!
//! | value | certificate asked | required | checked against `client_ca_file` |
//! |---|---|---|---|
//! | `NoClientCert` (default) | no | no | no (`client_ca_file` is refused) |
//! | `RequestClientCert` | yes | no | no |
//! | `RequireAnyClientCert` (alias `RequireClientCert`) | yes | yes | no |
//! | `VerifyClientCertIfGiven` | yes | no | yes, when one is sent |
//! | `RequireAndVerifyClientCert` | yes | yes | yes |
//!
//! A certificate that is not checked against a CA still has to prove its key in the
//! handshake. `http_server_config.headers` allows only the names exporter-toolkit allows:
//! `Content-Security-Policy`, `X-Frame-Options` (`deny` or `sameorigin`),
//! `X-Content-Type-Options` (`nosniff`), `X-XSS-Protection`, `Strict-Transport-Security`.
//!
//! Differences from exporter-toolkit, all refused with a message rather than ignored:
//! TLS 1.0 and 1.1 (rustls implements TLS 1.2 and 1.3 only), inline `cert`, `key` and
//! `client_ca`, `cipher_suites`, `curve_preferences` and `client_allowed_sans`. A
//! `tls_server_config` that sets nothing means plain HTTP, as there; one that sets anything
//! needs both `cert_file` and `key_file`.
//!
//! Problems are reported as the main config's: `FILE:LINE:COL: KEY: MESSAGE`. Syntax and type
//! errors come from yaml_serde (the first one only); every other problem is collected and
//! located by walking the YAML again (see the `locate` module) and gathered in one report
//! (the `report` module). The `auth` module holds basic authentication, the `tls` module the
//! TLS settings and handshake; this file holds the checked [`WebConfig`], its error and the
//! `http_server_config.headers` checks, and parses a file.

mod auth;
mod lenient;
mod locate;
mod raw;
mod report;
mod throttle;
mod tls;

use crate::config::Problem;
use hyper::header::{HeaderName, HeaderValue};
use report::Report;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use raw::RawWebConfig;
pub use throttle::{Refused, Throttle};
pub use tls::accept;

/// The challenge sent with every 401.
pub const CHALLENGE: &str = "Basic realm=\"plugin-exporter\"";

/// The headers `http_server_config.headers` may set, with the values exporter-toolkit allows
/// (empty: any value).
const ALLOWED_HEADERS: &[(&str, &[&str])] = &[
    ("Content-Security-Policy", &[]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-XSS-Protection", &[]),
    ("Strict-Transport-Security", &[]),
];

/// A checked web configuration: what the listeners and handlers apply. Cheap to clone.
#[derive(Clone, Default)]
pub struct WebConfig {
    tls: Option<tokio_rustls::TlsAcceptor>,
    users: Option<Arc<auth::Users>>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl std::fmt::Debug for WebConfig {
    // By hand: the user table holds password hashes, which have no place in a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.as_ref().map_or(0, |u| u.len()))
            .field("headers", &self.headers)
            .finish()
    }
}

/// What [`WebConfig::authorize_async`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Authentication is off, or the credentials are valid.
    Allow,
    /// No valid credentials: 401.
    Deny,
    /// Not checked now (too many failed logins, or every bcrypt slot busy): 429.
    Refused(Refused),
}

/// Why a web config file was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    /// The file could not be read.
    #[error("cannot read web config file {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not valid; one line per problem.
    #[error("{}", show(path, problems))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found (for syntax and type errors: the first one).
        problems: Vec<Problem>,
    },
}

impl WebConfigError {
    /// The problems of an `Invalid` error; empty for `Io`.
    pub fn problems(&self) -> &[Problem] {
        match self {
            WebConfigError::Io { .. } => &[],
            WebConfigError::Invalid { problems, .. } => problems,
        }
    }
}

/// `FILE:LINE:COL: KEY: MESSAGE`, one line per problem, omitting unknown parts.
fn show(path: &Path, problems: &[Problem]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|p| {
            let mut s = path.display().to_string();
            if let Some(line) = p.line {
                s.push_str(&format!(":{line}"));
                if let Some(column) = p.column {
                    s.push_str(&format!(":{column}"));
                }
            }
            if !p.key.is_empty() {
                s.push_str(&format!(": {}", p.key));
            }
            s + ": " + &p.message
        })
        .collect();
    lines.join("\n")
}

/// Reads and checks a web config file. Relative paths in it are relative to its directory.
pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| WebConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_str(&text, path)
}

/// Parses and checks web config text; `file` names the file in errors and anchors relative
/// paths.
pub fn parse_str(text: &str, file: &Path) -> Result<WebConfig, WebConfigError> {
    let invalid = |problems| WebConfigError::Invalid {
        path: file.to_path_buf(),
        problems,
    };
    // An empty or comment-only file is a valid "nothing configured", as in exporter-toolkit;
    // yaml_serde would call it a type error.
    let blank = text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
    // Every key that cannot be read is reported and left out; the checks then run on the
    // rest, so one run lists every problem.
    let (raw, mut problems) = if blank {
        (Some(RawWebConfig::default()), Vec::new())
    } else {
        lenient::read(text, syntax_problem)
    };
    let Some(raw) = raw else {
        return Err(invalid(problems));
    };
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut report = Report::new(text);
    let tls = raw
        .tls_server_config
        .and_then(|t| tls::build(t, dir, &mut report));
    let headers = check_headers(
        raw.http_server_config
            .and_then(|h| h.headers)
            .unwrap_or_default(),
        &mut report,
    );
    let users = auth::Users::new(raw.basic_auth_users.unwrap_or_default(), &mut report);
    if report.count() > 0 || !problems.is_empty() {
        report.problems.append(&mut problems);
        return Err(invalid(report.into_sorted_problems()));
    }
    Ok(WebConfig {
        tls,
        users: users.map(Arc::new),
        headers,
    })
}

/// yaml_serde's error as a problem: its position apart, its `path: ` prefix as the key.
fn syntax_problem(err: &yaml_serde::Error) -> Problem {
    let at = err.location();
    let mut message = err.to_string();
    if let Some(at) = &at {
        let suffix = format!(" at line {} column {}", at.line(), at.column());
        if let Some(start) = message.find(&suffix) {
            message.replace_range(start..start + suffix.len(), "");
        }
    }
    let mut key = String::new();
    if let Some((prefix, rest)) = message.split_once(": ") {
        // A path is made of keys and indexes; anything with blanks is part of the message.
        if !prefix.contains(' ') {
            key = prefix.to_string();
            message = rest.to_string();
        }
    }
    // serde names an unknown field only in the text; it belongs in the key.
    if let Some(field) = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field.to_string())
    {
        key = if key.is_empty() {
            field
        } else {
            format!("{key}.{field}")
        };
    }
    // Our struct names mean nothing to the reader.
    for name in ["RawWebConfig", "RawTls", "RawHttp"] {
        message = message.replace(&format!("struct {name}"), "a mapping");
    }
    Problem {
        line: at.as_ref().map(|a| a.line()),
        column: at.as_ref().map(|a| a.column()),
        key,
        message,
    }
}

/// Checks names and values against [`ALLOWED_HEADERS`]; names match case-insensitively.
fn check_headers(
    headers: BTreeMap<String, String>,
    report: &mut Report,
) -> Vec<(HeaderName, HeaderValue)> {
    let mut out: Vec<(HeaderName, HeaderValue)> = Vec::new();
    for (name, value) in headers {
        let path = ["http_server_config", "headers", name.as_str()];
        let Some((canonical, allowed)) = ALLOWED_HEADERS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
        else {
            let names: Vec<&str> = ALLOWED_HEADERS.iter().map(|(n, _)| *n).collect();
            report.add(
                &path,
                format!(
                    "header {name:?} cannot be configured; allowed: {}",
                    names.join(", ")
                ),
            );
            continue;
        };
        if !allowed.is_empty() && !allowed.iter().any(|a| a.eq_ignore_ascii_case(&value)) {
            report.add(
                &path,
                format!(
                    "invalid value {value:?} for {canonical}; expected one of: {}",
                    allowed.join(", ")
                ),
            );
            continue;
        }
        let Ok(value) = HeaderValue::from_str(&value) else {
            report.add(&path, "the value is not a valid HTTP header value");
            continue;
        };
        let name = HeaderName::from_static(lowercase(canonical));
        if out.iter().any(|(n, _)| *n == name) {
            report.add(&path, format!("{canonical} is set twice"));
            continue;
        }
        out.push((name, value));
    }
    out
}

/// The lowercase spelling `HeaderName::from_static` wants, for the names we allow.
fn lowercase(name: &str) -> &'static str {
    match name {
        "Content-Security-Policy" => "content-security-policy",
        "X-Frame-Options" => "x-frame-options",
        "X-Content-Type-Options" => "x-content-type-options",
        "X-XSS-Protection" => "x-xss-protection",
        _ => "strict-transport-security",
    }
}

impl WebConfig {
    /// No TLS, no authentication, no extra headers: what runs without `--web.config.file`.
    pub fn disabled() -> WebConfig {
        WebConfig::default()
    }

    /// The acceptor for the TLS handshake, when TLS is on. Read per connection, so a reload
    /// applies to new connections and leaves open ones alone.
    pub fn tls_acceptor(&self) -> Option<tokio_rustls::TlsAcceptor> {
        self.tls.clone()
    }

    /// Whether basic authentication is required.
    #[cfg(test)]
    pub fn auth_required(&self) -> bool {
        self.users.is_some()
    }

    /// True when authentication is off or `authorization` carries valid credentials.
    /// May run bcrypt (tens of milliseconds at cost 10), so async code should call
    /// [`WebConfig::authorize_async`] instead.
    #[cfg(test)]
    pub fn authorize(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some(users) = &self.users else {
            return true;
        };
        match users.quick(authorization) {
            auth::Quick::Allow => true,
            auth::Quick::Deny => false,
            auth::Quick::Slow(creds) => users.slow(creds),
        }
    }

    /// [`WebConfig::authorize`] without blocking the runtime, and without letting a flood of
    /// guesses from `client` take the server down: cached successes and missing or malformed
    /// headers are answered in place; a bcrypt check runs on the blocking pool once
    /// `throttle` lets it (a token for the client, a free permit), or is refused at once.
    pub async fn authorize_async(
        &self,
        authorization: Option<&HeaderValue>,
        client: std::net::IpAddr,
        throttle: &Throttle,
    ) -> Verdict {
        let Some(users) = &self.users else {
            return Verdict::Allow;
        };
        let creds = match users.quick(authorization) {
            auth::Quick::Allow => return Verdict::Allow,
            auth::Quick::Deny => return Verdict::Deny,
            auth::Quick::Slow(creds) => creds,
        };
        let ticket = match throttle.admit(client, creds.user()) {
            Ok(t) => t,
            Err(refused) => return Verdict::Refused(refused),
        };
        let permit = match throttle.permit(&ticket).await {
            Ok(p) => p,
            Err(refused) => {
                throttle.settle(ticket, true);
                return Verdict::Refused(refused);
            }
        };
        let users = users.clone();
        // The permit goes with the check: it is held until bcrypt ends, even when the
        // client leaves first. A panic in bcrypt would be our bug; refusing is the safe
        // answer to it.
        let ok = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            users.slow(creds)
        })
        .await
        .unwrap_or(false);
        throttle.settle(ticket, ok);
        if ok {
            Verdict::Allow
        } else {
            Verdict::Deny
        }
    }

    /// The headers every response carries.
    #[cfg(test)]
    pub fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }

    /// Sets the configured headers on `headers`, replacing any of the same name.
    pub fn apply_headers(&self, headers: &mut hyper::HeaderMap) {
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WebConfig, WebConfigError> {
        parse_str(text, Path::new("/nonexistent/web.yml"))
    }

    fn err(text: &str) -> String {
        parse(text).expect_err("should be refused").to_string()
    }

    #[test]
    fn empty_file_disables_everything() {
        for text in [
            "",
            "# nothing\n",
            "tls_server_config:\nbasic_auth_users: {}\n",
        ] {
            let w = parse(text).unwrap();
            assert!(w.tls_acceptor().is_none() && !w.auth_required() && w.headers().is_empty());
            assert!(w.authorize(None));
        }
        assert!(parse("tls_server_config: {}\n")
            .unwrap()
            .tls_acceptor()
            .is_none());
    }

    #[test]
    fn unknown_keys_are_refused_with_their_line() {
        let e = err("http_server_config:\n  headers: {}\n  http3: true\n");
        assert!(
            e.starts_with("/nonexistent/web.yml:3:3: http_server_config.http3: unknown field"),
            "{e}"
        );
        let e = err("foo: 1\n");
        assert!(
            e.starts_with("/nonexistent/web.yml:1:1: foo: unknown field"),
            "{e}"
        );
        let e = err("- 1\n");
        assert!(e.ends_with("expected a mapping"), "{e}");
        let e = err("basic_auth_users:\n  alice: 12\ntls_server_config:\n  cert_fil: x\n");
        assert!(e.contains(":4:") && e.contains("cert_fil"), "{e}");
    }

    #[test]
    fn headers_are_checked_like_exporter_toolkit() {
        let w = parse(
            "http_server_config:\n  headers:\n    x-frame-options: DENY\n    \
             Strict-Transport-Security: max-age=31536000\n",
        )
        .unwrap();
        let names: Vec<&str> = w.headers().iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["strict-transport-security", "x-frame-options"]);
        let e = err("http_server_config:\n  headers:\n    Server: me\n");
        assert!(
            e.contains("web.yml:3:5: http_server_config.headers.Server: header \"Server\""),
            "{e}"
        );
        let e = err("http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n");
        assert!(e.contains(":3:") && e.contains("nosniff"), "{e}");
        let e = err(
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    x-frame-options: deny\n",
        );
        assert!(e.contains("set twice"), "{e}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let e = err(concat!(
            "tls_server_config:\n",
            "  cert_file: missing.crt\n",
            "  key_file: missing.key\n",
            "  min_version: TLS10\n",
            "basic_auth_users:\n",
            "  alice: notahash\n",
        ));
        let lines: Vec<&str> = e.lines().collect();
        assert!(
            lines.iter().any(|l| l.contains(":2:")
                && l.contains("cannot read cert file /nonexistent/missing.crt")),
            "{e}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains(":4:") && l.contains("TLS12")),
            "{e}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains(":6:") && l.contains("bad bcrypt hash for user alice")),
            "{e}"
        );
    }

    #[test]
    fn tls_needs_both_files() {
        let e = err("tls_server_config:\n  cert_file: a.crt\n");
        assert!(e.contains("tls_server_config: missing key_file"), "{e}");
        let e = err("tls_server_config:\n  client_auth_type: RequireAndVerifyClientCert\n");
        assert!(e.contains("missing cert_file"), "{e}");
        let e = err("tls_server_config:\n  client_auth_type: Sometimes\n");
        assert!(e.contains("Sometimes") && e.contains(":2:"), "{e}");
    }

    #[test]
    fn unsupported_toolkit_keys_say_so() {
        let e = err("tls_server_config:\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n");
        assert!(e.contains(":2:") && e.contains("not supported"), "{e}");
    }

    #[test]
    fn syntax_errors_keep_their_position() {
        let e = err("basic_auth_users: [\n");
        assert!(e.starts_with("/nonexistent/web.yml:"), "{e}");
        let e = err("basic_auth_users:\n  alice: [1]\n");
        assert!(
            e.contains(":2:") && e.contains("basic_auth_users.alice"),
            "{e}"
        );
    }
}
