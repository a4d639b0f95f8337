//! What people look at: the live status page and per-plugin pages ([`page`]) with the last
//! hour of each plugin ([`history`], charts in [`svg`]), and the generated Grafana dashboard
//! ([`dashboard`]).

pub mod dashboard;
pub mod history;
pub mod page;
pub mod svg;

pub use history::History;

use crate::plugin::PluginHandle;

/// The catalog of `plugins` (all, or only the one named `only`) for [`dashboard::dashboard`].
pub fn catalog(plugins: &[PluginHandle], only: Option<&str>) -> Vec<dashboard::PluginCatalog> {
    plugins
        .iter()
        .filter(|p| only.is_none_or(|o| p.name() == o))
        .map(|p| dashboard::PluginCatalog {
            name: p.name().to_string(),
            families: p.status().outcome.families,
            panels: p
                .config()
                .package
                .as_ref()
                .and_then(|pkg| pkg.manifest.dashboard.as_ref())
                .and_then(|d| d.get("panels"))
                .and_then(|v| v.as_array())
                .cloned()
                .unwrap_or_default(),
        })
        .collect()
}
