//! Task lookup by name: a hash table of task numbers whose names stay where
//! they already are (in the pipeline's tasks, or a remote worker's message),
//! so the index costs a few bytes per task instead of a second copy of
//! every name.

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;
use std::hash::BuildHasher;

/// Task numbers by name; each call passes the names it indexes.
#[derive(Default, Clone)]
pub(crate) struct TaskIndex {
    table: HashTable<u32>,
}

fn hash(name: &str) -> u64 {
    FxBuildHasher.hash_one(name)
}

impl TaskIndex {
    /// An empty index with room for `count` tasks.
    pub(crate) fn with_capacity(count: usize) -> Self {
        TaskIndex {
            table: HashTable::with_capacity(count),
        }
    }

    /// An index of `names`, the first occurrence of a name winning.
    pub(crate) fn of(all: &[&str]) -> Self {
        let mut index = TaskIndex::with_capacity(all.len());
        for (i, name) in all.iter().enumerate() {
            if index.get(name, |j| all[j]).is_none() {
                index.insert(i, |j| all[j]);
            }
        }
        index
    }

    /// The number of the task named `key`, `name_of` giving each indexed
    /// task's name.
    pub(crate) fn get<'n>(&self, key: &str, name_of: impl Fn(usize) -> &'n str) -> Option<usize> {
        self.table
            .find(hash(key), |&i| name_of(i as usize) == key)
            .map(|&i| i as usize)
    }

    /// Indexes task `i` (its name not yet indexed).
    pub(crate) fn insert<'n>(&mut self, i: usize, name_of: impl Fn(usize) -> &'n str) {
        let i = u32::try_from(i).expect("at most u32::MAX tasks");
        self.table
            .insert_unique(hash(name_of(i as usize)), i, |&j| hash(name_of(j as usize)));
    }
}

/// Names end to end in one string, by number: one allocation for all of
/// them instead of one a name, to build and to drop.
#[derive(Debug, Default, Clone)]
pub(crate) struct NameList {
    text: String,
    /// Where each name ends in `text`.
    ends: Vec<u32>,
}

impl NameList {
    /// Room for `count` names of `bytes` bytes in all.
    pub(crate) fn with_capacity(count: usize, bytes: usize) -> Self {
        NameList {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(count),
        }
    }

    /// Adds `name`; returns its number.
    pub(crate) fn push(&mut self, name: &str) -> usize {
        self.text.push_str(name);
        let end = u32::try_from(self.text.len()).expect("names under 4 GiB in all");
        self.ends.push(end);
        self.ends.len() - 1
    }

    /// How many names it holds.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    fn range(&self, i: usize) -> std::ops::Range<usize> {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        start..self.ends[i] as usize
    }

    /// Name number `i`.
    pub(crate) fn name(&self, i: usize) -> &str {
        &self.text[self.range(i)]
    }

    /// Whether name `i` is `name`; compared as bytes, which skips the
    /// check that a slice of `text` falls on character boundaries.
    pub(crate) fn is(&self, i: usize, name: &str) -> bool {
        same(&self.text.as_bytes()[self.range(i)], name.as_bytes())
    }

    /// Whether these are exactly `names`, in order (compared as bytes,
    /// walking the list once).
    pub(crate) fn equals<'a>(&self, names: impl ExactSizeIterator<Item = &'a str>) -> bool {
        if names.len() != self.len() {
            return false;
        }
        let bytes = self.text.as_bytes();
        let mut start = 0;
        names.zip(&self.ends).all(|(name, &end)| {
            let here = &bytes[start..end as usize];
            start = end as usize;
            same(here, name.as_bytes())
        })
    }

    /// The names, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> + Clone {
        (0..self.len()).map(|i| self.name(i))
    }
}

/// Whether two names are the same bytes. Most task names are 4 to 16
/// bytes: those are compared as two overlapping words each, inline, where
/// `==` on slices calls `memcmp` (a call and its set-up cost more than
/// the comparison; a run compares each name about five times).
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        8..=16 => {
            let w = |s: &[u8], at: usize| u64::from_ne_bytes(s[at..at + 8].try_into().unwrap());
            w(a, 0) == w(b, 0) && w(a, n - 8) == w(b, n - 8)
        }
        4..=7 => {
            let w = |s: &[u8], at: usize| u32::from_ne_bytes(s[at..at + 4].try_into().unwrap());
            w(a, 0) == w(b, 0) && w(a, n - 4) == w(b, n - 4)
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_agrees_with_slice_equality_at_every_length_and_position() {
        for n in 0..=20usize {
            let a: Vec<u8> = (0..n as u8).map(|b| b'a' + b).collect();
            assert!(same(&a, &a.clone()), "len {n}");
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!same(&a, &b), "len {n}, differing at {at}");
            }
            let mut longer = a.clone();
            longer.push(b'z');
            assert!(
                !same(&a, &longer) && !same(&longer, &a),
                "len {n} vs {}",
                n + 1
            );
        }
    }

    #[test]
    fn finds_each_name_and_nothing_else() {
        let names: Vec<String> = (0..1000).map(|i| format!("t{i}")).collect();
        let all: Vec<&str> = names.iter().map(String::as_str).collect();
        let index = TaskIndex::of(&all);
        for (i, n) in names.iter().enumerate() {
            assert_eq!(index.get(n, |j| &names[j]), Some(i));
        }
        assert_eq!(index.get("t1000", |j| &names[j]), None);
        assert_eq!(index.get("", |j| &names[j]), None);
    }

    #[test]
    fn a_name_list_gives_back_each_name() {
        let mut list = NameList::default();
        for n in ["a", "", "ç名", "a"] {
            list.push(n);
        }
        assert_eq!(list.iter().collect::<Vec<_>>(), ["a", "", "ç名", "a"]);
        assert!(list.is(2, "ç名") && !list.is(1, "a"));
        assert!(list.equals(["a", "", "ç名", "a"].into_iter()));
        assert!(!list.equals(["a", "", "ç名", "b"].into_iter()));
        assert!(!list.equals(["a", "", "ç名"].into_iter()));
        assert_eq!(list.len(), 4);
    }

    #[test]
    fn first_of_a_repeated_name_wins() {
        let names = ["a", "b", "a"];
        let index = TaskIndex::of(&names);
        assert_eq!(index.get("a", |j| names[j]), Some(0));
        assert_eq!(index.get("b", |j| names[j]), Some(1));
    }
}
