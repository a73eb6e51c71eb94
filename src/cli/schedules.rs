//! `schedules list`: the schedules recorded in a backend by the schedulers
//! that use it as their claims backend.

use super::args::SchedulesListArgs;
use super::fail::Fail;
use super::json;
use super::table::{Paint, Table};
use super::text;
use super::when;
use crate::schedule::records_json;
use crate::Backend;

pub(crate) fn run(
    b: &dyn Backend,
    args: &SchedulesListArgs,
    paint: &Paint,
) -> Result<String, Fail> {
    let records = b
        .list_schedules()
        .map_err(|e| Fail::msg(format!("cannot list schedules: {}", e.message())))?;
    if args.json {
        return Ok(json::to_text(&records_json(&records)));
    }
    if records.is_empty() {
        return Ok("No schedules.\n".into());
    }
    let now = crate::now_seconds();
    let mut t = Table::new(&["NAME", "PIPELINE", "SCHEDULE", "LAST FIRE", "NEXT FIRE"]);
    for r in &records {
        let spec = match &r.timezone {
            Some(z) if z != "UTC" => format!("{} ({z})", r.spec),
            _ => r.spec.clone(),
        };
        t.push(vec![
            text::cell(&r.name, 40).into(),
            text::cell(&r.pipeline, 40).into(),
            text::cell(&spec, 60).into(),
            r.last_fire
                .map_or("never".into(), |t| when::ago(t, now))
                .into(),
            r.next_fire.map_or("none".into(), |t| until(t, now)).into(),
        ]);
    }
    Ok(t.render(paint))
}

/// When a future time `then` comes, seen from `now`: `in 42 s`, `in 3 min`...
/// (a time already past reads as `ago` does).
fn until(then: f64, now: f64) -> String {
    if then < now {
        return when::ago(then, now);
    }
    format!("in {}", when::duration(then - now))
}
