//! Gzip bodies built from members compressed ahead of time.
//!
//! A gzip file may be several members back to back (RFC 1952); Prometheus (Go's reader) and
//! every common client read them as one stream. So each family's sample lines are compressed
//! once, on the first gzip scrape after its batch arrived, and kept; a scrape then only
//! copies members. The small pieces written per scrape (HELP/TYPE lines, `# EOF`) go into
//! *stored* members: framing and a CRC, no compressor to set up.
//!
//! This file holds [`GzipSink`], the [`Sink`] that builds such a body; the two member
//! encoders are in `gzip_member.rs` (re-exported here), where [`super::render`] uses them
//! too, to compress a family's lines.

use super::format::Format;
use super::render::RenderedFamily;
use super::sink::Sink;

pub use super::gzip_member::{member, stored_member};

/// A [`Sink`] writing a gzip body: whole family bodies as their cached members, everything
/// else gathered and written as stored members between them.
pub struct GzipSink {
    out: Vec<u8>,
    pending: Vec<u8>,
}

/// Pending bytes above this size are compressed rather than stored (e.g. the exporter's own
/// metrics, or a family filtered for duplicates).
const COMPRESS_ABOVE: usize = 16 * 1024;

impl GzipSink {
    /// An empty body with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        GzipSink {
            out: Vec::with_capacity(capacity),
            pending: Vec::new(),
        }
    }

    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if self.pending.len() > COMPRESS_ABOVE {
            self.out.extend_from_slice(&member(&self.pending));
        } else {
            stored_member(&self.pending, &mut self.out);
        }
        self.pending.clear();
    }

    /// The finished body.
    pub fn finish(mut self) -> Vec<u8> {
        self.flush();
        if self.out.is_empty() {
            stored_member(b"", &mut self.out);
        }
        self.out
    }
}

impl Sink for GzipSink {
    fn bytes(&mut self, b: &[u8]) {
        self.pending.extend_from_slice(b);
    }

    fn family_body(&mut self, f: &RenderedFamily, format: Format) {
        if f.body(format).is_empty() {
            return;
        }
        self.flush();
        self.out.extend_from_slice(f.gzip(format));
    }
}
