//! [`Sink`]: where a merged exposition is written, a plain body (`Vec<u8>`) or a gzip body
//! ([`super::gzip::GzipSink`]). Re-exported as `merge::Sink`.

use super::format::Format;
use super::render::RenderedFamily;

/// Where [`super::merge::assemble`] writes: a plain body, or one built from cached gzip members
/// ([`super::gzip::GzipSink`]).
pub trait Sink {
    /// Appends bytes made for this scrape (headers, filtered sample lines).
    fn bytes(&mut self, b: &[u8]);
    /// Appends a family's whole sample lines, which a sink may have ready in another form.
    fn family_body(&mut self, f: &RenderedFamily, format: Format) {
        self.bytes(f.body(format));
    }
}

impl Sink for Vec<u8> {
    fn bytes(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}
