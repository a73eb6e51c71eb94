//! What the web UI reads from a history beyond dremioframe's four calls:
//! the DAG each run ran ([`RunDag`]) and filtered, paged run listings
//! ([`RunQuery`]).

use crate::model::{PipelineRun, RunStatus};

/// The shape of the pipeline a run ran: its task names and dependency
/// edges `(upstream, downstream)`, stored once per distinct DAG so a
/// pipeline that changed keeps its older runs drawable.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunDag {
    /// Task names, in the pipeline's order.
    pub tasks: Vec<String>,
    /// Dependency edges, `(upstream, downstream)`.
    pub edges: Vec<(String, String)>,
}

impl RunDag {
    /// The tasks as a JSON array text.
    pub fn tasks_json(&self) -> String {
        // Serialized directly (not through serde_json::Value, which copies
        // every name first): the same compact text.
        serde_json::to_string(&self.tasks).expect("strings serialize")
    }

    /// The edges as a JSON array of `[up, down]` pairs.
    pub fn edges_json(&self) -> String {
        serde_json::to_string(&self.edges).expect("strings serialize")
    }

    /// A DAG read back from [`tasks_json`](Self::tasks_json) and
    /// [`edges_json`](Self::edges_json) texts; `None` when they are not.
    pub fn from_json(tasks: &str, edges: &str) -> Option<RunDag> {
        let tasks: Vec<String> = serde_json::from_str::<serde_json::Value>(tasks)
            .ok()?
            .as_array()?
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()?;
        let edges = serde_json::from_str::<serde_json::Value>(edges)
            .ok()?
            .as_array()?
            .iter()
            .map(|pair| {
                let p = pair.as_array()?;
                match p.as_slice() {
                    [a, b] => Some((a.as_str()?.to_string(), b.as_str()?.to_string())),
                    _ => None,
                }
            })
            .collect::<Option<_>>()?;
        Some(RunDag { tasks, edges })
    }

    /// A stable hex key of this DAG's content (the first 128 bits of the
    /// SHA-256 of its JSON): equal DAGs share one stored row.
    pub fn hash_key(&self) -> String {
        key_of(&self.tasks_json(), &self.edges_json())
    }
}

fn key_of(tasks_json: &str, edges_json: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(tasks_json)
        .chain_update("\n")
        .chain_update(edges_json)
        .finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// A DAG as a SQL backend stores it: its key and its two JSON texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagTexts {
    /// [`RunDag::hash_key`].
    pub key: String,
    /// [`RunDag::tasks_json`].
    pub tasks_json: String,
    /// [`RunDag::edges_json`].
    pub edges_json: String,
}

impl DagTexts {
    /// The texts of `dag`, each JSON text serialized once.
    pub fn of(dag: &RunDag) -> Self {
        Self::from_json(dag.tasks_json(), dag.edges_json())
    }

    /// The texts with the key of `tasks_json` and `edges_json`.
    fn from_json(tasks_json: String, edges_json: String) -> Self {
        DagTexts {
            key: key_of(&tasks_json, &edges_json),
            tasks_json,
            edges_json,
        }
    }
}

/// Task names end to end in one string (one allocation, not one a name),
/// and edges `(upstream, downstream)` by task index.
#[derive(Debug, Default)]
pub(crate) struct Numbered {
    names: crate::pipeline::NameList,
    edges: Vec<(u32, u32)>,
}

impl Numbered {
    /// Tasks `names` with edges by index in them.
    pub(crate) fn new<'n>(
        names: impl ExactSizeIterator<Item = &'n str> + Clone,
        edges: Vec<(u32, u32)>,
    ) -> Self {
        // Sized up front: grown by doubling, a million names' text would
        // keep a third of its size unused.
        let bytes = names.clone().map(str::len).sum();
        let mut list = crate::pipeline::NameList::with_capacity(names.len(), bytes);
        for n in names {
            list.push(n);
        }
        Numbered { names: list, edges }
    }

    /// Task `i`'s name.
    pub(crate) fn name(&self, i: usize) -> &str {
        self.names.name(i)
    }

    /// The task names, in order.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> + Clone {
        self.names.iter()
    }

    /// The edges, by task index.
    pub(crate) fn edges(&self) -> &[(u32, u32)] {
        &self.edges
    }

    /// The [`RunDag`] it stands for.
    pub(crate) fn to_run_dag(&self) -> RunDag {
        let name = |i: u32| self.name(i as usize).to_string();
        RunDag {
            tasks: self.names().map(str::to_string).collect(),
            edges: self
                .edges
                .iter()
                .map(|&(a, b)| (name(a), name(b)))
                .collect(),
        }
    }
}

/// A [`RunDag`] shared by the runs of an unchanged pipeline: what runs hand
/// to [`Backend::save_shared_dag`](crate::Backend::save_shared_dag), so a
/// backend can keep the DAG itself or its texts, computed at most once
/// however many runs store it.
///
/// A pipeline's DAG is kept as its task names, end to end in one string,
/// and edges by task number (about 30 bytes a task on a chain instead of
/// 170: each name of a [`RunDag`] is an allocation of its own, and each
/// edge holds two more copies of names); the [`RunDag`] is built only for
/// a backend that asks for it.
#[derive(Debug, Default)]
pub struct SharedDag {
    /// Task names and edges by number, when built from a pipeline.
    numbered: Option<Numbered>,
    dag: std::sync::OnceLock<RunDag>,
    texts: std::sync::OnceLock<DagTexts>,
}

impl SharedDag {
    /// Wraps `dag`; its texts are computed on first use.
    pub fn new(dag: RunDag) -> Self {
        SharedDag {
            numbered: None,
            dag: std::sync::OnceLock::from(dag),
            texts: std::sync::OnceLock::new(),
        }
    }

    /// A DAG kept as names and numbered edges.
    pub(crate) fn numbered(dag: Numbered) -> Self {
        SharedDag {
            numbered: Some(dag),
            dag: std::sync::OnceLock::new(),
            texts: std::sync::OnceLock::new(),
        }
    }

    /// The task names and the edges by index in them, when this DAG was
    /// built that way (a pipeline's): `None` for [`SharedDag::new`].
    pub(crate) fn as_numbered(&self) -> Option<&Numbered> {
        self.numbered.as_ref()
    }

    /// The DAG, built by the first caller.
    pub fn dag(&self) -> &RunDag {
        self.dag.get_or_init(|| {
            self.numbered
                .as_ref()
                .map(Numbered::to_run_dag)
                .unwrap_or_default()
        })
    }

    /// Its key and JSON texts, computed by the first caller.
    pub fn texts(&self) -> &DagTexts {
        self.texts.get_or_init(|| match &self.numbered {
            // The same texts as RunDag's, without building the RunDag.
            Some(n) => {
                let names: Vec<&str> = n.names().collect();
                let tasks_json = serde_json::to_string(&names).expect("strings serialize");
                let pairs: Vec<[&str; 2]> = n
                    .edges()
                    .iter()
                    .map(|&(a, b)| [names[a as usize], names[b as usize]])
                    .collect();
                let edges_json = serde_json::to_string(&pairs).expect("strings serialize");
                DagTexts::from_json(tasks_json, edges_json)
            }
            None => DagTexts::of(self.dag()),
        })
    }
}

/// A filtered page of runs, newest `start_time` first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunQuery {
    /// Only this pipeline's runs.
    pub pipeline: Option<String>,
    /// Only runs with this status.
    pub status: Option<RunStatus>,
    /// At most this many runs.
    pub limit: u32,
    /// Only runs that started strictly before this time (seconds since the
    /// Unix epoch): the `start_time` of the last run of the previous page.
    pub before: Option<f64>,
}

impl RunQuery {
    /// Whether `run` passes the filters (not the limit).
    pub fn matches(&self, run: &PipelineRun) -> bool {
        self.pipeline
            .as_deref()
            .is_none_or(|p| p == run.pipeline_name)
            && self.status.is_none_or(|s| s == run.status)
            && self.before.is_none_or(|b| run.start_time < b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dag_json_round_trips_and_hash_follows_content() {
        let d = RunDag {
            tasks: vec!["a".into(), "<b \"x\">".into()],
            edges: vec![("a".into(), "<b \"x\">".into())],
        };
        assert_eq!(
            RunDag::from_json(&d.tasks_json(), &d.edges_json()),
            Some(d.clone())
        );
        assert_eq!(d.hash_key(), d.clone().hash_key());
        assert_eq!(d.hash_key().len(), 32);
        let mut other = d.clone();
        other.edges.clear();
        assert_ne!(d.hash_key(), other.hash_key());
        assert_eq!(RunDag::from_json("[1]", "[]"), None);
        assert_eq!(RunDag::from_json("[]", "[[\"a\"]]"), None);
        assert_eq!(RunDag::from_json("not json", "[]"), None);
    }

    #[test]
    fn a_numbered_shared_dag_reads_as_the_run_dag_it_stands_for() {
        let names = ["a", "<b \"x\">", "ç"];
        let edges = vec![(0, 1), (0, 2), (1, 2)];
        let shared = SharedDag::numbered(Numbered::new(names.into_iter(), edges));
        let dag = RunDag {
            tasks: vec!["a".into(), "<b \"x\">".into(), "ç".into()],
            edges: vec![
                ("a".into(), "<b \"x\">".into()),
                ("a".into(), "ç".into()),
                ("<b \"x\">".into(), "ç".into()),
            ],
        };
        // Texts first: computed without building the RunDag.
        assert_eq!(shared.texts(), &DagTexts::of(&dag));
        assert_eq!(shared.dag(), &dag);
        let wrapped = SharedDag::new(dag.clone());
        assert!(wrapped.as_numbered().is_none());
        assert_eq!(wrapped.dag(), &dag);
        assert_eq!(wrapped.texts(), shared.texts());
    }

    #[test]
    fn dag_texts_are_the_json_values_compact_text() {
        let odd = [
            "plain",
            "a \"quoted\" \\ name",
            "tab\there\nnewline\u{1}\u{7f}",
            "é/ü 名前 🙂",
        ];
        let dag = RunDag {
            tasks: odd.iter().map(|s| s.to_string()).collect(),
            edges: odd
                .windows(2)
                .map(|w| (w[0].to_string(), w[1].to_string()))
                .collect(),
        };
        let tasks = serde_json::Value::from(dag.tasks.clone()).to_string();
        let pairs: Vec<serde_json::Value> = dag
            .edges
            .iter()
            .map(|(a, b)| serde_json::json!([a, b]))
            .collect();
        let edges = serde_json::Value::Array(pairs).to_string();
        assert_eq!(dag.tasks_json(), tasks);
        assert_eq!(dag.edges_json(), edges);
        assert_eq!(RunDag::default().tasks_json(), "[]");
        assert_eq!(RunDag::default().edges_json(), "[]");
    }

    #[test]
    fn query_filters() {
        let run = PipelineRun {
            pipeline_name: "p".into(),
            run_id: "r".into(),
            start_time: 10.0,
            end_time: None,
            status: RunStatus::Running,
            tasks: Default::default(),
        };
        let q = |pipeline: Option<&str>, status, before| RunQuery {
            pipeline: pipeline.map(str::to_string),
            status,
            limit: 1,
            before,
        };
        assert!(q(None, None, None).matches(&run));
        assert!(q(Some("p"), Some(RunStatus::Running), Some(10.5)).matches(&run));
        assert!(!q(Some("x"), None, None).matches(&run));
        assert!(!q(None, Some(RunStatus::Failed), None).matches(&run));
        assert!(!q(None, None, Some(10.0)).matches(&run), "before is strict");
    }
}
