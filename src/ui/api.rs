//! The JSON API: dremioframe's endpoints with its JSON (`/api/runs`,
//! `/api/pipelines`, trigger) and ours (filters and paging, run detail,
//! schedules).

use super::Shared;
use crate::error::{Error, ErrorKind};
use crate::history::{RunDag, RunQuery};
use crate::model::{PipelineRun, RunStatus, StoredOutput, TaskDetail};
use crate::run_json::RunJson;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// How many runs `/api/runs` returns without `limit` (dremioframe's 50).
const DEFAULT_LIMIT: u32 = 50;
/// The largest `limit` accepted.
const MAX_LIMIT: u32 = 1000;
/// Bytes of each output shown in the run detail.
const PREVIEW_BYTES: usize = 4096;

/// The run detail: the run object plus task details, outputs and DAG.
#[derive(Serialize)]
struct RunDetailJson<'a> {
    /// With its `task_details`.
    #[serde(flatten)]
    run: RunJson<'a>,
    outputs: BTreeMap<&'a str, OutputJson>,
    dag: Option<DagJson<'a>>,
}

#[derive(Serialize)]
struct OutputJson {
    size: u64,
    preview: String,
    truncated: bool,
}

#[derive(Serialize)]
struct DagJson<'a> {
    tasks: &'a [String],
    edges: Vec<[&'a str; 2]>,
}

/// A JSON response.
fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// `{"error": message}` with `status`.
pub(super) fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "error": message }).to_string(),
    )
        .into_response()
}

/// A backend error as a response: 404 for NotFound, 400 for bad input,
/// else 500.
fn failure(e: &Error) -> Response {
    let status = match e.kind() {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e.message())
}

/// Runs blocking backend work off the server's thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> crate::Result<T> + Send + 'static,
) -> crate::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(Error::backend(format!("ui: request failed: {e}"))))
}

/// The query of `GET /api/runs` from its parameters.
fn parse_query(params: &HashMap<String, String>) -> std::result::Result<RunQuery, String> {
    let mut q = RunQuery {
        limit: DEFAULT_LIMIT,
        ..RunQuery::default()
    };
    for (k, v) in params {
        match k.as_str() {
            "pipeline" if !v.is_empty() => q.pipeline = Some(v.clone()),
            "status" if !v.is_empty() => {
                q.status = Some(
                    v.parse::<RunStatus>()
                        .map_err(|e| e.message().to_string())?,
                )
            }
            "limit" if !v.is_empty() => {
                q.limit = v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| format!("limit must be 1..={MAX_LIMIT}, not {v:?}"))?
            }
            "before" if !v.is_empty() => {
                q.before = Some(
                    v.parse::<f64>()
                        .ok()
                        .filter(|b| b.is_finite())
                        .ok_or_else(|| {
                            format!("before must be seconds since the epoch, not {v:?}")
                        })?,
                )
            }
            _ => {}
        }
    }
    Ok(q)
}

/// `GET /api/runs[?pipeline=&status=&limit=&before=]`.
pub(super) async fn runs(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let query = match parse_query(&params) {
        Ok(q) => q,
        Err(msg) => return error(StatusCode::BAD_REQUEST, &msg),
    };
    let backend = shared.backend.clone();
    match blocking(move || backend.query_runs(&query)).await {
        Ok(runs) => {
            let out: Vec<RunJson<'_>> = runs.iter().map(RunJson::new).collect();
            json(StatusCode::OK, &out)
        }
        Err(e) => failure(&e),
    }
}

/// Everything the run detail shows, read in one blocking call.
struct Detail {
    run: PipelineRun,
    details: Vec<TaskDetail>,
    outputs: BTreeMap<String, StoredOutput>,
    dag: Option<RunDag>,
}

/// `Ok(None)` for what the backend does not keep.
fn optional<T>(r: crate::Result<T>) -> crate::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == ErrorKind::Unsupported => Ok(None),
        Err(e) => Err(e),
    }
}

/// `GET /api/runs/{run_id}`.
pub(super) async fn run(State(shared): State<Arc<Shared>>, Path(run_id): Path<String>) -> Response {
    let backend = shared.backend.clone();
    let read = blocking(move || {
        let Some(run) = backend.get_run(&run_id)? else {
            return Ok(None);
        };
        let details = optional(backend.get_task_details(&run_id))?.unwrap_or_else(|| {
            run.tasks
                .iter()
                .map(|(n, s)| TaskDetail::bare(n.clone(), *s))
                .collect()
        });
        let outputs = optional(backend.get_outputs(&run_id))?.unwrap_or_default();
        let dag = optional(backend.get_run_dag(&run_id))?.flatten();
        Ok(Some(Detail {
            run,
            details,
            outputs,
            dag,
        }))
    })
    .await;
    let d = match read {
        Ok(Some(d)) => d,
        Ok(None) => return error(StatusCode::NOT_FOUND, "run not found"),
        Err(e) => return failure(&e),
    };
    let body = RunDetailJson {
        run: RunJson::new(&d.run).with_details(&d.details),
        outputs: d
            .outputs
            .iter()
            .map(|(name, o)| (name.as_str(), output_json(o)))
            .collect(),
        dag: d.dag.as_ref().map(|g| DagJson {
            tasks: &g.tasks,
            edges: g
                .edges
                .iter()
                .map(|(a, b)| [a.as_str(), b.as_str()])
                .collect(),
        }),
    };
    json(StatusCode::OK, &body)
}

/// An output's size and the start of its text.
fn output_json(o: &StoredOutput) -> OutputJson {
    match o {
        StoredOutput::Stored(bytes) => {
            let head = &bytes[..bytes.len().min(PREVIEW_BYTES)];
            OutputJson {
                size: bytes.len() as u64,
                preview: String::from_utf8_lossy(head).into_owned(),
                truncated: bytes.len() > PREVIEW_BYTES,
            }
        }
        StoredOutput::NotStored(size) => OutputJson {
            size: *size,
            preview: String::new(),
            truncated: *size > 0,
        },
    }
}

/// `GET /api/pipelines[?detail=1]`: names (dremioframe's JSON), or
/// `[{"name", "runnable"}]` with `detail`.
pub(super) async fn pipelines(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let registered: BTreeSet<String> = shared.pipelines.read().keys().cloned().collect();
    let mut names: Vec<String> = registered.iter().cloned().collect();
    if shared.pipelines_from_history {
        let backend = shared.backend.clone();
        let recent = blocking(move || {
            backend.query_runs(&RunQuery {
                limit: MAX_LIMIT,
                ..RunQuery::default()
            })
        })
        .await;
        match recent {
            Ok(runs) => {
                let seen: BTreeSet<String> = runs.into_iter().map(|r| r.pipeline_name).collect();
                names = registered.union(&seen).cloned().collect();
            }
            Err(e) => return failure(&e),
        }
    }
    if params
        .get("detail")
        .is_some_and(|v| v == "1" || v == "true")
    {
        let out: Vec<serde_json::Value> = names
            .iter()
            .map(|n| serde_json::json!({ "name": n, "runnable": registered.contains(n) }))
            .collect();
        json(StatusCode::OK, &out)
    } else {
        json(StatusCode::OK, &names)
    }
}

/// dremioframe's answer to a trigger, keys in its order.
#[derive(Serialize)]
struct Triggered<'a> {
    status: &'static str,
    pipeline: &'a str,
}

/// `POST /api/pipelines/{name}/trigger`: starts a run of a registered
/// pipeline on a new thread.
pub(super) async fn trigger(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Response {
    let pipeline = shared.pipelines.read().get(&name).cloned();
    let Some(run) = pipeline else {
        return error(StatusCode::NOT_FOUND, "pipeline not found");
    };
    let started = std::thread::Builder::new()
        .name("dremioorch-ui-run".into())
        .spawn(move || run());
    match started {
        Ok(_) => json(
            StatusCode::ACCEPTED,
            &Triggered {
                status: "triggered",
                pipeline: &name,
            },
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// `GET /api/schedules`: the schedules recorded in the backend by
/// schedulers using it for claims (`[]` when it keeps none).
pub(super) async fn schedules(State(shared): State<Arc<Shared>>) -> Response {
    match blocking(move || schedules_json(&shared)).await {
        Ok(v) => json(StatusCode::OK, &v),
        Err(e) => failure(&e),
    }
}

/// The schedules shown on the Schedules page: `[{"name", "pipeline",
/// "spec", "timezone", "overlap", "last_fire", "next_fire"}]`, the shape
/// of `dremioorch schedules list --json`. A backend that keeps no
/// schedules (a custom one) has none to show.
pub(crate) fn schedules_json(shared: &Shared) -> crate::Result<serde_json::Value> {
    match shared.backend.list_schedules() {
        Ok(records) => Ok(crate::schedule::records_json(&records)),
        Err(e) if e.kind() == ErrorKind::Unsupported => Ok(serde_json::Value::Array(Vec::new())),
        Err(e) => Err(e),
    }
}
