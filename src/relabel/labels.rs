//! The label set a rule works on, as Prometheus's label builder behaves: sorted by name, an
//! absent label reads as `""`, and setting a label to `""` removes it.

/// A series' labels during relabeling, `__name__` and the plugin label included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSet {
    /// Sorted by name, names unique, values never empty.
    pairs: Vec<(String, String)>,
}

impl LabelSet {
    /// A set from pairs in any order; empty values are left out, and of repeated names the
    /// last wins.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut ls = LabelSet::default();
        for (n, v) in pairs {
            ls.set(&n, v);
        }
        ls
    }

    /// A set from pairs whose names are unique, sorted once (cheaper than one `set` each).
    pub fn from_unique(mut pairs: Vec<(String, String)>) -> Self {
        pairs.retain(|(_, v)| !v.is_empty());
        pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        LabelSet { pairs }
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.pairs.binary_search_by(|(n, _)| n.as_str().cmp(name))
    }

    /// The value of `name`, `""` when absent.
    pub fn get(&self, name: &str) -> &str {
        match self.find(name) {
            Ok(i) => &self.pairs[i].1,
            Err(_) => "",
        }
    }

    /// Sets `name` to `value`; an empty value removes the label.
    pub fn set(&mut self, name: &str, value: String) {
        match (self.find(name), value.is_empty()) {
            (Ok(i), false) => self.pairs[i].1 = value,
            (Ok(i), true) => {
                self.pairs.remove(i);
            }
            (Err(i), false) => self.pairs.insert(i, (name.to_string(), value)),
            (Err(_), true) => {}
        }
    }

    /// Removes `name` and returns its value, `None` when absent.
    pub fn take(&mut self, name: &str) -> Option<String> {
        self.find(name).ok().map(|i| self.pairs.remove(i).1)
    }

    /// Keeps the labels whose names pass `keep`.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.pairs.retain(|(n, _)| keep(n));
    }

    /// The pairs, sorted by name.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// A copy of the pairs, for rules that set labels while they look at all of them.
    pub fn snapshot(&self) -> Vec<(String, String)> {
        self.pairs.clone()
    }

    /// The pairs, sorted by name.
    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_reads_empty_and_empty_removes() {
        let mut ls = LabelSet::from_pairs([("b".into(), "2".into()), ("a".into(), "1".into())]);
        assert_eq!(ls.get("a"), "1");
        assert_eq!(ls.get("zz"), "");
        ls.set("a", String::new());
        ls.set("c", "3".into());
        assert_eq!(
            ls.into_pairs(),
            [("b".into(), "2".into()), ("c".into(), "3".into())]
        );
    }
}
