//! The dependency graph: edges by task index, ordering and cycle reporting.

use crate::error::{Error, ErrorKind, Result};
use std::ops::Deref;

/// A task's neighbours in 16 bytes, two directions a task: up to two kept
/// inline (a chain's tasks have one each way, a tree's one and two), more
/// in a vector of their own. `smallvec`'s smallest layout takes 24.
#[derive(Clone, Debug)]
pub(crate) enum Adjacent {
    Inline {
        len: u8,
        items: [u32; 2],
    },
    // Boxed so that the enum stays 16 bytes; the few tasks with more than
    // two neighbours pay the indirection.
    #[allow(clippy::box_collection)]
    Heap(Box<Vec<u32>>),
}

impl Default for Adjacent {
    fn default() -> Self {
        Adjacent::Inline {
            len: 0,
            items: [0; 2],
        }
    }
}

impl Adjacent {
    pub(crate) fn push(&mut self, task: u32) {
        match self {
            Adjacent::Inline { len, items } if usize::from(*len) < items.len() => {
                items[usize::from(*len)] = task;
                *len += 1;
            }
            Adjacent::Inline { items, .. } => {
                let mut all = Vec::with_capacity(4);
                all.extend_from_slice(items);
                all.push(task);
                *self = Adjacent::Heap(Box::new(all));
            }
            Adjacent::Heap(all) => all.push(task),
        }
    }
}

impl Deref for Adjacent {
    type Target = [u32];

    fn deref(&self) -> &[u32] {
        match self {
            Adjacent::Inline { len, items } => &items[..usize::from(*len)],
            Adjacent::Heap(all) => all,
        }
    }
}

impl<'a> IntoIterator for &'a Adjacent {
    type Item = &'a u32;
    type IntoIter = std::slice::Iter<'a, u32>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[derive(Default, Clone)]
pub(crate) struct Dag {
    pub(crate) upstream: Vec<Adjacent>,
    pub(crate) downstream: Vec<Adjacent>,
}

impl Dag {
    pub(crate) fn add_node(&mut self) {
        self.upstream.push(Adjacent::default());
        self.downstream.push(Adjacent::default());
    }

    /// Adds `up -> down`; adding the same edge twice is a no-op.
    pub(crate) fn add_edge(&mut self, up: usize, down: usize) {
        // The duplicate check scans the shorter of the two lists: a fan-out's
        // root and a fan-in's sink have long lists, their neighbours short
        // ones, so building either shape stays linear.
        let (up32, down32) = (up as u32, down as u32);
        let (ups, downs) = (&self.upstream[down], &self.downstream[up]);
        let present = if downs.len() <= ups.len() {
            downs.contains(&down32)
        } else {
            ups.contains(&up32)
        };
        if !present {
            self.downstream[up].push(down32);
            self.upstream[down].push(up32);
        }
    }

    /// A topological order, or a `Cycle` error naming one cycle's tasks in order.
    pub(crate) fn check_acyclic(&self, names: &[&str]) -> Result<()> {
        let n = self.upstream.len();
        let mut indeg: Vec<usize> = self.upstream.iter().map(|u| u.len()).collect();
        let mut stack: Vec<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
        let mut seen = 0;
        while let Some(i) = stack.pop() {
            seen += 1;
            for &d in &self.downstream[i] {
                let d = d as usize;
                indeg[d] -= 1;
                if indeg[d] == 0 {
                    stack.push(d);
                }
            }
        }
        if seen == n {
            return Ok(());
        }
        // Every task left over has a left-over upstream task, so walking
        // upstream from any of them must come back to a task already visited.
        let left = |i: usize| indeg[i] > 0;
        let start = (0..n).find(|&i| left(i)).expect("a task is left over");
        let mut pos = vec![usize::MAX; n];
        let mut path = Vec::new();
        let mut cur = start;
        while pos[cur] == usize::MAX {
            pos[cur] = path.len();
            path.push(cur);
            cur = self.upstream[cur]
                .iter()
                .map(|&u| u as usize)
                .find(|&u| left(u))
                .expect("a left-over task has a left-over upstream task");
        }
        let mut cycle: Vec<usize> = path[pos[cur]..].to_vec();
        cycle.reverse(); // walked upstream; report in dependency order
        let mut text: Vec<&str> = cycle.iter().map(|&i| names[i]).collect();
        text.push(names[cycle[0]]);
        Err(Error::new(
            ErrorKind::Cycle,
            format!("pipeline has a cycle: {}", text.join(" -> ")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dag(n: usize, edges: &[(usize, usize)]) -> Dag {
        let mut d = Dag::default();
        for _ in 0..n {
            d.add_node();
        }
        for &(a, b) in edges {
            d.add_edge(a, b);
        }
        d
    }

    #[test]
    fn neighbours_keep_their_order_inline_and_beyond() {
        assert_eq!(std::mem::size_of::<Adjacent>(), 16);
        let mut a = Adjacent::default();
        assert!(a.is_empty());
        for k in 0..5u32 {
            a.push(10 + k);
            let want: Vec<u32> = (10..=10 + k).collect();
            assert_eq!(&a[..], &want[..]);
            assert_eq!(matches!(a, Adjacent::Inline { .. }), k < 2);
        }
        assert_eq!((&a).into_iter().copied().sum::<u32>(), 60);
    }

    #[test]
    fn names_the_tasks_on_the_cycle_only() {
        // x -> a -> b -> c -> a, c -> y: the cycle is a, b, c.
        let names = ["x", "a", "b", "c", "y"];
        let d = dag(5, &[(0, 1), (1, 2), (2, 3), (3, 1), (3, 4)]);
        let e = d.check_acyclic(&names).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Cycle);
        let msg = e.message();
        let cyc = msg.split(": ").nth(1).unwrap();
        let mut parts: Vec<&str> = cyc.split(" -> ").collect();
        assert_eq!(parts.first(), parts.last(), "{msg}");
        parts.pop();
        parts.sort();
        assert_eq!(parts, ["a", "b", "c"], "{msg}");
    }

    #[test]
    fn duplicate_edges_are_ignored_whichever_list_is_shorter() {
        // Fan-out: the root's downstream list is the long one.
        let mut d = dag(4, &[(0, 1), (0, 2), (0, 3), (0, 2)]);
        assert_eq!(&d.downstream[0][..], [1, 2, 3]);
        assert_eq!(&d.upstream[2][..], [0]);
        // Fan-in: the sink's upstream list is the long one.
        d.add_edge(1, 3);
        d.add_edge(2, 3);
        d.add_edge(1, 3);
        assert_eq!(&d.upstream[3][..], [0, 1, 2]);
        assert_eq!(&d.downstream[1][..], [3]);
    }

    #[test]
    fn self_loop_is_a_cycle() {
        let e = dag(1, &[(0, 0)]).check_acyclic(&["solo"]).unwrap_err();
        assert_eq!(e.message(), "pipeline has a cycle: solo -> solo");
    }

    #[test]
    fn acyclic_graphs_pass() {
        assert!(dag(4, &[(0, 1), (0, 2), (1, 3), (2, 3)])
            .check_acyclic(&["a", "b", "c", "d"])
            .is_ok());
        assert!(dag(0, &[]).check_acyclic(&[]).is_ok());
    }
}
