//! Creating an instrument and registering it, the same way for every one.

use prometheus::{Gauge, GaugeVec, IntCounterVec, Opts, Registry};

pub(crate) fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let g = GaugeVec::new(Opts::new(name, help), labels).expect("static metric options are valid");
    registry
        .register(Box::new(g.clone()))
        .expect("each metric name is registered once");
    g
}

pub(crate) fn gauge(registry: &Registry, name: &str, help: &str) -> Gauge {
    let g = Gauge::with_opts(Opts::new(name, help)).expect("static metric options are valid");
    registry
        .register(Box::new(g.clone()))
        .expect("each metric name is registered once");
    g
}

pub(crate) fn counter_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> IntCounterVec {
    let c =
        IntCounterVec::new(Opts::new(name, help), labels).expect("static metric options are valid");
    registry
        .register(Box::new(c.clone()))
        .expect("each metric name is registered once");
    c
}
