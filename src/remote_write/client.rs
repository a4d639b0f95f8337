//! One HTTP/1.1 POST of a remote write request: a connection per shard, kept while it works,
//! TLS when the URL says `https`, the protocol's headers, authentication and the configured
//! headers, all within `remote_timeout`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::config::remote_write::{Auth, RemoteWriteConfig, TlsClient};

/// Where system CA certificates are on Debian and most distributions.
const SYSTEM_CAS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Why a send failed before a status came back.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Connecting, TLS or the exchange failed.
    #[error("{0}")]
    Transport(String),
    /// No answer within `remote_timeout`.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// A secret file could not be read.
    #[error("cannot read a secret file: {0}")]
    Secret(std::io::Error),
}

/// Why a client could not be set up from its config.
#[derive(Debug, thiserror::Error)]
#[error("remote_write {name}: {message}")]
pub struct ClientError {
    name: String,
    message: String,
}

/// The answer: status and the start of the body (for the log).
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Up to 512 bytes of the body.
    pub body: String,
}

/// Sends requests to one destination.
pub struct Client {
    cfg: RemoteWriteConfig,
    tls: Option<TlsConnector>,
    user_agent: String,
}

/// A kept connection.
pub type Conn = SendRequest<Full<Bytes>>;

impl Client {
    /// Sets up TLS (CA, client certificate) as configured.
    pub fn new(cfg: RemoteWriteConfig) -> Result<Client, ClientError> {
        let tls = if cfg.endpoint.tls {
            let config = tls_config(&cfg.tls).map_err(|message| ClientError {
                name: cfg.name.clone(),
                message,
            })?;
            Some(TlsConnector::from(Arc::new(config)))
        } else {
            None
        };
        Ok(Client {
            cfg,
            tls,
            user_agent: format!("plugin-exporter/{}", crate::VERSION),
        })
    }

    /// Posts a snappy-compressed `WriteRequest`, reusing `conn` when it is still open.
    pub async fn post(&self, conn: &mut Option<Conn>, body: Bytes) -> Result<Answer, SendError> {
        let timeout = self.cfg.remote_timeout;
        match tokio::time::timeout(timeout, self.exchange(conn, body)).await {
            Ok(r) => r,
            Err(_) => {
                *conn = None;
                Err(SendError::Timeout(timeout))
            }
        }
    }

    async fn exchange(&self, conn: &mut Option<Conn>, body: Bytes) -> Result<Answer, SendError> {
        if conn.as_ref().is_none_or(|c| c.is_closed()) {
            *conn = Some(self.connect().await?);
        }
        let Some(sender) = conn.as_mut() else {
            return Err(SendError::Transport("no connection".into()));
        };
        let request = self.request(body)?;
        let transport = |e: hyper::Error| SendError::Transport(e.to_string());
        let result = async {
            sender.ready().await.map_err(transport)?;
            let response = sender.send_request(request).await.map_err(transport)?;
            let status = response.status().as_u16();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(transport)?
                .to_bytes();
            let cut = &bytes[..bytes.len().min(512)];
            Ok(Answer {
                status,
                body: String::from_utf8_lossy(cut).trim().to_string(),
            })
        }
        .await;
        if result.is_err() {
            *conn = None;
        }
        result
    }

    fn request(&self, body: Bytes) -> Result<hyper::Request<Full<Bytes>>, SendError> {
        let e = &self.cfg.endpoint;
        let host = if e.host.contains(':') {
            format!("[{}]:{}", e.host, e.port)
        } else {
            format!("{}:{}", e.host, e.port)
        };
        let mut b = hyper::Request::post(e.path.as_str())
            .header("host", host)
            .header("content-encoding", "snappy")
            .header("content-type", "application/x-protobuf")
            .header("user-agent", &self.user_agent)
            .header("x-prometheus-remote-write-version", "0.1.0");
        match &self.cfg.auth {
            Some(Auth::Basic { username, password }) => {
                use base64::Engine;
                let pw = password.read().map_err(SendError::Secret)?;
                let token =
                    base64::engine::general_purpose::STANDARD.encode(format!("{username}:{pw}"));
                b = b.header("authorization", format!("Basic {token}"));
            }
            Some(Auth::Authorization { kind, credentials }) => {
                let c = credentials.read().map_err(SendError::Secret)?;
                b = b.header("authorization", format!("{kind} {c}"));
            }
            None => {}
        }
        for (name, value) in &self.cfg.headers {
            b = b.header(name.as_str(), value.read().map_err(SendError::Secret)?);
        }
        b.body(Full::new(body))
            .map_err(|e| SendError::Transport(format!("bad request: {e}")))
    }

    async fn connect(&self) -> Result<Conn, SendError> {
        let e = &self.cfg.endpoint;
        let tcp = TcpStream::connect((e.host.as_str(), e.port))
            .await
            .map_err(|err| SendError::Transport(format!("connect {}:{}: {err}", e.host, e.port)))?;
        let _ = tcp.set_nodelay(true);
        let transport = |err: hyper::Error| SendError::Transport(err.to_string());
        match &self.tls {
            None => {
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                    .await
                    .map_err(transport)?;
                tokio::spawn(conn);
                Ok(sender)
            }
            Some(tls) => {
                let name = self.cfg.tls.server_name.clone().unwrap_or(e.host.clone());
                let server = ServerName::try_from(name)
                    .map_err(|err| SendError::Transport(format!("server name: {err}")))?;
                let stream = tls
                    .connect(server, tcp)
                    .await
                    .map_err(|err| SendError::Transport(format!("TLS: {err}")))?;
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(transport)?;
                tokio::spawn(conn);
                Ok(sender)
            }
        }
    }
}

fn read_certs(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: bad PEM: {e}", path.display()))
}

fn tls_config(t: &TlsClient) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if t.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        let ca = t
            .ca_file
            .clone()
            .unwrap_or_else(|| std::path::PathBuf::from(SYSTEM_CAS));
        for cert in read_certs(&ca)? {
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", ca.display()))?;
        }
        builder.with_root_certificates(roots)
    };
    match (&t.cert_file, &t.key_file) {
        (Some(cert), Some(key)) => {
            let certs = read_certs(cert)?;
            let bytes =
                std::fs::read(key).map_err(|e| format!("cannot read {}: {e}", key.display()))?;
            let key = PrivateKeyDer::from_pem_slice(&bytes)
                .map_err(|e| format!("{}: bad PEM key: {e}", key.display()))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| e.to_string())
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// `insecure_skip_verify`: any certificate is taken; the handshake signature is still checked.
#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
