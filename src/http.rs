//! The HTTP server (hyper 1.x, HTTP/1.1): routes and headers for `/metrics` (the scrape
//! itself is [`crate::scrape`]), the landing page, `/-/healthy`, `/-/ready`, `/-/reload` and
//! `/api/v1/plugins`. Which connections are held and for how long is the `connections`
//! module; who may use the endpoints that change state, the `gate` module.

mod connections;
mod gate;

use crate::exposition::Format;
use crate::scrape::{scrape_budget, Scraper};
use crate::selfmetrics::SelfMetrics;
use bytes::Bytes;
use connections::{Admitted, Connections, Limits, Watched, CLOSE_GRACE, HEADER_READ_TIMEOUT};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

pub use connections::{cap_connections, listen, listen_on, raise_nofile_limit};

/// Prometheus' scrape timeout header.
pub const SCRAPE_TIMEOUT_HEADER: &str = "x-prometheus-scrape-timeout-seconds";

/// What the handlers share.
pub struct Server {
    /// Plugins in configuration order (the first listed owns a contested family); replaced
    /// whole by a reload.
    pub plugins: Arc<crate::reload::Plugins>,
    /// Where `POST /-/reload` sends its request.
    pub reload: tokio::sync::mpsc::Sender<crate::reload::Request>,
    /// The exporter's own metrics.
    pub metrics: Arc<SelfMetrics>,
    /// Path of the metrics endpoint.
    pub telemetry_path: String,
    /// TLS, basic authentication and extra headers (`--web.config.file`); replaced whole on
    /// reload through [`Server::set_web`].
    pub web: std::sync::RwLock<Arc<crate::web::WebConfig>>,
    /// What the command line sets for the server.
    pub options: ServeOptions,
    /// Bounds bcrypt checks and rate-limits failed logins; kept across web config reloads.
    pub throttle: crate::web::Throttle,
    /// The last hour of each plugin and recent events, for the status page.
    pub history: Arc<crate::status::History>,
    /// The configuration in force (the dashboard's plugin label).
    pub config: tokio::sync::watch::Receiver<Arc<crate::config::Config>>,
}

/// What the command line sets for the server.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// `--web.enable-lifecycle`: `POST /-/reload` is served.
    pub enable_lifecycle: bool,
    /// `--web.enable-admin-api`: `POST /api/v1/plugins/NAME/{restart,disable,enable}` is served.
    pub enable_admin_api: bool,
    /// `--web.max-connections`, already capped to the descriptor limit.
    pub max_connections: usize,
    /// `--web.idle-timeout`: how long a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
}

/// Where a request comes from.
#[derive(Debug, Clone, Copy)]
struct Peer {
    /// The client's address, as the accept gave it.
    addr: SocketAddr,
    /// Whether the connection is TLS.
    tls: bool,
}

type Resp = Response<Full<Bytes>>;

fn text(status: StatusCode, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

impl Server {
    /// Replaces the web configuration: new connections and requests use it, open TLS
    /// connections keep the handshake they made.
    pub fn set_web(&self, w: crate::web::WebConfig) {
        *self
            .web
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(w);
    }

    /// The web configuration in force.
    fn web(&self) -> Arc<crate::web::WebConfig> {
        self.web
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Checks basic authentication (on every endpoint, as exporter-toolkit does), then
    /// serves `req` from `peer`; every response, a 401 or 429 too, carries the configured
    /// headers.
    async fn respond(&self, req: Request<Incoming>, peer: Peer) -> Resp {
        let web = self.web();
        let authorization = req.headers().get(hyper::header::AUTHORIZATION);
        let verdict = web
            .authorize_async(authorization, peer.addr.ip(), &self.throttle)
            .await;
        let mut resp = match verdict {
            crate::web::Verdict::Allow => self.handle(req, peer).await,
            crate::web::Verdict::Deny => {
                // One answer whatever was wrong (user, password, header), so it tells nothing.
                let mut r = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
                r.headers_mut().insert(
                    hyper::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(crate::web::CHALLENGE),
                );
                r
            }
            crate::web::Verdict::Refused(why) => {
                let (retry, body) = match why {
                    crate::web::Refused::RateLimited(s) => {
                        (s, "Too Many Requests: too many failed logins\n")
                    }
                    crate::web::Refused::Busy => (1, "Too Many Requests: try again\n"),
                };
                tracing::debug!(client = %peer.addr, retry_after = retry, "login check refused");
                let mut r = text(StatusCode::TOO_MANY_REQUESTS, body);
                r.headers_mut()
                    .insert(hyper::header::RETRY_AFTER, HeaderValue::from(retry));
                r
            }
        };
        web.apply_headers(resp.headers_mut());
        resp
    }

    /// Serves connections from `listeners` until `shutdown` resolves, then stops accepting
    /// and gives open connections up to 5 s to finish.
    pub async fn serve(
        self: Arc<Self>,
        listeners: Vec<TcpListener>,
        shutdown: impl Future<Output = ()>,
    ) {
        let connections = Connections::new(Limits {
            max: self.options.max_connections,
            idle_timeout: self.options.idle_timeout,
            header_timeout: HEADER_READ_TIMEOUT,
        });
        let (conn_tx, mut conn_rx) = tokio::sync::mpsc::channel(64);
        let mut accepts = Vec::new();
        for l in listeners {
            let tx = conn_tx.clone();
            accepts.push(tokio::spawn(async move {
                loop {
                    match l.accept().await {
                        Ok(accepted) => {
                            if tx.send(accepted).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            // EMFILE and friends: back off briefly instead of spinning.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            }));
        }
        drop(conn_tx);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                Some((stream, addr)) = conn_rx.recv() => {
                    // At the limit, this closes the connection idle the longest, or (every
                    // one busy) the new one, dropped here.
                    let Some(admitted) = connections.admit().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let limits = connections.limits();
                    tokio::spawn(self.clone().connection(admitted, stream, addr, limits));
                }
                _ = &mut shutdown => break,
            }
        }
        for a in accepts {
            a.abort();
        }
        connections.close_all();
        if tokio::time::timeout(Duration::from_secs(5), connections.all_closed())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after 5 s; closing them");
        }
    }

    /// Serves one connection until it ends, its slot is asked to close (eviction or
    /// shutdown), or it times out (header read or idle).
    async fn connection(
        self: Arc<Self>,
        admitted: Admitted,
        stream: TcpStream,
        addr: SocketAddr,
        limits: Limits,
    ) {
        let slot = admitted.slot().clone();
        // Read per connection, so a reload applies to the next connection.
        let tls = self.web().tls_acceptor();
        let peer = Peer {
            addr,
            tls: tls.is_some(),
        };
        // The TLS handshake runs in the connection's task, not in the accept loop: a slow or
        // silent client delays no one else.
        let stream = tokio::select! {
            s = crate::web::accept(tls, stream) => s,
            () = slot.close_requested() => None,
            () = tokio::time::sleep_until(slot.next_check(&limits)) => None,
        };
        let Some(stream) = stream else {
            return;
        };
        let svc_slot = slot.clone();
        let me = self.clone();
        let service = hyper::service::service_fn(move |req| {
            let (me, busy) = (me.clone(), svc_slot.begin());
            async move {
                let resp = me.respond(req, peer).await;
                drop(busy);
                Ok::<_, Infallible>(resp)
            }
        });
        // hyper's header read timeout would also count the wait for the next request on a
        // keep-alive connection; the slot keeps the two apart instead.
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(None)
            .serve_connection(TokioIo::new(Watched::new(stream, slot.clone())), service);
        tokio::pin!(conn);
        // Set once closing is asked for: after it, the connection is dropped.
        let mut hard_stop: Option<tokio::time::Instant> = None;
        loop {
            let wake = hard_stop.unwrap_or_else(|| slot.next_check(&limits));
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(client = %addr, error = %e, "connection ended with an error");
                    }
                    break;
                }
                // The phase changed: look at the deadline again.
                () = slot.changed(), if hard_stop.is_none() => {}
                () = slot.close_requested(), if hard_stop.is_none() => {
                    conn.as_mut().graceful_shutdown();
                    hard_stop = Some(tokio::time::Instant::now() + CLOSE_GRACE);
                }
                () = tokio::time::sleep_until(wake) => {
                    if hard_stop.is_some() {
                        break;
                    }
                    if let Some(why) = slot.expired(&limits, tokio::time::Instant::now()) {
                        tracing::debug!(client = %addr, reason = why, "closing the connection");
                        conn.as_mut().graceful_shutdown();
                        hard_stop = Some(tokio::time::Instant::now() + CLOSE_GRACE);
                    }
                }
            }
        }
        drop(admitted);
    }

    /// Routes an authorized request from `peer`.
    async fn handle(&self, req: Request<Incoming>, peer: Peer) -> Resp {
        let path = req.uri().path();
        let get = req.method() == Method::GET || req.method() == Method::HEAD;
        if path == self.telemetry_path {
            if !get {
                return text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
            }
            return self.metrics_response(&req).await;
        }
        let gated = gate::Request {
            method: req.method(),
            headers: req.headers(),
            tls: peer.tls,
        };
        if let Some(rest) = path.strip_prefix("/api/v1/plugins/") {
            return self.manage(rest, &gated).await;
        }
        if let Some(name) = path.strip_prefix("/plugins/") {
            if !get {
                return text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
            }
            return match self.plugins.get(name) {
                Some(p) => html_page(crate::status::page::plugin_page(
                    &p,
                    &self.metrics,
                    &self.history,
                )),
                None => text(StatusCode::NOT_FOUND, "no such plugin\n"),
            };
        }
        if path == "/-/reload" {
            let lifecycle = self.options.enable_lifecycle;
            return match gate::check(gate::Api::Lifecycle, lifecycle, &gated) {
                Ok(()) => self.reload().await,
                Err(refusal) => refused(refusal),
            };
        }
        match (path, get) {
            ("/", true) => html_page(crate::status::page::overview(
                &self.plugins.snapshot(),
                &self.metrics,
                &self.history,
                &self.telemetry_path,
            )),
            ("/api/v1/dashboards/grafana", true) => {
                let only = req
                    .uri()
                    .query()
                    .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("plugin=")));
                let label = self.config.borrow().global.plugin_label.clone();
                let catalog = crate::status::catalog(&self.plugins.snapshot(), only);
                let body = serde_json::to_vec_pretty(&crate::status::dashboard::dashboard(
                    &catalog, &label,
                ))
                .expect("dashboard serializes");
                let mut r = text(StatusCode::OK, body);
                r.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                r
            }
            ("/-/healthy", true) => text(StatusCode::OK, "Healthy\n"),
            ("/-/ready", true) => {
                let plugins = self.plugins.snapshot();
                let waiting = plugins.iter().filter(|p| !p.attempted()).count();
                if waiting == 0 {
                    text(StatusCode::OK, "Ready\n")
                } else {
                    text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("Not ready: {waiting} plugins not started yet\n"),
                    )
                }
            }
            ("/api/v1/plugins", true) => {
                let all: Vec<_> = self.plugins.snapshot().iter().map(|p| p.status()).collect();
                let processors = self.plugins.processors();
                let processors: Vec<_> = processors.iter().map(|p| p.status()).collect();
                let outputs = self.plugins.outputs();
                let outputs: Vec<_> = outputs.iter().map(|p| p.status()).collect();
                let body = serde_json::to_vec_pretty(&serde_json::json!({
                    "plugins": all, "processors": processors, "outputs": outputs
                }))
                .expect("status serializes");
                let mut r = text(StatusCode::OK, body);
                r.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                r
            }
            ("/api/v1/metrics", true) => {
                let budget = req
                    .headers()
                    .get(SCRAPE_TIMEOUT_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(scrape_budget);
                let scraper = Scraper {
                    plugins: self.plugins.clone(),
                    metrics: self.metrics.clone(),
                };
                let families = scraper.families(budget).await;
                let body = serde_json::to_vec(&serde_json::json!({ "families": families }))
                    .expect("families serialize");
                let mut r = text(StatusCode::OK, body);
                r.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                r
            }
            (
                "/"
                | "/-/healthy"
                | "/-/ready"
                | "/api/v1/plugins"
                | "/api/v1/metrics"
                | "/api/v1/dashboards/grafana",
                false,
            ) => text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n"),
            _ => text(StatusCode::NOT_FOUND, "Not found\n"),
        }
    }

    /// Collects every plugin concurrently and merges the result with our own metrics.
    async fn metrics_response(&self, req: &Request<Incoming>) -> Resp {
        let h = req.headers();
        let format = Format::negotiate(h.get(ACCEPT).and_then(|v| v.to_str().ok()));
        let gzip = h
            .get(ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(accepts_gzip);
        let budget = h
            .get(SCRAPE_TIMEOUT_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(scrape_budget);
        let scraper = Scraper {
            plugins: self.plugins.clone(),
            metrics: self.metrics.clone(),
        };
        let body = scraper.scrape(budget, format, gzip).await;
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        if gzip {
            resp.headers_mut()
                .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        resp.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        );
        resp
    }

    /// `POST /-/reload`: reloads the configuration (and the web config) and answers 200, or
    /// 500 with the reason nothing changed.
    async fn reload(&self) -> Resp {
        let (reply, done) = tokio::sync::oneshot::channel();
        if self.reload.send(reply).await.is_err() {
            return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
        }
        match done.await {
            Ok(Ok(summary)) => text(StatusCode::OK, format!("Reloaded: {summary}\n")),
            Ok(Err(e)) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("failed to reload config: {e}\n"),
            ),
            Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"),
        }
    }

    /// `POST /api/v1/plugins/{name}/{restart|disable|enable}`, behind `--web.enable-admin-api`.
    async fn manage(&self, rest: &str, req: &gate::Request<'_>) -> Resp {
        let Some((name, action)) = rest.split_once('/') else {
            return text(StatusCode::NOT_FOUND, "Not found\n");
        };
        if !matches!(action, "restart" | "disable" | "enable") {
            return text(StatusCode::NOT_FOUND, "Not found\n");
        }
        if let Err(refusal) = gate::check(gate::Api::Admin, self.options.enable_admin_api, req) {
            return refused(refusal);
        }
        let Some(plugin) = self.plugins.get(name) else {
            return text(StatusCode::NOT_FOUND, "no such plugin\n");
        };
        let ok = match action {
            "restart" => plugin.restart().await,
            "disable" => plugin.disable().await,
            _ => plugin.enable().await,
        };
        if !ok {
            return text(StatusCode::SERVICE_UNAVAILABLE, "the plugin is stopping\n");
        }
        tracing::info!(plugin = name, action, "plugin managed through the API");
        let body = serde_json::to_vec_pretty(&plugin.status()).expect("status serializes");
        let mut r = text(StatusCode::OK, body);
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r
    }
}

/// The answer to a request the gate refused; a 405 says which method is allowed.
fn refused(refusal: gate::Refusal) -> Resp {
    let mut r = text(refusal.status, refusal.body);
    if refusal.status == StatusCode::METHOD_NOT_ALLOWED {
        r.headers_mut()
            .insert(hyper::header::ALLOW, HeaderValue::from_static("POST"));
    }
    r
}

/// An HTML page.
fn html_page(body: String) -> Resp {
    let mut r = text(StatusCode::OK, body);
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

/// True when an `Accept-Encoding` value allows gzip (a `q=0` refuses it).
pub fn accepts_gzip(value: &str) -> bool {
    value.split(',').any(|part| {
        let mut it = part.split(';').map(str::trim);
        let coding = it.next().unwrap_or("");
        let q_zero = it.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !q_zero
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("deflate, gzip;q=0.5"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
    }
}
