//! `remote_write:` in Prometheus's own shape: where to push, how to authenticate, which series
//! to send (`write_relabel_configs`) and how to queue ([`QueueConfig`], Prometheus's
//! defaults). Secrets (`password`, `credentials`, header values) may use `${VAR}` and are then
//! never printed; `*_file` secrets are read at every send, so a rotated token is picked up.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::duration::PromDuration;
use super::env::{expand, Secret};
use super::locate::Seg;
use crate::relabel::{RawRule, Rule};

/// `remote_write[]` as written.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a remote_write destination: a mapping with at least `url`"
)]
pub(crate) struct RawRemoteWrite {
    pub(crate) url: String,
    pub(crate) name: Option<String>,
    pub(crate) remote_timeout: Option<PromDuration>,
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) basic_auth: Option<RawBasicAuth>,
    pub(crate) authorization: Option<RawAuthorization>,
    pub(crate) bearer_token: Option<String>,
    pub(crate) bearer_token_file: Option<PathBuf>,
    #[serde(default)]
    pub(crate) tls_config: RawTls,
    #[serde(default)]
    pub(crate) write_relabel_configs: Vec<RawRule>,
    #[serde(default)]
    pub(crate) queue_config: RawQueue,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBasicAuth {
    pub(crate) username: String,
    pub(crate) password: Option<String>,
    pub(crate) password_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAuthorization {
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) credentials: Option<String>,
    pub(crate) credentials_file: Option<PathBuf>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) cert_file: Option<PathBuf>,
    pub(crate) key_file: Option<PathBuf>,
    pub(crate) server_name: Option<String>,
    #[serde(default)]
    pub(crate) insecure_skip_verify: bool,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQueue {
    pub(crate) capacity: Option<usize>,
    pub(crate) max_shards: Option<usize>,
    pub(crate) min_shards: Option<usize>,
    pub(crate) max_samples_per_send: Option<usize>,
    pub(crate) batch_send_deadline: Option<PromDuration>,
    pub(crate) min_backoff: Option<PromDuration>,
    pub(crate) max_backoff: Option<PromDuration>,
    pub(crate) retry_on_http_429: Option<bool>,
}

/// A secret given inline (perhaps from `${VAR}`) or read from a file at every use. `Debug`
/// never shows an inline value, however it was written.
#[derive(Clone, PartialEq)]
pub enum SecretSource {
    /// Inline.
    Inline(Secret),
    /// Read from this file, trailing newline removed.
    File(PathBuf),
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Inline(_) => f.write_str("<secret>"),
            SecretSource::File(p) => write!(f, "File({})", p.display()),
        }
    }
}

impl SecretSource {
    /// The secret's current value.
    pub fn read(&self) -> std::io::Result<String> {
        match self {
            SecretSource::Inline(s) => Ok(s.expose().to_string()),
            SecretSource::File(p) => {
                let text = std::fs::read_to_string(p)?;
                Ok(text.trim_end_matches(['\n', '\r']).to_string())
            }
        }
    }
}

/// How requests authenticate.
#[derive(Clone, Debug, PartialEq)]
pub enum Auth {
    /// `basic_auth`.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: SecretSource,
    },
    /// `authorization` (default type `Bearer`), `bearer_token` or `bearer_token_file`.
    Authorization {
        /// The scheme, `Bearer` unless set.
        kind: String,
        /// The credentials.
        credentials: SecretSource,
    },
}

/// `tls_config`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TlsClient {
    /// CA certificates to trust instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// Client certificate.
    pub cert_file: Option<PathBuf>,
    /// Client key.
    pub key_file: Option<PathBuf>,
    /// Name to check the server's certificate against, instead of the URL's host.
    pub server_name: Option<String>,
    /// Accept any server certificate.
    pub insecure_skip_verify: bool,
}

/// `queue_config`, Prometheus's defaults applied.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueConfig {
    /// Samples buffered per shard; beyond it the oldest are dropped.
    pub capacity: usize,
    /// Most concurrent sends.
    pub max_shards: usize,
    /// Fewest concurrent sends.
    pub min_shards: usize,
    /// Most samples in one request.
    pub max_samples_per_send: usize,
    /// Longest a sample waits for a fuller request.
    pub batch_send_deadline: Duration,
    /// First retry delay, doubled on each retry.
    pub min_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// Retry on 429 (else counted and dropped like other 4xx).
    pub retry_on_http_429: bool,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 10_000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2_000,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_http_429: false,
        }
    }
}

/// The parts of a destination URL a request needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `https`.
    pub tls: bool,
    /// Host name or address (without brackets for IPv6).
    pub host: String,
    /// Port (the scheme's default when not written).
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
}

impl Endpoint {
    /// Parses an `http://` or `https://` URL.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!("url `{url}` must start with http:// or https://"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        if authority.contains('@') {
            return Err(format!(
                "url `{url}` holds credentials: use basic_auth instead"
            ));
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("url `{url}`: unclosed `[`"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| format!("url `{url}`: bad port"))?,
                None => default_port,
            };
            (h.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse()
                        .map_err(|_| format!("url `{url}`: bad port `{p}`"))?,
                ),
                None => (authority.to_string(), default_port),
            }
        };
        if host.is_empty() {
            return Err(format!("url `{url}` has no host"));
        }
        Ok(Endpoint {
            tls,
            host,
            port,
            path,
        })
    }
}

/// One destination, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteWriteConfig {
    /// `name`, or the first 6 hex digits of the URL's SHA-256, as Prometheus derives one.
    pub name: String,
    /// The URL as written (no credentials: those are refused).
    pub url: String,
    /// Where requests go.
    pub endpoint: Endpoint,
    /// Request timeout.
    pub remote_timeout: Duration,
    /// Extra headers (values are often keys: kept as secrets).
    pub headers: Vec<(String, SecretSource)>,
    /// Authentication.
    pub auth: Option<Auth>,
    /// TLS settings for `https`.
    pub tls: TlsClient,
    /// Which series go, and how they are labeled.
    pub write_relabel: Vec<Rule>,
    /// Queueing and retries.
    pub queue: QueueConfig,
}

/// Headers the protocol sets itself, which a config may not override (as Prometheus refuses).
const RESERVED_HEADERS: [&str; 6] = [
    "authorization",
    "host",
    "content-encoding",
    "content-type",
    "x-prometheus-remote-write-version",
    "user-agent",
];

/// Resolves one destination; each problem comes as (key, message).
pub(crate) fn resolve(
    raw: RawRemoteWrite,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Option<RemoteWriteConfig>, Vec<(String, String)>) {
    let mut problems = Vec::new();
    let endpoint = Endpoint::parse(&raw.url)
        .map_err(|e| problems.push(("url".to_string(), e)))
        .ok();
    let mut secret = |key: &str, value: &str| match expand(value, env) {
        Ok(s) => Some(s),
        Err(why) => {
            why.into_iter()
                .for_each(|w| problems.push((key.to_string(), w)));
            None
        }
    };
    let mut headers = Vec::new();
    for (name, value) in &raw.headers {
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            headers.push(None);
            continue;
        }
        headers.push(
            secret(&format!("headers.{name}"), value)
                .map(|v| (name.clone(), SecretSource::Inline(v))),
        );
    }
    let mut auth = None;
    let mut auth_count = 0;
    if let Some(b) = &raw.basic_auth {
        auth_count += 1;
        let password = match (&b.password, &b.password_file) {
            (Some(p), None) => secret("basic_auth.password", p).map(SecretSource::Inline),
            (None, Some(f)) => Some(SecretSource::File(f.clone())),
            (None, None) => Some(SecretSource::Inline(Secret::literal(""))),
            (Some(_), Some(_)) => None,
        };
        auth = password.map(|password| Auth::Basic {
            username: b.username.clone(),
            password,
        });
    }
    if let Some(a) = &raw.authorization {
        auth_count += 1;
        let credentials = match (&a.credentials, &a.credentials_file) {
            (Some(c), None) => secret("authorization.credentials", c).map(SecretSource::Inline),
            (None, Some(f)) => Some(SecretSource::File(f.clone())),
            _ => None,
        };
        auth = credentials.map(|credentials| Auth::Authorization {
            kind: a.kind.clone().unwrap_or_else(|| "Bearer".to_string()),
            credentials,
        });
    }
    if let Some(t) = &raw.bearer_token {
        auth_count += 1;
        auth = secret("bearer_token", t).map(|c| Auth::Authorization {
            kind: "Bearer".to_string(),
            credentials: SecretSource::Inline(c),
        });
    }
    if let Some(f) = &raw.bearer_token_file {
        auth_count += 1;
        auth = Some(Auth::Authorization {
            kind: "Bearer".to_string(),
            credentials: SecretSource::File(f.clone()),
        });
    }
    for (name, h) in raw.headers.keys().zip(&headers) {
        if h.is_none() && RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            problems.push((
                format!("headers.{name}"),
                format!("header `{name}` is set by the exporter and cannot be configured"),
            ));
        }
    }
    if let Some(b) = &raw.basic_auth {
        if b.password.is_some() && b.password_file.is_some() {
            problems.push((
                "basic_auth".into(),
                "at most one of password and password_file".into(),
            ));
        }
    }
    if let Some(a) = &raw.authorization {
        if a.credentials.is_some() == a.credentials_file.is_some() {
            problems.push((
                "authorization".into(),
                "exactly one of credentials and credentials_file".into(),
            ));
        }
    }
    if auth_count > 1 {
        problems.push((
            "basic_auth".into(),
            "at most one of basic_auth, authorization, bearer_token and bearer_token_file".into(),
        ));
    }
    if raw.tls_config.cert_file.is_some() != raw.tls_config.key_file.is_some() {
        problems.push((
            "tls_config".into(),
            "cert_file and key_file go together".into(),
        ));
    }
    let mut write_relabel = Vec::new();
    for (i, r) in raw.write_relabel_configs.iter().enumerate() {
        match Rule::compile(r) {
            Ok(rule) => write_relabel.push(rule),
            Err(e) => problems.push((
                format!("write_relabel_configs[{i}]"),
                format!("relabel rule {i}: {e}"),
            )),
        }
    }
    let d = QueueConfig::default();
    let q = raw.queue_config;
    let queue = QueueConfig {
        capacity: q.capacity.unwrap_or(d.capacity),
        max_shards: q.max_shards.unwrap_or(d.max_shards),
        min_shards: q.min_shards.unwrap_or(d.min_shards),
        max_samples_per_send: q.max_samples_per_send.unwrap_or(d.max_samples_per_send),
        batch_send_deadline: q.batch_send_deadline.map_or(d.batch_send_deadline, |x| x.0),
        min_backoff: q.min_backoff.map_or(d.min_backoff, |x| x.0),
        max_backoff: q.max_backoff.map_or(d.max_backoff, |x| x.0),
        retry_on_http_429: q.retry_on_http_429.unwrap_or(d.retry_on_http_429),
    };
    for (key, bad) in [
        ("capacity", queue.capacity == 0),
        ("max_shards", queue.max_shards == 0),
        (
            "min_shards",
            queue.min_shards == 0 || queue.min_shards > queue.max_shards,
        ),
        ("max_samples_per_send", queue.max_samples_per_send == 0),
        ("max_backoff", queue.max_backoff < queue.min_backoff),
    ] {
        if bad {
            problems.push((
                format!("queue_config.{key}"),
                format!("invalid {key}: counts must be at least 1, min_shards at most max_shards, max_backoff at least min_backoff"),
            ));
        }
    }
    let remote_timeout = raw.remote_timeout.map_or(Duration::from_secs(30), |d| d.0);
    if remote_timeout.is_zero() {
        problems.push(("remote_timeout".into(), "must be greater than 0".into()));
    }
    let Some(endpoint) = endpoint else {
        return (None, problems);
    };
    let name = raw.name.clone().unwrap_or_else(|| {
        use sha2::{Digest, Sha256};
        let hash = Sha256::digest(raw.url.as_bytes());
        hash.iter().take(3).map(|b| format!("{b:02x}")).collect()
    });
    let config = RemoteWriteConfig {
        name,
        url: raw.url,
        endpoint,
        remote_timeout,
        headers: headers.into_iter().flatten().collect(),
        auth,
        tls: TlsClient {
            ca_file: raw.tls_config.ca_file,
            cert_file: raw.tls_config.cert_file,
            key_file: raw.tls_config.key_file,
            server_name: raw.tls_config.server_name,
            insecure_skip_verify: raw.tls_config.insecure_skip_verify,
        },
        write_relabel,
        queue,
    };
    (problems.is_empty().then_some(config), problems)
}

/// Problems, each with the path of its key.
pub(crate) type KeyProblems = Vec<(Vec<Seg>, String)>;

fn key(name: &str) -> Seg {
    Seg::Key(name.to_string())
}

/// `a.b[2].c` as path steps.
fn key_path(at: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in at.split('.') {
        match part.split_once('[') {
            Some((k, rest)) => {
                out.push(key(k));
                if let Ok(i) = rest.trim_end_matches(']').parse() {
                    out.push(Seg::Index(i));
                }
            }
            None => out.push(key(part)),
        }
    }
    out
}

/// Every `remote_write` destination, resolved; each problem with its path.
pub(crate) fn resolve_all(
    raw: Option<Vec<RawRemoteWrite>>,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Vec<RemoteWriteConfig>, KeyProblems) {
    let mut out = Vec::new();
    let mut report = Vec::new();
    let mut names: std::collections::HashMap<String, usize> = Default::default();
    for (index, raw) in raw.into_iter().flatten().enumerate() {
        let here = [key("remote_write"), Seg::Index(index)];
        let (resolved, problems) = resolve(raw, env);
        for (at, message) in problems {
            report.push(([&here[..], &key_path(&at)].concat(), message));
        }
        if let Some(rw) = resolved {
            if let Some(first) = names.insert(rw.name.clone(), index) {
                report.push((
                    [&here[..], &[key("name")]].concat(),
                    format!(
                        "duplicate remote_write name `{}`, first used by remote_write[{first}]",
                        rw.name
                    ),
                ));
            }
            out.push(rw);
        }
    }
    (out, report)
}

/// `global.external_labels`: valid label names not starting with `__`, values not empty.
pub(crate) fn external_labels(
    raw: Option<BTreeMap<String, String>>,
    here: &[Seg],
) -> (Vec<(String, String)>, KeyProblems) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (name, value) in raw.into_iter().flatten() {
        let path = [here, &[key("external_labels"), key(&name)]].concat();
        if !crate::relabel::rule::is_label_name(&name) || name.starts_with("__") {
            problems.push((path, format!("invalid external label name `{name}`")));
        } else if value.is_empty() {
            problems.push((path, format!("external label `{name}` has an empty value")));
        } else {
            out.push((name, value));
        }
    }
    (out, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_scheme_host_port_and_path() {
        let e = Endpoint::parse("https://mimir.example:8443/api/v1/push?x=1").unwrap();
        assert_eq!(
            (e.tls, e.host.as_str(), e.port, e.path.as_str()),
            (true, "mimir.example", 8443, "/api/v1/push?x=1")
        );
        let e = Endpoint::parse("http://[::1]/write").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 80));
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(Endpoint::parse("http://user:pw@host/").is_err());
    }
}
