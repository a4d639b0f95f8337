//! A line reader with a hard bound on memory: a line longer than the limit is skipped as it
//! streams past (never buffered whole) and reported as [`Line::TooLong`], and reading resumes at
//! the next newline. `BufReader::lines` would grow without end on a line with no newline.

use tokio::io::{AsyncRead, AsyncReadExt};

/// One item read from the stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line, without its `\n` (and without a trailing `\r`).
    Complete(Vec<u8>),
    /// A line that exceeded the limit; `bytes` is how many bytes it had (so far, if the
    /// stream ended inside it).
    TooLong {
        /// Length of the skipped line.
        bytes: usize,
    },
}

/// Reads `\n`-terminated lines of at most `max` bytes from `inner`.
pub struct LineReader<R> {
    inner: R,
    max: usize,
    buf: Vec<u8>,
    /// Start of unconsumed data in `buf`.
    start: usize,
    /// Bytes after `start` already searched for a newline: a long line is scanned once, not
    /// once per read.
    searched: usize,
    /// Bytes of an over-long line skipped so far, while skipping.
    skipping: Option<usize>,
    eof: bool,
}

const CHUNK: usize = 64 * 1024;

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// A reader that accepts lines up to `max` bytes.
    pub fn new(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            max: max.max(1),
            buf: Vec::with_capacity(CHUNK.min(max + 1)),
            start: 0,
            searched: 0,
            skipping: None,
            eof: false,
        }
    }

    /// The next line, or `None` at end of stream. A final line without `\n` is returned too.
    pub async fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            let pending = &self.buf[self.start..];
            if let Some(found) = memchr::memchr(b'\n', &pending[self.searched..]) {
                let pos = self.searched + found;
                let line_end = self.start + pos;
                let from = self.start;
                self.start = line_end + 1;
                self.searched = 0;
                if let Some(skipped) = self.skipping.take() {
                    return Ok(Some(Line::TooLong {
                        bytes: skipped + pos,
                    }));
                }
                if pos > self.max {
                    return Ok(Some(Line::TooLong { bytes: pos }));
                }
                let mut line = self.buf[from..line_end].to_vec();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(line_complete(line)));
            }
            // No newline in what we hold.
            let held = self.buf.len() - self.start;
            self.searched = held;
            if self.skipping.is_some() || held > self.max {
                // Drop what we hold of the over-long line; keep counting.
                *self.skipping.get_or_insert(0) += held;
                self.buf.clear();
                self.start = 0;
                self.searched = 0;
            } else if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            if self.eof {
                self.searched = 0;
                if let Some(skipped) = self.skipping.take() {
                    return Ok(Some(Line::TooLong { bytes: skipped }));
                }
                if self.buf.is_empty() {
                    return Ok(None);
                }
                let line = std::mem::take(&mut self.buf);
                return Ok(Some(line_complete(line)));
            }
            let len = self.buf.len();
            self.buf.resize(len + CHUNK, 0);
            let n = self.inner.read(&mut self.buf[len..]).await;
            let n = match n {
                Ok(n) => n,
                Err(e) => {
                    self.buf.truncate(len);
                    return Err(e);
                }
            };
            self.buf.truncate(len + n);
            if n == 0 {
                self.eof = true;
            }
        }
    }
}

fn line_complete(line: Vec<u8>) -> Line {
    Line::Complete(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn all(input: &[u8], max: usize) -> Vec<Line> {
        let mut r = LineReader::new(input, max);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().await.unwrap() {
            out.push(l);
        }
        out
    }

    #[tokio::test]
    async fn splits_lines_and_keeps_a_final_unterminated_one() {
        let got = all(b"a\nbb\r\n\nccc", 10).await;
        assert_eq!(
            got,
            vec![
                Line::Complete(b"a".to_vec()),
                Line::Complete(b"bb".to_vec()),
                Line::Complete(Vec::new()),
                Line::Complete(b"ccc".to_vec()),
            ]
        );
    }

    #[tokio::test]
    async fn an_over_long_line_is_skipped_and_reading_resumes() {
        let mut input = b"ok\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 300_000));
        input.extend(b"\nafter\n");
        let got = all(&input, 1000).await;
        assert_eq!(
            got,
            vec![
                Line::Complete(b"ok".to_vec()),
                Line::TooLong { bytes: 300_000 },
                Line::Complete(b"after".to_vec()),
            ]
        );
    }

    #[tokio::test]
    async fn a_long_line_in_many_reads_and_end_of_stream_twice() {
        let mut input = vec![b'z'; 40 * CHUNK];
        input.extend(b"\ntail");
        let mut r = LineReader::new(&input[..], 64 * CHUNK);
        assert_eq!(
            r.next_line().await.unwrap(),
            Some(Line::Complete(vec![b'z'; 40 * CHUNK]))
        );
        assert_eq!(
            r.next_line().await.unwrap(),
            Some(Line::Complete(b"tail".to_vec()))
        );
        assert_eq!(r.next_line().await.unwrap(), None);
        assert_eq!(r.next_line().await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_line_of_exactly_the_limit_passes() {
        let got = all(b"12345\n123456\n", 5).await;
        assert_eq!(
            got,
            vec![
                Line::Complete(b"12345".to_vec()),
                Line::TooLong { bytes: 6 }
            ]
        );
    }

    #[tokio::test]
    async fn memory_stays_bounded_on_a_line_without_newline() {
        let input = vec![b'y'; 10 * CHUNK];
        let mut r = LineReader::new(&input[..], 100);
        assert_eq!(
            r.next_line().await.unwrap(),
            Some(Line::TooLong { bytes: 10 * CHUNK })
        );
        assert!(r.buf.capacity() <= 2 * CHUNK + 101, "{}", r.buf.capacity());
    }
}
