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
    /// An index of `names`, the first occurrence of a name winning.
    pub(crate) fn of(all: &[&str]) -> Self {
        let mut index = TaskIndex {
            table: HashTable::with_capacity(all.len()),
        };
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn first_of_a_repeated_name_wins() {
        let names = ["a", "b", "a"];
        let index = TaskIndex::of(&names);
        assert_eq!(index.get("a", |j| names[j]), Some(0));
        assert_eq!(index.get("b", |j| names[j]), Some(1));
    }
}
