//! [`Cursor`]: a byte cursor over one line, for the lexer in `line.rs`.

/// A space or a tab.
pub(super) fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// A byte cursor over a line. Every split happens at an ASCII byte, so slices stay on UTF-8
/// character boundaries.
pub(super) struct Cursor<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(s: &'a str) -> Self {
        Cursor { s, i: 0 }
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    pub(super) fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        Some(b)
    }

    pub(super) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn eat_str(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.i += s.len();
            true
        } else {
            false
        }
    }

    pub(super) fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    pub(super) fn rest(&self) -> &'a str {
        &self.s[self.i..]
    }

    /// Skips spaces and tabs; returns how many.
    pub(super) fn blanks(&mut self) -> usize {
        self.take_while(is_blank).len()
    }

    /// Takes bytes while `f` holds. The cut stays on a character boundary as long as `f`
    /// gives one answer for all non-ASCII bytes, which every caller's predicate does (they
    /// test for ASCII bytes only).
    pub(super) fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.i;
        let b = self.s.as_bytes();
        while self.i < b.len() && f(b[self.i]) {
            self.i += 1;
        }
        &self.s[start..self.i]
    }
}
