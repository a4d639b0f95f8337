//! Feeds arbitrary bytes to the exposition parser, then takes whatever it accepted through
//! validation, rendering and the merge, and parses our own text rendering again.
//!
//! The parser must not panic, must keep its error cap, and our text encoder's output must
//! parse back without an error. (The OpenMetrics rendering may leave out `_sum`/`_count`
//! lines that OpenMetrics forbids, which the parser then rightly reports, so only the
//! text rendering is held to that.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use plugin_exporter::exposition::merge::{assemble, Contribution};
use plugin_exporter::exposition::parse::{parse_bytes, MAX_ERRORS};
use plugin_exporter::exposition::render::render;
use plugin_exporter::exposition::validate::{validate, Drops, ValidateOptions};
use plugin_exporter::exposition::Format;

fuzz_target!(|data: &[u8]| {
    let out = parse_bytes(data);
    assert!(out.errors.len() <= MAX_ERRORS + 1);
    // The extra label, as the exporter adds it: validation refuses plugin labels of its name.
    let extra = Some(("plugin", "fuzz"));
    let mut drops = Drops::default();
    let families = validate(
        out.families,
        &ValidateOptions::with_extra_label(extra),
        &mut drops,
    );
    let rendered = render(families, extra, true);
    for format in [Format::Text, Format::OpenMetrics] {
        let mut body = Vec::new();
        assemble(
            &[],
            &[Contribution {
                families: &rendered,
            }],
            format,
            &mut body,
        );
        let again = parse_bytes(&body);
        if format == Format::Text {
            assert!(
                again.errors.is_empty(),
                "our own text did not parse: {:?}\n{}",
                again.errors,
                String::from_utf8_lossy(&body)
            );
        }
    }
});
