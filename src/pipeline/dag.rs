//! The dependency graph: edges by task index, ordering and cycle reporting.

use crate::error::{Error, ErrorKind, Result};
use smallvec::SmallVec;

/// A task's neighbours: most tasks have one to four, kept inline (24 bytes,
/// no allocation of their own).
pub(crate) type Adjacent = SmallVec<[u32; 4]>;

#[derive(Default, Clone)]
pub(crate) struct Dag {
    pub(crate) upstream: Vec<Adjacent>,
    pub(crate) downstream: Vec<Adjacent>,
}

impl Dag {
    pub(crate) fn add_node(&mut self) {
        self.upstream.push(Adjacent::new());
        self.downstream.push(Adjacent::new());
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
        assert_eq!(d.downstream[0].as_slice(), [1, 2, 3]);
        assert_eq!(d.upstream[2].as_slice(), [0]);
        // Fan-in: the sink's upstream list is the long one.
        d.add_edge(1, 3);
        d.add_edge(2, 3);
        d.add_edge(1, 3);
        assert_eq!(d.upstream[3].as_slice(), [0, 1, 2]);
        assert_eq!(d.downstream[1].as_slice(), [3]);
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
