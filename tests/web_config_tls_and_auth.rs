//! `--web.config.file` against the real binary: HTTPS with a test CA made here, client
//! certificates, basic authentication that does not tell a wrong user from a wrong password,
//! the configured headers on every response; and a bad web config refused before anything
//! starts, naming the file, the line and the problem.
mod common;
use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// A client certificate with its key, in the form rustls wants.
struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Identity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

/// A test CA, a server certificate for localhost and 127.0.0.1 written as `ca.crt`,
/// `server.crt`, `server.key` into a directory, and client identities.
struct Pki {
    ca: CertificateDer<'static>,
    /// Issued by the CA.
    client: Identity,
    /// Issued by another CA, which the exporter does not trust.
    stranger: Identity,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    sans: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut p =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, "test leaf");
    p.extended_key_usages = vec![usage];
    (p.signed_by(&key, issuer).unwrap(), key)
}

fn identity(cert: &rcgen::Certificate, key: &KeyPair) -> Identity {
    Identity {
        chain: vec![cert.der().clone()],
        key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
    }
}

fn make_pki(dir: &Path) -> Pki {
    let root = ca("plugin-exporter test CA");
    let (server, server_key) = leaf(
        &root,
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    std::fs::write(dir.join("ca.crt"), root.pem()).unwrap();
    std::fs::write(dir.join("server.crt"), server.pem()).unwrap();
    std::fs::write(dir.join("server.key"), server_key.serialize_pem()).unwrap();
    let (client, client_key) = leaf(&root, &[], ExtendedKeyUsagePurpose::ClientAuth);
    let other = ca("someone else's CA");
    let (stranger, stranger_key) = leaf(&other, &[], ExtendedKeyUsagePurpose::ClientAuth);
    Pki {
        ca: root.der().clone(),
        client: identity(&client, &client_key),
        stranger: identity(&stranger, &stranger_key),
    }
}

fn client_config(ca: &CertificateDer<'static>, id: Option<Identity>) -> Arc<ClientConfig> {
    client_config_with(ca, id, rustls::DEFAULT_VERSIONS)
}

fn client_config_with(
    ca: &CertificateDer<'static>,
    id: Option<Identity>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let b = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    Arc::new(match id {
        Some(id) => b.with_client_auth_cert(id.chain, id.key).unwrap(),
        None => b.with_no_client_auth(),
    })
}

/// GET over HTTPS (server name `localhost`); any TLS failure is an error.
fn https_get(
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
    config: Arc<ClientConfig>,
) -> io::Result<HttpResponse> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    let conn = ClientConnection::new(config, ServerName::try_from("localhost").unwrap())
        .map_err(io::Error::other)?;
    let mut tls = StreamOwned::new(conn, tcp);
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    tls.write_all(req.as_bytes())?;
    tls.flush()?;
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw) {
        Ok(_) => {}
        // A peer that closes without close_notify after a full response is still a response.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e),
    }
    parse_http_response(&raw).ok_or_else(|| io::Error::other("not an HTTP response"))
}

fn basic(user: &str, password: &str) -> String {
    // Only ASCII test credentials: a tiny encoder is enough and needs no crate.
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let raw = format!("{user}:{password}");
    let mut s = String::from("Basic ");
    for chunk in raw.as_bytes().chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &c)| n | (u32::from(c) << (16 - 8 * i)));
        for i in 0..4 {
            s.push(if i <= chunk.len() {
                A[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    s
}

#[test]
fn https_basic_auth_and_headers() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
             http_server_config:\n  headers:\n    X-Frame-Options: deny\n    \
             X-Content-Type-Options: nosniff\n    Strict-Transport-Security: max-age=31536000\n\
             basic_auth_users:\n  alice: {hash}\n"
        ),
    )
    .unwrap();
    let e = Exporter::start(
        "plugins: []\n",
        &["--web.config.file", web.to_str().unwrap()],
    );
    let tls = client_config(&pki.ca, None);
    let get = |path: &str, auth: Option<String>| {
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| ("Authorization", a))
            .into_iter()
            .collect();
        https_get(&e.addr, path, &headers, tls.clone()).expect("HTTPS request")
    };
    let assert_headers = |r: &HttpResponse| {
        assert_eq!(
            r.headers.get("x-frame-options").map(String::as_str),
            Some("deny")
        );
        assert_eq!(
            r.headers.get("x-content-type-options").map(String::as_str),
            Some("nosniff")
        );
        assert_eq!(
            r.headers
                .get("strict-transport-security")
                .map(String::as_str),
            Some("max-age=31536000")
        );
    };

    let ok = get("/metrics", Some(basic("alice", "s3cret")));
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert!(ok.text().contains("plugin_exporter_"), "{}", ok.text());
    assert_headers(&ok);
    // Cached now: the second scrape passes as well.
    assert_eq!(get("/metrics", Some(basic("alice", "s3cret"))).status, 200);

    let refused = [
        get("/metrics", Some(basic("alice", "wrong"))),
        get("/metrics", Some(basic("mallory", "s3cret"))),
        get("/metrics", None),
        get("/-/healthy", None),
        get("/", Some("Bearer abc".to_string())),
    ];
    for r in &refused {
        assert_eq!(r.status, 401, "{}", r.text());
        assert_eq!(
            r.headers.get("www-authenticate").map(String::as_str),
            Some("Basic realm=\"plugin-exporter\"")
        );
        assert_eq!(r.body, refused[0].body, "401 bodies differ");
        assert_headers(r);
    }

    // Plain HTTP to the TLS port gets no HTTP answer, and the failure is logged at debug.
    let mut plain = TcpStream::connect(&e.addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    plain
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let _ = plain.read_to_end(&mut raw);
    assert!(
        !raw.starts_with(b"HTTP/"),
        "plain HTTP was answered: {}",
        String::from_utf8_lossy(&raw)
    );
    e.wait_log(Duration::from_secs(10), |l| {
        l.contains("TLS handshake failed")
    });
}

#[test]
fn client_certificates_are_required_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n",
    )
    .unwrap();
    let e = Exporter::start(
        "plugins: []\n",
        &["--web.config.file", web.to_str().unwrap()],
    );

    let with_cert = client_config(&pki.ca, Some(pki.client.clone()));
    let r = https_get(&e.addr, "/metrics", &[], with_cert).expect("with a client cert");
    assert_eq!(r.status, 200, "{}", r.text());

    let without = https_get(&e.addr, "/metrics", &[], client_config(&pki.ca, None));
    assert!(without.is_err(), "served without a client certificate");
    let stranger = client_config(&pki.ca, Some(pki.stranger.clone()));
    let r = https_get(&e.addr, "/metrics", &[], stranger);
    assert!(r.is_err(), "served a certificate from an untrusted CA");
}

#[test]
fn each_client_auth_type_asks_and_checks_as_go_does() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let web = dir.path().join("web.yml");
    // Served without a client certificate, with the CA's, with another CA's.
    let cases = [
        ("RequestClientCert", true, true, true),
        ("RequireAnyClientCert", false, true, true),
        ("VerifyClientCertIfGiven", true, true, false),
        ("RequireAndVerifyClientCert", false, true, false),
    ];
    for (kind, without, ours, theirs) in cases {
        std::fs::write(
            &web,
            format!(
                "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
                 client_auth_type: {kind}\n  client_ca_file: ca.crt\n"
            ),
        )
        .unwrap();
        let e = Exporter::start(
            "plugins: []\n",
            &["--web.config.file", web.to_str().unwrap()],
        );
        for (id, expected, what) in [
            (None, without, "no certificate"),
            (Some(pki.client.clone()), ours, "the CA's certificate"),
            (
                Some(pki.stranger.clone()),
                theirs,
                "another CA's certificate",
            ),
        ] {
            let r = https_get(&e.addr, "/-/healthy", &[], client_config(&pki.ca, id));
            assert_eq!(
                r.as_ref().map(|r| r.status).ok(),
                expected.then_some(200),
                "{kind} with {what}: {:?}",
                r.err()
            );
        }
    }
}

#[test]
fn min_version_refuses_older_clients() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         min_version: TLS13\n",
    )
    .unwrap();
    let e = Exporter::start(
        "plugins: []\n",
        &["--web.config.file", web.to_str().unwrap()],
    );
    let tls12 = client_config_with(&pki.ca, None, &[&rustls::version::TLS12]);
    assert!(https_get(&e.addr, "/-/healthy", &[], tls12).is_err());
    let tls13 = client_config_with(&pki.ca, None, &[&rustls::version::TLS13]);
    let r = https_get(&e.addr, "/-/healthy", &[], tls13).expect("TLS 1.3");
    assert_eq!(r.status, 200);
}

/// Runs the exporter on a config with one plugin and `web`; returns (exit code, stderr)
/// and checks that the plugin never started.
fn refused(dir: &Path, web: &str) -> (Option<i32>, String) {
    let name = unique("never");
    let cfg = dir.join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  allow_root: true\nplugins:\n  - name: {name}\n    command: [\"{}\"]\n",
            fixture("hang.sh")
        ),
    )
    .unwrap();
    let web_file = dir.join("web.yml");
    std::fs::write(&web_file, web).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_plugin-exporter"))
        .arg("--config.file")
        .arg(&cfg)
        .arg("--web.config.file")
        .arg(&web_file)
        .args(["--web.listen-address", "127.0.0.1:0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        plugin_processes(&name).is_empty(),
        "a plugin started: {err}"
    );
    assert!(!err.contains("listening"), "it listened: {err}");
    (out.status.code(), err)
}

#[test]
fn bad_web_configs_are_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let _pki = make_pki(dir.path());
    let web = dir.path().join("web.yml");

    let (code, err) = refused(
        dir.path(),
        "tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n",
    );
    assert_eq!(code, Some(1), "{err}");
    let missing = dir.path().join("missing.crt");
    assert!(
        err.contains(&format!("{}:2:", web.display()))
            && err.contains(&format!("cannot read cert file {}", missing.display())),
        "{err}"
    );

    let (code, err) = refused(dir.path(), "basic_auth_users:\n  alice: $2y$10$nothash\n");
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("{}:2:", web.display()))
            && err.contains("bad bcrypt hash for user alice"),
        "{err}"
    );

    // A key that belongs to another certificate.
    std::fs::write(
        dir.path().join("other.key"),
        KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    let (code, err) = refused(
        dir.path(),
        "tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n",
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("{}:3:", web.display())) && err.contains("does not match"),
        "{err}"
    );
}
