//! Converters for plugins that do not speak the JSON protocol: each turns one run of a
//! foreign program into protocol families, which then take the same validation and rendering
//! path as any plugin's batch.

pub mod nagios;
