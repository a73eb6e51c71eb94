//! Schedules: cron and daylight saving on a fake clock, intervals in real
//! time, overlap policies, catch-up, claims shared by two schedulers, bad input.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use dremioorch::schedule::{FakeClock, Overlap, Schedule, Scheduler, Spec};
use dremioorch::{Backend, BackendRef, ErrorKind, MemoryBackend, Pipeline, ScheduleRecord, Task};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn ms(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .unwrap()
        .timestamp_millis()
}

fn local(t: i64, zone: Tz) -> String {
    DateTime::<Utc>::from_timestamp_millis(t)
        .unwrap()
        .with_timezone(&zone)
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

fn fires(spec: &Spec, from: i64, n: usize) -> Vec<i64> {
    let mut out = Vec::new();
    let mut t = from;
    for _ in 0..n {
        t = spec.next_after(t).expect("a next fire");
        out.push(t);
    }
    out
}

/// A pipeline with one task sleeping `sleep_ms`, recording in `backend`.
fn sleeper(name: &str, backend: &BackendRef, sleep_ms: u64) -> Arc<Pipeline> {
    let mut p = Pipeline::with_backend(name, backend.clone()).unwrap();
    p.add_task(Task::new("work", move |ctx| {
        ctx.sleep(Duration::from_millis(sleep_ms))?;
        Ok(())
    }))
    .unwrap();
    Arc::new(p)
}

fn run_count(backend: &BackendRef, pipeline: &str) -> usize {
    backend.list_runs(Some(pipeline), 100_000).unwrap().len()
}

/// Waits (up to 20 s) until `pipeline` has `n` finished runs.
fn wait_runs(backend: &BackendRef, pipeline: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let runs = backend.list_runs(Some(pipeline), 100_000).unwrap();
        let done = runs.iter().filter(|r| r.end_time.is_some()).count();
        if done >= n {
            return;
        }
        assert!(Instant::now() < deadline, "{pipeline}: {done} runs of {n}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn every_minute_across_both_transitions() {
    for (zone, spring, fall) in [
        (
            "Europe/Berlin",
            ms(2026, 3, 29, 0, 0),
            ms(2026, 10, 25, 0, 0),
        ),
        (
            "America/New_York",
            ms(2026, 3, 8, 6, 0),
            ms(2026, 11, 1, 5, 0),
        ),
    ] {
        let spec = Spec::cron("* * * * *", Some(zone)).unwrap();
        for start in [spring, fall] {
            // Three hours of minutes across the change: one fire per real minute.
            let got = fires(&spec, start, 180);
            for (i, t) in got.iter().enumerate() {
                assert_eq!(*t, start + 60_000 * (i as i64 + 1), "{zone}: fire {i}");
            }
        }
    }
}

#[test]
fn daily_0230_runs_once_on_both_change_days() {
    for (zone, spring_day, fall_day) in [
        ("Europe/Berlin", "2026-03-29", "2026-10-25"),
        ("America/New_York", "2026-03-08", "2026-11-01"),
    ] {
        let tz: Tz = zone.parse().unwrap();
        let spec = Spec::cron("30 2 * * *", Some(zone)).unwrap();
        for day in [spring_day, fall_day] {
            let d: chrono::NaiveDate = day.parse().unwrap();
            let from =
                d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis() - 2 * 86_400_000;
            let got = fires(&spec, from, 5);
            let on_day: Vec<String> = got
                .iter()
                .map(|t| local(*t, tz))
                .filter(|s| s.starts_with(day))
                .collect();
            assert_eq!(on_day.len(), 1, "{zone} {day}: {on_day:?}");
            // Fires on consecutive days, never twice a day.
            let days: Vec<String> = got
                .iter()
                .map(|t| local(*t, tz)[..10].to_string())
                .collect();
            let mut dedup = days.clone();
            dedup.dedup();
            assert_eq!(days, dedup, "{zone}: {days:?}");
        }
    }
}

#[test]
fn every_minute_on_a_fake_clock_across_spring_forward() {
    let start = ms(2026, 3, 29, 0, 30);
    let clock = FakeClock::new(start);
    let backend: BackendRef = Arc::new(MemoryBackend::new());
    let p = sleeper("sched_fake_minute", &backend, 0);
    let s = Scheduler::with_clock(None, Arc::new(clock.clone()));
    let cron = Spec::cron("* * * * *", Some("Europe/Berlin")).unwrap();
    // ALLOW: the test moves the clock as soon as a run is recorded, maybe
    // before its thread has counted itself out (SKIP would skip that fire).
    s.add("minutely", p, Schedule::new(cron).overlap(Overlap::Allow))
        .unwrap();
    s.start().unwrap();
    for i in 1..=90 {
        assert_eq!(
            s.next_fire("minutely").unwrap(),
            Some((start + 60_000 * i) as f64 / 1000.0)
        );
        clock.set(start + 60_000 * i);
        wait_runs(&backend, "sched_fake_minute", i as usize);
    }
    s.stop(false);
    assert_eq!(run_count(&backend, "sched_fake_minute"), 90);
}

#[test]
fn seconds_field() {
    let spec = Spec::cron("*/15 * * * * *", None).unwrap();
    let t0 = ms(2026, 1, 1, 0, 0) + 1_500;
    assert_eq!(
        fires(&spec, t0, 4),
        vec![
            t0 - 1_500 + 15_000,
            t0 - 1_500 + 30_000,
            t0 - 1_500 + 45_000,
            t0 - 1_500 + 60_000
        ]
    );
    // Five fields fire on whole minutes.
    let spec = Spec::cron("*/2 * * * *", Some("UTC")).unwrap();
    assert_eq!(fires(&spec, t0, 1), vec![t0 - 1_500 + 120_000]);
}

#[test]
fn intervals_align_to_the_epoch() {
    let spec = Spec::interval(Duration::from_millis(250)).unwrap();
    assert_eq!(spec.next_after(1_000), Some(1_250));
    assert_eq!(spec.next_after(1_001), Some(1_250));
    assert_eq!(spec.next_after(1_249), Some(1_250));
    assert_eq!(spec.fires_between(1_000, 2_000, 2), vec![1_750, 2_000]);
}

#[test]
fn interval_fires_in_real_time() {
    let backend: BackendRef = Arc::new(MemoryBackend::new());
    let p = sleeper("sched_interval_real", &backend, 0);
    let s = Scheduler::new(None);
    s.add(
        "fast",
        p,
        Schedule::new(Spec::interval(Duration::from_millis(200)).unwrap()),
    )
    .unwrap();
    let next = s.next_fire("fast").unwrap().unwrap();
    assert_eq!((next * 1000.0).round() as i64 % 200, 0);
    s.start().unwrap();
    std::thread::sleep(Duration::from_millis(1_500));
    s.stop(false);
    let n = run_count(&backend, "sched_interval_real");
    assert!(
        (4..=9).contains(&n),
        "{n} runs in 1.5 s of a 200 ms interval"
    );
    // Nothing fires after stop.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(run_count(&backend, "sched_interval_real"), n);
}

/// Runs `overlap` for 2 s with a 450 ms task every 150 ms; returns the
/// (start, end) of every run, in start order, and the skipped count.
fn overlap_runs(overlap: Overlap, pipeline: &str) -> (Vec<(f64, f64)>, u64) {
    let backend: BackendRef = Arc::new(MemoryBackend::new());
    let p = sleeper(pipeline, &backend, 450);
    let s = Scheduler::new(None);
    let spec = Spec::interval(Duration::from_millis(150)).unwrap();
    s.add("job", p, Schedule::new(spec).overlap(overlap))
        .unwrap();
    s.start().unwrap();
    std::thread::sleep(Duration::from_millis(2_000));
    s.stop(false);
    let skipped = s.skipped("job").unwrap();
    let mut runs: Vec<(f64, f64)> = backend
        .list_runs(Some(pipeline), 1000)
        .unwrap()
        .iter()
        .map(|r| (r.start_time, r.end_time.expect("finished")))
        .collect();
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    (runs, skipped)
}

fn overlapping(runs: &[(f64, f64)]) -> usize {
    runs.windows(2).filter(|w| w[1].0 < w[0].1).count()
}

#[test]
fn overlap_skip() {
    let (runs, skipped) = overlap_runs(Overlap::Skip, "sched_overlap_skip");
    assert_eq!(overlapping(&runs), 0, "{runs:?}");
    // A 450 ms task every 150 ms: each run skips the 2 fires during it.
    assert!((2..=5).contains(&runs.len()), "{} runs", runs.len());
    assert!(skipped >= 4, "skipped {skipped}");
    // Runs start on fire times, so there is a gap after each.
    for w in runs.windows(2) {
        assert!(w[1].0 - w[0].1 > 0.0);
    }
}

#[test]
fn overlap_buffer_one() {
    let (runs, skipped) = overlap_runs(Overlap::BufferOne, "sched_overlap_buffer");
    assert_eq!(overlapping(&runs), 0, "{runs:?}");
    // Back to back: the queued fire starts as soon as the run ends.
    assert!((3..=5).contains(&runs.len()), "{} runs", runs.len());
    for w in runs.windows(2) {
        assert!(w[1].0 - w[0].1 < 0.1, "gap {} s", w[1].0 - w[0].1);
    }
    assert!(skipped >= 2, "skipped {skipped}");
}

#[test]
fn overlap_allow() {
    let (runs, skipped) = overlap_runs(Overlap::Allow, "sched_overlap_allow");
    assert!(overlapping(&runs) >= 5, "{runs:?}");
    assert!((8..=15).contains(&runs.len()), "{} runs", runs.len());
    assert_eq!(skipped, 0);
}

#[test]
fn catch_up_is_bounded() {
    let now = ms(2026, 6, 1, 12, 0);
    for (max_catchup, want) in [(0u32, 0usize), (3, 3), (50, 10)] {
        let pipeline = format!("sched_catchup_{max_catchup}");
        let claims = Arc::new(MemoryBackend::new());
        // A scheduler last ran the schedule 10 minutes ago (10 missed fires).
        claims
            .save_schedule(&ScheduleRecord {
                name: "catchup".into(),
                pipeline: pipeline.clone(),
                spec: "* * * * *".into(),
                timezone: Some("UTC".into()),
                overlap: "skip".into(),
                last_fire: Some((now - 600_000) as f64 / 1000.0),
                next_fire: None,
                owner: "gone".into(),
                updated_at: 0.0,
            })
            .unwrap();
        let backend: BackendRef = Arc::new(MemoryBackend::new());
        let clock = FakeClock::new(now + 5_000);
        let s = Scheduler::with_clock(Some(claims.clone()), Arc::new(clock.clone()));
        let spec = Spec::cron("* * * * *", None).unwrap();
        let p = sleeper(&pipeline, &backend, 0);
        s.add("catchup", p, Schedule::new(spec).max_catchup(max_catchup))
            .unwrap();
        s.start().unwrap();
        wait_runs(&backend, &pipeline, want);
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            run_count(&backend, &pipeline),
            want,
            "max_catchup {max_catchup}"
        );
        // The record now names the newest fire run and the next one.
        let rec = claims.list_schedules().unwrap().remove(0);
        let expect_last = if want == 0 { now - 600_000 } else { now };
        assert_eq!(rec.last_fire, Some(expect_last as f64 / 1000.0));
        assert_eq!(rec.next_fire, Some((now + 60_000) as f64 / 1000.0));
        // A jump of 10 minutes while running: the current fire plus up to
        // max_catchup missed ones.
        clock.set(now + 600_000 + 5_000);
        let more = 1 + (max_catchup as usize).min(9);
        wait_runs(&backend, &pipeline, want + more);
        std::thread::sleep(Duration::from_millis(200));
        s.stop(false);
        assert_eq!(run_count(&backend, &pipeline), want + more);
    }
}

#[test]
fn two_schedulers_share_claims() {
    let claims: BackendRef = Arc::new(MemoryBackend::new());
    let backend: BackendRef = Arc::new(MemoryBackend::new());
    let spec = Spec::interval(Duration::from_millis(100)).unwrap();
    let a = Scheduler::new(Some(claims.clone()));
    let b = Scheduler::new(Some(claims.clone()));
    for s in [&a, &b] {
        let p = sleeper("sched_shared", &backend, 0);
        s.add("shared", p, Schedule::new(spec.clone())).unwrap();
        s.start().unwrap();
    }
    std::thread::sleep(Duration::from_millis(1_200));
    a.stop(false);
    b.stop(false);
    let mut starts: Vec<f64> = backend
        .list_runs(Some("sched_shared"), 1000)
        .unwrap()
        .iter()
        .map(|r| r.start_time)
        .collect();
    starts.sort_by(f64::total_cmp);
    assert!((8..=14).contains(&starts.len()), "{} runs", starts.len());
    for w in starts.windows(2) {
        assert!(w[1] - w[0] > 0.04, "two runs of one fire: {starts:?}");
    }
    let recs = claims.list_schedules().unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].spec, "every 100 ms");
    assert_eq!(recs[0].pipeline, "sched_shared");
}

#[test]
fn stop_cancels_running_runs() {
    let backend: BackendRef = Arc::new(MemoryBackend::new());
    let p = sleeper("sched_cancel", &backend, 10_000);
    let s = Scheduler::new(None);
    s.add(
        "long",
        p,
        Schedule::new(Spec::interval(Duration::from_millis(50)).unwrap()),
    )
    .unwrap();
    s.start().unwrap();
    wait_for_a_run(&backend, "sched_cancel");
    let t = Instant::now();
    s.stop(true);
    assert!(t.elapsed() < Duration::from_secs(5));
    let runs = backend.list_runs(Some("sched_cancel"), 10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, dremioorch::RunStatus::Failed);
}

fn wait_for_a_run(backend: &BackendRef, pipeline: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while run_count(backend, pipeline) == 0 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn bad_input() {
    for (expr, zone, needle) in [
        ("* * *", None, "3 fields"),
        ("61 * * * *", None, "malformed"),
        ("* * * * * * *", None, "7 fields"),
        ("a b c d e", None, "malformed"),
        ("* * * * *", Some("Mars/Olympus"), "Mars/Olympus"),
    ] {
        let e = Spec::cron(expr, zone).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().contains(needle), "{expr}: {}", e.message());
    }
    assert_eq!(
        Spec::interval(Duration::ZERO).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let s = Scheduler::new(None);
    let p: Arc<Pipeline> = Arc::new(Pipeline::new("sched_bad").unwrap());
    let every = Schedule::new(Spec::interval(Duration::from_secs(60)).unwrap());
    assert_eq!(
        s.add("", p.clone(), every.clone()).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    s.add("x", p.clone(), every.clone()).unwrap();
    assert_eq!(
        s.add("x", p, every).unwrap_err().kind(),
        ErrorKind::Duplicate
    );
    assert_eq!(s.next_fire("nope").unwrap_err().kind(), ErrorKind::NotFound);
    s.start().unwrap();
    assert_eq!(s.start().unwrap_err().kind(), ErrorKind::InvalidArgument);
    s.stop(false);
    s.stop(false);
}

/// A backend with only the four run operations: no claims, no schedules.
struct RunsOnly(MemoryBackend);

impl Backend for RunsOnly {
    fn save_run(&self, run: &dremioorch::PipelineRun) -> dremioorch::Result<()> {
        self.0.save_run(run)
    }
    fn get_run(&self, id: &str) -> dremioorch::Result<Option<dremioorch::PipelineRun>> {
        self.0.get_run(id)
    }
    fn update_task_status(
        &self,
        id: &str,
        task: &str,
        s: dremioorch::TaskStatus,
    ) -> dremioorch::Result<()> {
        self.0.update_task_status(id, task, s)
    }
    fn list_runs(
        &self,
        p: Option<&str>,
        limit: u32,
    ) -> dremioorch::Result<Vec<dremioorch::PipelineRun>> {
        self.0.list_runs(p, limit)
    }
}

#[test]
fn a_claims_backend_without_schedules_is_unsupported() {
    let claims: BackendRef = Arc::new(RunsOnly(MemoryBackend::new()));
    let s = Scheduler::new(Some(claims.clone()));
    let p: Arc<Pipeline> = Arc::new(Pipeline::with_backend("sched_runs_only", claims).unwrap());
    s.add(
        "x",
        p,
        Schedule::new(Spec::interval(Duration::from_secs(60)).unwrap()),
    )
    .unwrap();
    let e = s.start().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.message().contains("schedules"), "{}", e.message());
}
