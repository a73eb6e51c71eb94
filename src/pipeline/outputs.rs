//! The outputs of a run's tasks: each set at most once, by the worker of a
//! task that succeeds with one, and read by the tasks downstream.
//!
//! Most pipelines pass nothing from task to task, so the per-task cells are
//! made only when the first output is set: a run without outputs keeps no
//! memory per task for them (a cell is 32 bytes, about a tenth of what a
//! very large run keeps per task).

use std::sync::OnceLock;

pub(crate) struct Outputs {
    len: usize,
    cells: OnceLock<Box<[OnceLock<Vec<u8>>]>>,
}

impl Outputs {
    /// No outputs yet, for tasks `0..len`.
    pub(crate) fn new(len: usize) -> Self {
        Outputs {
            len,
            cells: OnceLock::new(),
        }
    }

    /// Task `i`'s output, if it has one.
    pub(crate) fn get(&self, i: usize) -> Option<&Vec<u8>> {
        self.cells.get()?.get(i)?.get()
    }

    /// Gives task `i` the output `out`, unless it has one already (the
    /// first output stays).
    pub(crate) fn set(&self, i: usize, out: Vec<u8>) {
        let cells = self
            .cells
            .get_or_init(|| (0..self.len).map(|_| OnceLock::new()).collect());
        let _ = cells[i].set(out);
    }

    /// The outputs set, with their task numbers, in task order.
    pub(crate) fn into_set(self) -> impl Iterator<Item = (usize, Vec<u8>)> {
        let cells = self.cells.into_inner().unwrap_or_default();
        cells
            .into_vec()
            .into_iter()
            .enumerate()
            .filter_map(|(i, c)| c.into_inner().map(|o| (i, o)))
    }
}

#[cfg(test)]
mod tests {
    use super::Outputs;

    #[test]
    fn cells_appear_with_the_first_output_and_keep_the_first_value() {
        let o = Outputs::new(3);
        assert!(o.cells.get().is_none());
        assert_eq!(o.get(1), None);
        assert_eq!(o.get(7), None, "past the end: no output, no panic");
        o.set(1, b"one".to_vec());
        o.set(1, b"again".to_vec());
        o.set(2, Vec::new());
        assert_eq!(o.get(0), None);
        assert_eq!(o.get(1).map(Vec::as_slice), Some(&b"one"[..]));
        assert_eq!(
            o.get(2).map(Vec::as_slice),
            Some(&b""[..]),
            "empty is an output"
        );
        let set: Vec<(usize, Vec<u8>)> = o.into_set().collect();
        assert_eq!(set, vec![(1, b"one".to_vec()), (2, Vec::new())]);
        assert_eq!(Outputs::new(4).into_set().count(), 0);
    }
}
