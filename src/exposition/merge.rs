//! The merge of the exporter's own families and every plugin's rendered families into one
//! exposition. Runs on every scrape, so it works per family (metadata comparisons, one hash
//! set of claimed names, byte copies) and only looks at series when two plugins both
//! rendered spans for the same family.
//!
//! Rules, in config order (the first plugin listed wins):
//! - The exporter's own families come first, in the order given, and own their names.
//! - A plugin family is kept under its name if no earlier family claims any of the same
//!   names ([`claimed_names`]); otherwise its series are dropped as `conflict`.
//! - Later plugins with a family of the same name join it when type, help and unit are equal
//!   to the first's, and are dropped as `conflict` otherwise.
//! - Plugin families are written in name order, each once: header, then the sample lines of
//!   every contributor back to back, so a family is never split.
//! - With spans on both sides, a later plugin's series whose key equals an earlier one's is
//!   skipped and counted as `duplicate_series` (only possible without the plugin label).

use std::collections::{BTreeMap, HashSet};

use super::render::{write_header, RenderedFamily};
use super::validate::{claimed_names, ClaimedName};
use super::Format;

/// One plugin's current rendered batch.
#[derive(Debug, Clone, Copy)]
pub struct Contribution<'a> {
    /// The plugin's families, as rendered by [`super::render::render`].
    pub families: &'a [RenderedFamily],
}

/// Series one plugin lost in a merge, by reason.
#[derive(Default, Debug, Clone, PartialEq)]
pub struct MergeDrops {
    /// Series of families that clashed with an earlier family's name or metadata.
    pub conflict: u64,
    /// Series whose label set an earlier plugin already exposed in the same family.
    pub duplicate_series: u64,
}

/// A family name as it will be written: its owner's metadata and everyone's sample lines.
struct Group<'a> {
    owner: (usize, &'a RenderedFamily),
    /// Later plugins with equal metadata, in config order (empty in the common case, which
    /// then costs no allocation).
    joined: Vec<(usize, &'a RenderedFamily)>,
}

/// Writes the whole exposition for `format` into `out`: `own` first, then the plugin
/// families by name, then `# EOF` for OpenMetrics. Returns one [`MergeDrops`] per plugin, in
/// the order of `plugins`.
pub fn assemble(
    own: &[RenderedFamily],
    plugins: &[Contribution],
    format: Format,
    out: &mut Vec<u8>,
) -> Vec<MergeDrops> {
    let mut drops = vec![MergeDrops::default(); plugins.len()];
    let mut claims: HashSet<ClaimedName<'_>> = HashSet::new();
    for f in own {
        write_header(f, format, out);
        out.extend_from_slice(f.body(format));
        claims.extend(claimed_names(&f.name, f.kind));
    }

    let mut groups: BTreeMap<&str, Group<'_>> = BTreeMap::new();
    for (p, c) in plugins.iter().enumerate() {
        for f in c.families {
            if let Some(g) = groups.get_mut(f.name.as_str()) {
                let owner = g.owner.1;
                let same = owner.kind == f.kind && owner.help == f.help && owner.unit == f.unit;
                // Validation gives each name once per batch; should a plugin still repeat
                // one, joining it to itself would expose its series twice.
                let last = g.joined.last().unwrap_or(&g.owner).0;
                if same && last != p {
                    g.joined.push((p, f));
                } else {
                    drops[p].conflict += f.series as u64;
                }
                continue;
            }
            if claimed_names(&f.name, f.kind).any(|c| claims.contains(&c)) {
                drops[p].conflict += f.series as u64;
                continue;
            }
            claims.extend(claimed_names(&f.name, f.kind));
            groups.insert(
                f.name.as_str(),
                Group {
                    owner: (p, f),
                    joined: Vec::new(),
                },
            );
        }
    }

    for g in groups.values() {
        write_header(g.owner.1, format, out);
        if g.joined.is_empty() {
            out.extend_from_slice(g.owner.1.body(format));
        } else {
            let members: Vec<_> = std::iter::once(g.owner).chain(g.joined.iter().copied()).collect();
            write_members(&members, format, out, &mut drops);
        }
    }

    if format == Format::OpenMetrics {
        out.extend_from_slice(b"# EOF\n");
    }
    drops
}

/// Sample lines of several plugins for one family, skipping later duplicates where spans
/// allow it.
fn write_members(
    members: &[(usize, &RenderedFamily)],
    format: Format,
    out: &mut Vec<u8>,
    drops: &mut [MergeDrops],
) {
    let usable = |f: &RenderedFamily| spans_usable(f, format);
    if members.iter().filter(|(_, f)| usable(f)).count() < 2 {
        for (_, f) in members {
            out.extend_from_slice(f.body(format));
        }
        return;
    }
    let mut seen: HashSet<u64> = HashSet::new();
    for &(p, f) in members {
        let body = f.body(format);
        if !usable(f) {
            out.extend_from_slice(body);
            continue;
        }
        // Copy runs of kept series in one go; `run` is where the current run starts.
        let (mut run, mut start) = (0, 0);
        for span in &f.spans {
            let end = span.end(format);
            if !seen.insert(span.key) {
                out.extend_from_slice(&body[run..start]);
                run = end;
                drops[p].duplicate_series += 1;
            }
            start = end;
        }
        out.extend_from_slice(&body[run..]);
    }
}

/// True when `f` has spans that split its body cleanly: increasing ends, the last at the end.
/// The fields are public, so a hand-built family could be inconsistent; such a family is
/// copied whole rather than sliced out of bounds.
fn spans_usable(f: &RenderedFamily, format: Format) -> bool {
    let body = f.body(format);
    let mut prev = 0;
    !f.spans.is_empty()
        && f.spans.iter().all(|s| {
            let end = s.end(format);
            let ok = end >= prev;
            prev = end;
            ok
        })
        && prev == body.len()
}
