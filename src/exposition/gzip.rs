//! Gzip bodies built from members compressed ahead of time.
//!
//! A gzip file may be several members back to back (RFC 1952); Prometheus (Go's reader) and
//! every common client read them as one stream. So each family's sample lines are compressed
//! once, on the first gzip scrape after its batch arrived, and kept; a scrape then only
//! copies members. The small pieces written per scrape (HELP/TYPE lines, `# EOF`) go into
//! *stored* members: framing and a CRC, no compressor to set up.

use super::merge::Sink;
use super::render::RenderedFamily;
use super::Format;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;

/// Compresses `data` into one gzip member (fast level: scrape latency matters more than the
/// last percent of size).
pub fn member(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 6 + 64), Compression::fast());
    enc.write_all(data).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}

/// Appends `data` to `out` as one gzip member made of stored (uncompressed) deflate blocks.
pub fn stored_member(data: &[u8], out: &mut Vec<u8>) {
    // Header: magic, deflate, no flags, no mtime, no extra flags, OS unknown.
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    let mut blocks = data.chunks(u16::MAX as usize).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        let last = blocks.peek().is_none();
        let len = block.len() as u16;
        out.push(u8::from(last));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    let mut crc = flate2::Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(b)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn stored_members_decode_for_every_size() {
        for n in [0usize, 1, 100, 65535, 65536, 200_000] {
            let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            let mut out = Vec::new();
            stored_member(&data, &mut out);
            assert_eq!(gunzip(&out), data, "size {n}");
        }
    }

    #[test]
    fn members_back_to_back_read_as_one_stream() {
        let mut out = member(b"first line\n");
        stored_member(b"second\n", &mut out);
        out.extend_from_slice(&member(b"third\n"));
        assert_eq!(gunzip(&out), b"first line\nsecond\nthird\n");
    }
}
