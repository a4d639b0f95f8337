//! Who may use the endpoints that change state: `POST /-/reload` (the lifecycle API,
//! `--web.enable-lifecycle`) and `POST /api/v1/plugins/NAME/{restart,disable,enable}` (the
//! admin API, `--web.enable-admin-api`), as Prometheus gates its own.
//!
//! Both are off by default: anyone who reaches the port could otherwise use them, a web page
//! in an operator's browser included (a cross-origin `text/plain` POST needs no preflight).
//! When on, they still accept only `POST`, and refuse requests a browser marks as coming
//! from another site: `Sec-Fetch-Site: cross-site` or `same-site`, or an `Origin` other than
//! the request's own (`scheme://Host`; `Origin: null` included). Clients that send neither
//! header (curl, scripts, Prometheus tooling) are accepted.

use hyper::header::{HeaderMap, HOST, ORIGIN};
use hyper::{Method, StatusCode};

/// Which API an endpoint belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `/-/reload`.
    Lifecycle,
    /// `/api/v1/plugins/NAME/{restart,disable,enable}`.
    Admin,
}

/// Why a request to a gated endpoint is refused: what to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 405 or 403.
    pub status: StatusCode,
    /// A plain-text body, ending in a newline.
    pub body: String,
}

/// What a gated request carries that decides it.
pub struct Request<'a> {
    /// Its method.
    pub method: &'a Method,
    /// Its headers (`Origin`, `Sec-Fetch-Site`, `Host`).
    pub headers: &'a HeaderMap,
    /// Whether it came over TLS: the scheme of its own origin.
    pub tls: bool,
}

/// `Sec-Fetch-Site`, which hyper has no constant for.
const SEC_FETCH_SITE: &str = "sec-fetch-site";

/// Accepts `req` for `api` (turned on or not by its flag, `enabled`) or says why not.
pub fn check(api: Api, enabled: bool, req: &Request<'_>) -> Result<(), Refusal> {
    if req.method != Method::POST {
        return Err(Refusal {
            status: StatusCode::METHOD_NOT_ALLOWED,
            body: "use POST\n".to_string(),
        });
    }
    if !enabled {
        let body = match api {
            Api::Lifecycle => {
                "Lifecycle API is not enabled: start plugin-exporter with \
                 --web.enable-lifecycle to allow POST /-/reload (SIGHUP reloads without it)\n"
            }
            Api::Admin => {
                "Admin API is not enabled: start plugin-exporter with --web.enable-admin-api \
                 to allow POST /api/v1/plugins/NAME/restart, disable and enable\n"
            }
        };
        return Err(Refusal {
            status: StatusCode::FORBIDDEN,
            body: body.to_string(),
        });
    }
    if let Some(why) = cross_site(req) {
        return Err(Refusal {
            status: StatusCode::FORBIDDEN,
            body: format!(
                "cross-site request refused: {why}; this endpoint changes state and accepts \
                 only requests from its own origin or from clients that are not browsers\n"
            ),
        });
    }
    Ok(())
}

/// Why `req` comes from another site, if it does.
fn cross_site(req: &Request<'_>) -> Option<&'static str> {
    let h = req.headers;
    if let Some(site) = h.get(SEC_FETCH_SITE) {
        let site = site.as_bytes();
        if site.eq_ignore_ascii_case(b"cross-site") || site.eq_ignore_ascii_case(b"same-site") {
            return Some("Sec-Fetch-Site says it comes from another site");
        }
    }
    let origin = h.get(ORIGIN)?;
    let Ok(origin) = origin.to_str() else {
        return Some("its Origin header is not readable");
    };
    let host = h.get(HOST).and_then(|v| v.to_str().ok());
    if same_origin(origin, host, req.tls) {
        None
    } else {
        Some("its Origin is not this server's (scheme://Host)")
    }
}

/// True when `origin` is `scheme://host`, `host` being the request's Host header and the
/// scheme that of the connection; default ports and letter case do not matter. `null` and
/// a missing Host never match.
fn same_origin(origin: &str, host: Option<&str>, tls: bool) -> bool {
    let Some(host) = host else {
        return false;
    };
    let scheme = if tls { "https" } else { "http" };
    let origin = origin.trim().to_ascii_lowercase();
    let Some(authority) = origin
        .strip_prefix(scheme)
        .and_then(|rest| rest.strip_prefix("://"))
    else {
        return false;
    };
    let default_port = if tls { ":443" } else { ":80" };
    let normal = |a: &str| -> String {
        let a = a.trim().to_ascii_lowercase();
        match a.strip_suffix(default_port) {
            Some(bare) => bare.to_string(),
            None => a,
        }
    };
    !authority.is_empty() && normal(authority) == normal(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn status(api: Api, enabled: bool, method: Method, h: &HeaderMap, tls: bool) -> u16 {
        let req = Request {
            method: &method,
            headers: h,
            tls,
        };
        check(api, enabled, &req).map_or_else(|r| r.status.as_u16(), |()| 200)
    }

    #[test]
    fn off_names_the_flag_and_only_post_is_allowed() {
        let h = headers(&[("host", "localhost:10100")]);
        for (api, flag) in [
            (Api::Lifecycle, "--web.enable-lifecycle"),
            (Api::Admin, "--web.enable-admin-api"),
        ] {
            let req = Request {
                method: &Method::POST,
                headers: &h,
                tls: false,
            };
            let r = check(api, false, &req).unwrap_err();
            assert_eq!(r.status, StatusCode::FORBIDDEN);
            assert!(r.body.contains(flag), "{}", r.body);
            assert_eq!(status(api, true, Method::GET, &h, false), 405);
            assert_eq!(status(api, false, Method::PUT, &h, false), 405);
            assert_eq!(status(api, true, Method::POST, &h, false), 200);
        }
    }

    #[test]
    fn other_sites_are_refused() {
        let post = |pairs: &[(&'static str, &'static str)], tls: bool| {
            status(Api::Admin, true, Method::POST, &headers(pairs), tls)
        };
        let host = ("host", "Exporter.example:10100");
        assert_eq!(post(&[host], false), 200);
        assert_eq!(
            post(&[host, ("origin", "http://exporter.example:10100")], false),
            200
        );
        assert_eq!(
            post(&[host, ("origin", "https://exporter.example:10100")], true),
            200
        );
        assert_eq!(
            post(&[("host", "h:80"), ("origin", "http://h")], false),
            200
        );
        assert_eq!(
            post(&[("host", "h"), ("origin", "https://h:443")], true),
            200
        );
        assert_eq!(post(&[host, ("sec-fetch-site", "same-origin")], false), 200);
        assert_eq!(post(&[host, ("sec-fetch-site", "none")], false), 200);
        for refused in [
            ("origin", "null"),
            ("origin", "http://exporter.example:10101"),
            ("origin", "http://attacker.example"),
            ("origin", "http://exporter.example:10100.attacker.example"),
            ("origin", "exporter.example:10100"),
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-site", "same-site"),
        ] {
            assert_eq!(post(&[host, refused], false), 403, "{refused:?}");
        }
        // The scheme counts: an http page is not the https server's origin.
        assert_eq!(
            post(&[host, ("origin", "http://exporter.example:10100")], true),
            403
        );
        assert_eq!(post(&[("origin", "http://h")], false), 403, "no Host");
    }
}
