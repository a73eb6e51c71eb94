//! dremioorch beside dagrs 0.9 on the same DAG shapes, in one process.
//! Run from the repository root (about a minute and a half on 2 cores):
//! `cargo run --release --manifest-path benches/dagrs/Cargo.toml`
//! (a crate of its own, so dagrs stays out of the library's builds).
//!
//! Shapes of `n` no-op tasks (default 10,000; append `-- 1000` to the
//! command, or set DORCH_DAGRS_N=1000): chain (each task depends on the previous
//! one), fan-out (one root, every other task depends on it) and layered
//! (layers of 100 tasks; task j of a layer depends on tasks j and
//! (7j + 3) mod 100 of the previous layer: about 2n edges).
//!
//! Engines, measured alternately (dremioorch 1 worker, dremioorch 2
//! workers, dagrs multi-thread, dagrs current-thread, then again) for
//! DORCH_DAGRS_REPS repetitions (default 7), each repetition on a freshly
//! built graph:
//! - dremioorch: `Pipeline::with_backend(name, Arc::new(MemoryBackend::new()))`,
//!   `set_max_workers(1)` or `(2)`, then `run()`: the whole run, both
//!   save_run calls and the status updates of every task included.
//! - dagrs: `Graph` of `DefaultNode`s, run by `async_start()` inside a Tokio
//!   runtime made by `Runtime::new()` (multi-threaded, one worker thread a
//!   core), which is how dagrs' examples run (`#[tokio::main]`) ("dagrs
//!   mt"), and in a current-thread runtime (`Builder::new_current_thread()`,
//!   one thread, like dremioorch's 1 worker: "dagrs ct"). dagrs
//!   spawns every node of the graph as a Tokio task at once and orders them
//!   only through the channels of their edges, so each node's action waits
//!   for one message from each upstream node and then sends one to each
//!   downstream node (the idiom of dagrs' `compute_dag` example); an action
//!   that ignores its channels would run regardless of its dependencies.
//!
//! Printed: run time and graph-build time per task (median and best of the
//! repetitions, nanoseconds); build is excluded from the run time, and so
//! is dropping the graph. Build means adding the tasks and their edges
//! (dremioorch: `add_task` + `add_dependency` for each edge; dagrs:
//! `DefaultNode::with_action` + `add_node` for each task, one `add_edge` for
//! each upstream node with all its downstream nodes, `set_env`).
//!
//! At the end, when valgrind is installed, the bench re-executes itself
//! under `valgrind --tool=callgrind` (argument `--callgrind-child N SHAPE`;
//! the child builds and runs one pipeline exactly like
//! benches/chain_once.rs) and prints dremioorch's instructions per task for
//! each shape: (instructions of an N-task build+run minus those of a 1-task
//! one) / (N - 1), N = DORCH_CALLGRIND_N (default 10,000, as in
//! benches/callgrind.sh). DORCH_CALLGRIND_N=0 skips it.

use dagrs::async_trait::async_trait;
use dagrs::tokio::runtime::{Builder, Runtime};
use dagrs::{
    Action, Content, DefaultNode, EnvVar, Graph, InChannels, Node, NodeTable, OutChannels, Output,
};
use dremioorch::{MemoryBackend, Pipeline, RunStatus, Task};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Shape {
    Chain,
    FanOut,
    Layered,
}

const SHAPES: [Shape; 3] = [Shape::Chain, Shape::FanOut, Shape::Layered];

/// The engines, in the order they are measured within a repetition.
const ENGINES: [&str; 4] = ["dremioorch w1", "dremioorch w2", "dagrs mt", "dagrs ct"];

/// Tasks a layer of the layered shape.
const WIDTH: usize = 100;

impl Shape {
    fn label(self) -> &'static str {
        match self {
            Shape::Chain => "chain",
            Shape::FanOut => "fan-out",
            Shape::Layered => "layered",
        }
    }

    fn parse(s: &str) -> Shape {
        match s {
            "chain" => Shape::Chain,
            "fan-out" => Shape::FanOut,
            "layered" => Shape::Layered,
            _ => panic!("unknown shape {s}"),
        }
    }

    /// The upstream tasks of task `i` (without allocating: the callgrind
    /// child counts instructions).
    fn upstream(self, i: usize) -> impl Iterator<Item = usize> {
        let (ups, k) = match self {
            Shape::Chain if i > 0 => ([i - 1, 0], 1),
            Shape::FanOut if i > 0 => ([0, 0], 1),
            Shape::Layered if i >= WIDTH => {
                let (layer, j) = (i / WIDTH, i % WIDTH);
                let prev = (layer - 1) * WIDTH;
                // (7j + 3) - j = 6j + 3 is odd: never a multiple of 100.
                ([prev + j, prev + (7 * j + 3) % WIDTH], 2)
            }
            _ => ([0, 0], 0),
        };
        ups.into_iter().take(k)
    }

    /// Edges (upstream, downstream), grouped by downstream task.
    fn edges(self, n: usize) -> Vec<(usize, usize)> {
        (0..n)
            .flat_map(|i| self.upstream(i).map(move |u| (u, i)))
            .collect()
    }
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("task_{i:05}")).collect()
}

fn dorch_build(names: &[String], edges: &[(usize, usize)], workers: usize) -> Pipeline {
    let mut p = Pipeline::with_backend(
        format!("bench_{}", names.len()),
        Arc::new(MemoryBackend::new()),
    )
    .unwrap();
    p.set_max_workers(workers).unwrap();
    for name in names {
        p.add_task(Task::new(name.clone(), |_| Ok(()))).unwrap();
    }
    for &(u, d) in edges {
        p.add_dependency(&names[u], &names[d]).unwrap();
    }
    p
}

/// (build seconds, run seconds) of one dremioorch run.
fn dorch_once(names: &[String], edges: &[(usize, usize)], workers: usize) -> (f64, f64) {
    let t = Instant::now();
    let p = dorch_build(names, edges, workers);
    let build = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let r = p.run().unwrap();
    let run = t.elapsed().as_secs_f64();
    assert_eq!(r.status(), RunStatus::Success);
    drop(r);
    drop(p);
    (build, run)
}

/// A dagrs no-op that keeps to its dependencies: one message from each
/// upstream node in, one to each downstream node out.
struct Step;

#[async_trait]
impl Action for Step {
    async fn run(
        &self,
        input: &mut InChannels,
        output: &mut OutChannels,
        _: Arc<EnvVar>,
    ) -> Output {
        for r in input.map(|r| r.is_ok()).await {
            assert!(r, "upstream message lost");
        }
        for r in output.broadcast(Content::new(())).await {
            r.expect("downstream send");
        }
        Output::empty()
    }
}

fn dagrs_build(names: &[String], edges: &[(usize, usize)]) -> Graph {
    let mut table = NodeTable::new();
    let nodes: Vec<DefaultNode> = names
        .iter()
        .map(|name| DefaultNode::with_action(name.clone(), Step, &mut table))
        .collect();
    let ids: Vec<_> = nodes.iter().map(|node| node.id()).collect();
    let mut g = Graph::new();
    for node in nodes {
        g.add_node(node).unwrap();
    }
    let mut downstream = vec![Vec::new(); names.len()];
    for &(u, d) in edges {
        downstream[u].push(ids[d]);
    }
    for (u, downs) in downstream.into_iter().enumerate() {
        if !downs.is_empty() {
            g.add_edge(ids[u], downs).unwrap();
        }
    }
    g.set_env(EnvVar::new(table));
    g
}

/// (build seconds, run seconds) of one dagrs run.
fn dagrs_once(rt: &Runtime, names: &[String], edges: &[(usize, usize)]) -> (f64, f64) {
    let t = Instant::now();
    let mut g = dagrs_build(names, edges);
    let build = t.elapsed().as_secs_f64();
    let t = Instant::now();
    rt.block_on(g.async_start()).unwrap();
    let run = t.elapsed().as_secs_f64();
    drop(g);
    (build, run)
}

/// Median and best of `v`.
fn median_best(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (v[v.len() / 2], v[0])
}

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key).map_or(default, |v| v.parse().expect(key))
}

/// The callgrind child: one build+run, exactly like benches/chain_once.rs.
fn callgrind_child(n: usize, shape: Shape) {
    let mut p = Pipeline::with_backend("chain_once", Arc::new(MemoryBackend::new())).unwrap();
    let names = names(n);
    for name in &names {
        p.add_task(Task::new(name.clone(), |_| Ok(()))).unwrap();
    }
    for i in 1..n {
        for u in shape.upstream(i) {
            p.add_dependency(&names[u], &names[i]).unwrap();
        }
    }
    let r = p.run().unwrap();
    assert_eq!(r.status(), RunStatus::Success);
}

/// Instructions of one callgrind child, or None when valgrind fails.
fn instructions(n: usize, shape: Shape) -> Option<u64> {
    let exe = std::env::current_exe().ok()?;
    let out = std::env::temp_dir().join(format!(
        "dorch-callgrind-{}-{n}-{}.out",
        std::process::id(),
        shape.label()
    ));
    let status = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(&exe)
        .args(["--callgrind-child", &n.to_string(), shape.label()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    let text = std::fs::read_to_string(&out).ok();
    let _ = std::fs::remove_file(&out);
    if !status.success() {
        return None;
    }
    text?
        .lines()
        .find_map(|l| l.strip_prefix("summary: "))
        .and_then(|s| s.trim().parse().ok())
}

fn callgrind_table() {
    let n = env_usize("DORCH_CALLGRIND_N", 10_000);
    if n == 0 {
        return;
    }
    println!();
    let found = Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        println!("instructions per task: skipped (valgrind is not installed)");
        return;
    }
    println!(
        "dremioorch instructions per task under callgrind (memory backend, 1 worker, \
         build+run of {n} tasks minus 1 task)"
    );
    println!("{:<8} {:>8} {:>18}", "shape", "tasks", "instructions/task");
    for shape in SHAPES {
        match (instructions(1, shape), instructions(n, shape)) {
            (Some(base), Some(full)) => {
                let per = full.saturating_sub(base) / (n as u64 - 1);
                println!("{:<8} {n:>8} {per:>18}", shape.label());
            }
            _ => println!("{:<8} {n:>8} {:>18}", shape.label(), "valgrind failed"),
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--callgrind-child") {
        let n = args[1].parse().expect("tasks");
        callgrind_child(n, Shape::parse(&args[2]));
        return;
    }
    let n = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or_else(|| env_usize("DORCH_DAGRS_N", 10_000));
    let reps = env_usize("DORCH_DAGRS_REPS", 7);
    let rt = Runtime::new().unwrap();
    let rt1 = Builder::new_current_thread().enable_all().build().unwrap();
    let threads = std::thread::available_parallelism().map_or(1, |p| p.get());

    println!(
        "dremioorch vs dagrs 0.9: {n} no-op tasks, {reps} alternating repetitions, \
         ns per task (median / best)"
    );
    println!(
        "dremioorch w1/w2: memory backend, max_workers 1/2; dagrs mt: Runtime::new() \
         (multi-thread, {threads} worker threads); dagrs ct: current-thread runtime"
    );
    println!(
        "{:<8} {:<14} {:>7} {:>12} {:>12} {:>12} {:>12}",
        "shape", "engine", "edges", "run med", "run best", "build med", "build best"
    );
    for shape in SHAPES {
        let names = names(n);
        let edges = shape.edges(n);
        // Engines (see ENGINES) x (build, run).
        let mut build = vec![Vec::new(); ENGINES.len()];
        let mut run = vec![Vec::new(); ENGINES.len()];
        for _ in 0..reps {
            for e in 0..ENGINES.len() {
                let (b, r) = match e {
                    0 => dorch_once(&names, &edges, 1),
                    1 => dorch_once(&names, &edges, 2),
                    2 => dagrs_once(&rt, &names, &edges),
                    _ => dagrs_once(&rt1, &names, &edges),
                };
                build[e].push(b * 1e9 / n as f64);
                run[e].push(r * 1e9 / n as f64);
            }
        }
        for (e, engine) in ENGINES.iter().enumerate() {
            let (rm, rb) = median_best(&mut run[e]);
            let (bm, bb) = median_best(&mut build[e]);
            println!(
                "{:<8} {engine:<14} {:>7} {rm:>12.0} {rb:>12.0} {bm:>12.0} {bb:>12.0}",
                shape.label(),
                edges.len()
            );
        }
    }
    callgrind_table();
}
