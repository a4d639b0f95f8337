//! The web config file as written ([`RawWebConfig`]), before its checks; unknown keys are
//! refused here.

use super::tls::RawTls;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The file as written; everything optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWebConfig {
    pub(crate) tls_server_config: Option<RawTls>,
    pub(crate) http_server_config: Option<RawHttp>,
    pub(crate) basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttp {
    pub(crate) headers: Option<BTreeMap<String, String>>,
    // HTTP/2 is a permission in exporter-toolkit, not a requirement: ignoring it is honest.
    #[allow(dead_code)]
    http2: Option<bool>,
}
