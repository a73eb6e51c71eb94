//! A run as JSON: dremioframe's run object, keys in its order, plus our
//! task detail. What `dremioorch runs list/show --json` print and the web
//! UI's `/api/runs` and `/api/runs/{id}` answer.

use crate::{PipelineRun, TaskDetail};
use serde::Serialize;
use std::collections::BTreeMap;

/// A run as dremioframe's `/api/runs` and `asdict(PipelineRun)` write it.
#[derive(Debug, Serialize)]
pub(crate) struct RunJson<'a> {
    pipeline_name: &'a str,
    run_id: &'a str,
    start_time: f64,
    status: &'static str,
    end_time: Option<f64>,
    tasks: BTreeMap<&'a str, &'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    task_details: Option<Vec<DetailJson<'a>>>,
}

/// One task's detail.
#[derive(Debug, Serialize)]
pub(crate) struct DetailJson<'a> {
    name: &'a str,
    status: &'static str,
    attempts: u32,
    start_time: Option<f64>,
    end_time: Option<f64>,
    error: Option<&'a str>,
}

impl<'a> RunJson<'a> {
    pub(crate) fn new(run: &'a PipelineRun) -> RunJson<'a> {
        RunJson {
            pipeline_name: &run.pipeline_name,
            run_id: &run.run_id,
            start_time: run.start_time,
            status: run.status.as_str(),
            end_time: run.end_time,
            tasks: run
                .tasks
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            task_details: None,
        }
    }

    pub(crate) fn with_details(mut self, details: &'a [TaskDetail]) -> RunJson<'a> {
        self.task_details = Some(
            details
                .iter()
                .map(|d| DetailJson {
                    name: &d.name,
                    status: d.status.as_str(),
                    attempts: d.attempts,
                    start_time: d.start_time,
                    end_time: d.end_time,
                    error: d.error.as_deref(),
                })
                .collect(),
        );
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RunStatus, TaskStatus};

    #[test]
    fn keys_follow_dremioframe() {
        let mut run = PipelineRun {
            pipeline_name: "p".into(),
            run_id: "r".into(),
            start_time: 1.5,
            end_time: None,
            status: RunStatus::Running,
            tasks: BTreeMap::new(),
        };
        run.tasks.insert("a".into(), TaskStatus::Pending);
        let text = serde_json::to_string(&RunJson::new(&run)).unwrap();
        assert_eq!(
            text,
            r#"{"pipeline_name":"p","run_id":"r","start_time":1.5,"status":"RUNNING","end_time":null,"tasks":{"a":"PENDING"}}"#
        );
        let details = [TaskDetail::bare("a", TaskStatus::Pending)];
        let v: serde_json::Value =
            serde_json::to_value(RunJson::new(&run).with_details(&details)).unwrap();
        assert_eq!(
            v["task_details"][0],
            serde_json::json!({"name": "a", "status": "PENDING", "attempts": 0,
                               "start_time": null, "end_time": null, "error": null})
        );
    }
}
