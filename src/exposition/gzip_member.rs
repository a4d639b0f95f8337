//! One gzip member (RFC 1952) from bytes: compressed ([`member`]), or stored without
//! compression ([`stored_member`]) for the small pieces made per scrape. Members back to
//! back read as one stream; `gzip.rs` builds scrape bodies out of them.

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
