//! TLS for the listeners: `tls_server_config` turned into a rustls server configuration (ring
//! provider), and the per-connection handshake.

use super::report::Report;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig};
use serde::Deserialize;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

/// How long a client gets to finish the TLS handshake before its connection is closed: long
/// for a real client, short enough that idle connections cannot pile up.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `tls_server_config` as written.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<ClientAuth>,
    client_ca_file: Option<PathBuf>,
    min_version: Option<Version>,
    max_version: Option<Version>,
    prefer_server_cipher_suites: Option<bool>,
    // exporter-toolkit settings we do not implement: read so the error can say so.
    cert: Option<yaml_serde::Value>,
    key: Option<yaml_serde::Value>,
    client_ca: Option<yaml_serde::Value>,
    cipher_suites: Option<yaml_serde::Value>,
    curve_preferences: Option<yaml_serde::Value>,
    client_allowed_sans: Option<yaml_serde::Value>,
}

/// Go's `tls.ClientAuthType`, by the names exporter-toolkit accepts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
enum ClientAuth {
    #[default]
    NoClientCert,
    RequestClientCert,
    #[serde(alias = "RequireClientCert")]
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

/// A TLS version name; the first two are read only to be refused with a reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
enum Version {
    #[serde(rename = "TLS10")]
    Tls10,
    #[serde(rename = "TLS11")]
    Tls11,
    #[serde(rename = "TLS12")]
    Tls12,
    #[serde(rename = "TLS13")]
    Tls13,
}

/// Checks `raw` and builds the acceptor; `None` when TLS is off or a problem was reported.
/// Relative paths are taken relative to `dir`.
pub(crate) fn build(raw: RawTls, dir: &Path, report: &mut Report) -> Option<TlsAcceptor> {
    if raw == RawTls::default() {
        return None;
    }
    let before = report.count();
    let key = |k: &'static str| ["tls_server_config", k];
    let unsupported = [
        ("cert", raw.cert.is_some(), "use cert_file"),
        ("key", raw.key.is_some(), "use key_file"),
        ("client_ca", raw.client_ca.is_some(), "use client_ca_file"),
        (
            "cipher_suites",
            raw.cipher_suites.is_some(),
            "rustls chooses safe suites",
        ),
        (
            "curve_preferences",
            raw.curve_preferences.is_some(),
            "rustls chooses safe groups",
        ),
        (
            "client_allowed_sans",
            raw.client_allowed_sans.is_some(),
            "restrict the client CA instead",
        ),
    ];
    for (name, set, hint) in unsupported {
        if set {
            report.add(
                &key(name),
                format!("not supported by plugin-exporter ({hint})"),
            );
        }
    }
    let (min, max) = (
        raw.min_version.unwrap_or(Version::Tls12),
        raw.max_version.unwrap_or(Version::Tls13),
    );
    for (name, v) in [("min_version", min), ("max_version", max)] {
        if v < Version::Tls12 {
            report.add(
                &key(name),
                "TLS 1.0 and 1.1 are not supported (rustls implements TLS12 and TLS13 only)",
            );
        }
    }
    if min > max {
        report.add(&key("max_version"), "max_version is below min_version");
    }
    let auth = raw.client_auth_type.unwrap_or_default();
    let verify = matches!(
        auth,
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
    );
    if verify && raw.client_ca_file.is_none() {
        report.add(
            &key("client_auth_type"),
            format!("{auth:?} needs client_ca_file"),
        );
    }
    if auth == ClientAuth::NoClientCert && raw.client_ca_file.is_some() {
        report.add(
            &key("client_ca_file"),
            "client_ca_file is set but client_auth_type is NoClientCert",
        );
    }
    let resolve = |p: &Path| dir.join(p);
    let certs = match &raw.cert_file {
        Some(p) => read_certs(&resolve(p), "cert file", &key("cert_file"), report),
        None => {
            report.add(&["tls_server_config"], "missing cert_file");
            None
        }
    };
    let private_key = match &raw.key_file {
        Some(p) => read_key(&resolve(p), &key("key_file"), report),
        None => {
            report.add(&["tls_server_config"], "missing key_file");
            None
        }
    };
    let roots = raw.client_ca_file.as_ref().and_then(|p| {
        let certs = read_certs(
            &resolve(p),
            "client CA file",
            &key("client_ca_file"),
            report,
        )?;
        let mut roots = RootCertStore::empty();
        for c in certs {
            if let Err(e) = roots.add(c) {
                report.add(
                    &key("client_ca_file"),
                    format!("{}: not a usable CA certificate: {e}", resolve(p).display()),
                );
                return None;
            }
        }
        Some(Arc::new(roots))
    });
    let (Some(certs), Some(private_key)) = (certs, private_key) else {
        return None;
    };
    if report.count() > before {
        return None;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (Version::Tls12, &rustls::version::TLS12),
        (Version::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (min..=max).contains(v))
    .map(|(_, p)| p)
    .collect();
    let builder = match ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
    {
        Ok(b) => b,
        Err(e) => {
            report.add(
                &key("min_version"),
                format!("cannot use these versions: {e}"),
            );
            return None;
        }
    };
    let verifier: Arc<dyn ClientCertVerifier> = match (auth, roots) {
        (ClientAuth::NoClientCert, _) => WebPkiClientVerifier::no_client_auth(),
        (ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert, _) => {
            Arc::new(AnyClientCert {
                mandatory: auth == ClientAuth::RequireAnyClientCert,
                algorithms: provider.signature_verification_algorithms,
            })
        }
        (_, Some(roots)) => {
            let b = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
            let b = if auth == ClientAuth::VerifyClientCertIfGiven {
                b.allow_unauthenticated()
            } else {
                b
            };
            match b.build() {
                Ok(v) => v,
                Err(e) => {
                    report.add(
                        &key("client_ca_file"),
                        format!("cannot verify clients: {e}"),
                    );
                    return None;
                }
            }
        }
        // Reported above: a Verify* type without client_ca_file.
        (_, None) => return None,
    };
    let mut config = match builder
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, private_key)
    {
        Ok(c) => c,
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            report.add(
                &key("key_file"),
                format!(
                    "the key in {} does not match the certificate in {}",
                    resolve(raw.key_file.as_deref()?).display(),
                    resolve(raw.cert_file.as_deref()?).display()
                ),
            );
            return None;
        }
        Err(e) => {
            report.add(
                &key("key_file"),
                format!("cannot use this key and certificate: {e}"),
            );
            return None;
        }
    };
    config.ignore_client_order = raw.prefer_server_cipher_suites.unwrap_or(true);
    // We speak HTTP/1.1 only; saying so lets a client that offers h2 fall back at once.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Some(TlsAcceptor::from(Arc::new(config)))
}

/// Every certificate in a PEM file (at least one), or `None` after reporting why not.
fn read_certs(
    path: &Path,
    what: &str,
    key: &[&str],
    report: &mut Report,
) -> Option<Vec<CertificateDer<'static>>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            report.add(key, format!("cannot read {what} {}: {e}", path.display()));
            return None;
        }
    };
    match CertificateDer::pem_slice_iter(&bytes).collect::<Result<Vec<_>, _>>() {
        Ok(certs) if !certs.is_empty() => Some(certs),
        Ok(_) => {
            report.add(
                key,
                format!("{what} {} holds no PEM certificate", path.display()),
            );
            None
        }
        Err(e) => {
            report.add(key, format!("{what} {}: bad PEM: {e}", path.display()));
            None
        }
    }
}

/// The first private key in a PEM file, or `None` after reporting why not.
fn read_key(path: &Path, key: &[&str], report: &mut Report) -> Option<PrivateKeyDer<'static>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            report.add(key, format!("cannot read key file {}: {e}", path.display()));
            return None;
        }
    };
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(k) => Some(k),
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            report.add(
                key,
                format!("key file {} holds no PEM private key", path.display()),
            );
            None
        }
        Err(e) => {
            report.add(key, format!("key file {}: bad PEM: {e}", path.display()));
            None
        }
    }
}

/// `RequestClientCert` and `RequireAnyClientCert`: a client certificate is taken without
/// checking who issued it, as Go does; the handshake signature is still checked, so the
/// client holds the certificate's key.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A connection after the handshake, if any: what hyper is handed.
pub enum Stream {
    /// Plain HTTP.
    Plain(TcpStream),
    /// HTTPS (boxed: the TLS state is large, and most connections of a plain server are not).
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// Runs the TLS handshake when `tls` is set, under [`HANDSHAKE_TIMEOUT`]. `None` means the
/// connection is dropped: a failed handshake is the client's problem, logged at debug only.
pub async fn accept(tls: Option<TlsAcceptor>, tcp: TcpStream) -> Option<Stream> {
    let Some(acceptor) = tls else {
        return Some(Stream::Plain(tcp));
    };
    // For the debug log only; a socket already gone has no address left to show.
    let peer = tcp
        .peer_addr()
        .map_or_else(|_| "unknown".to_string(), |a| a.to_string());
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => Some(Stream::Tls(Box::new(s))),
        Ok(Err(e)) => {
            tracing::debug!(peer = %peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(peer = %peer, "TLS handshake timed out");
            None
        }
    }
}

// Both variants are Unpin, so each call just forwards to the variant in place.
impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
