//! Scheduler figures: fire lateness (median, p99 over 200 fires of a 50 ms
//! interval) and the CPU an idle scheduler holding 10,000 schedules uses
//! over 5 s. `cargo bench --bench schedule`; benches/schedule.sh runs it
//! beside APScheduler 3. Lines starting with RESULT are for the script.

use dremioorch::schedule::{Schedule, Scheduler, Spec};
use dremioorch::{MemoryBackend, Pipeline, Task};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const INTERVAL_MS: u64 = 50;
const FIRES: usize = 200;

fn now_ms_f() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn cpu_seconds() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn lateness() {
    let late = Arc::new(Mutex::new(Vec::<f64>::with_capacity(FIRES)));
    let mut p = Pipeline::with_backend("bench_lateness", Arc::new(MemoryBackend::new())).unwrap();
    let l = late.clone();
    p.add_task(Task::new("t", move |_| {
        // Fire times are the multiples of 50 ms since the epoch.
        let ms = now_ms_f();
        l.lock().unwrap().push(ms % INTERVAL_MS as f64);
        Ok(())
    }))
    .unwrap();
    let s = Scheduler::new(None);
    let spec = Spec::interval(Duration::from_millis(INTERVAL_MS)).unwrap();
    s.add("lateness", Arc::new(p), Schedule::new(spec)).unwrap();
    s.start().unwrap();
    while late.lock().unwrap().len() < FIRES {
        std::thread::sleep(Duration::from_millis(100));
    }
    s.stop(false);
    let mut v = late.lock().unwrap().clone();
    v.truncate(FIRES);
    v.sort_by(f64::total_cmp);
    let (med, p99) = (percentile(&v, 0.5), percentile(&v, 0.99));
    println!(
        "fire lateness over {FIRES} fires of a {INTERVAL_MS} ms interval (task start - fire time):"
    );
    println!(
        "  median {med:.3} ms, p99 {p99:.3} ms, max {:.3} ms",
        v[v.len() - 1]
    );
    println!("RESULT dremioorch lateness_median_ms {med:.3}");
    println!("RESULT dremioorch lateness_p99_ms {p99:.3}");
}

fn idle_cpu() {
    let p = Arc::new(Pipeline::new("bench_idle").unwrap());
    let s = Scheduler::new(None);
    for i in 0..10_000 {
        let spec = Spec::interval(Duration::from_secs(3600)).unwrap();
        s.add(&format!("idle-{i}"), p.clone(), Schedule::new(spec))
            .unwrap();
    }
    s.start().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let before = cpu_seconds();
    std::thread::sleep(Duration::from_secs(5));
    let used = cpu_seconds() - before;
    s.stop(false);
    println!(
        "idle scheduler with 10,000 hourly schedules: {:.3} ms CPU over 5 s ({:.4} %)",
        used * 1000.0,
        used / 5.0 * 100.0
    );
    println!("RESULT dremioorch idle_cpu_ms_per_5s {:.3}", used * 1000.0);
}

fn main() {
    lateness();
    idle_cpu();
}
