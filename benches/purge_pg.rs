//! Purging 100,000 finished runs from PostgreSQL: total time, and the
//! longest single batch transaction (each batch is one statement, timed by
//! the client: round trip included). Every run has five task detail rows,
//! one stored output and a lease row, as a finished run of five tasks
//! leaves them; 1,000 newer runs and 100 old RUNNING runs must survive.
//! `cargo bench --bench purge_pg`; DORCH_TEST_PG_DSN as in benches/servers.rs.
//! Lines starting with `RESULT` are for scripts.

use dremioorch::backend::PostgresBackend;
use dremioorch::Backend;
use std::time::{Duration, Instant};

const RUNS: usize = 100_000;

fn pg_dsn() -> String {
    std::env::var("DORCH_TEST_PG_DSN")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".into())
}

fn main() {
    let table = format!("bench_purge_{}", std::process::id());
    let b = PostgresBackend::connect(Some(&pg_dsn()), Some(&table)).expect("postgres");
    let mut c = postgres::Client::connect(&pg_dsn(), postgres::NoTls).expect("postgres client");
    let t = Instant::now();
    // Runs 1..=RUNS finished (start_time 1000 + i), the next 1,000 newer,
    // and the last 100 old but still RUNNING.
    c.batch_execute(&format!(
        "INSERT INTO \"{table}\" (run_id, pipeline_name, start_time, end_time, status, tasks)
         SELECT 'run-' || i, 'p' || (i % 4), 1000 + i, 1001 + i,
             CASE WHEN i % 5 = 0 THEN 'FAILED' ELSE 'SUCCESS' END,
             '{{\"a\": \"SUCCESS\", \"b\": \"SUCCESS\", \"c\": \"SUCCESS\", \
               \"d\": \"SUCCESS\", \"e\": \"SUCCESS\"}}'::jsonb
         FROM generate_series(1, {total}) i;
         UPDATE \"{table}\" SET status = 'RUNNING', end_time = NULL,
             start_time = start_time - {RUNS} - 600
             WHERE start_time > 1000 + {RUNS} + 1000;
         INSERT INTO \"{table}_task_detail\"
             (run_id, task_key, task_name, attempts, start_time, end_time, error)
         SELECT 'run-' || i, sha256(convert_to(n, 'UTF8')), n, 1, 1000 + i, 1000.5 + i, NULL
         FROM generate_series(1, {total}) i, unnest(ARRAY['a', 'b', 'c', 'd', 'e']) n;
         INSERT INTO \"{table}_task_output\" (run_id, task_key, task_name, size, data)
         SELECT 'run-' || i, sha256(convert_to('e', 'UTF8')), 'e', 200,
             decode(repeat('ab', 200), 'hex')
         FROM generate_series(1, {total}) i;
         INSERT INTO \"{table}_run_meta\" (run_id, lease_renewed_at, lease_interval)
         SELECT 'run-' || i, 1001 + i, 2.0 FROM generate_series(1, {total}) i;",
        total = RUNS + 1100,
    ))
    .expect("history");
    for t in ["", "_task_detail", "_task_output", "_run_meta"] {
        // Outside a transaction: one statement per call.
        c.batch_execute(&format!("VACUUM ANALYZE \"{table}{t}\""))
            .expect("vacuum");
    }
    println!(
        "history of {} runs written in {:.1?}",
        RUNS + 1100,
        t.elapsed()
    );
    let running: i64 = c
        .query_one(
            &format!("SELECT count(*) FROM \"{table}\" WHERE status = 'RUNNING'"),
            &[],
        )
        .unwrap()
        .get(0);
    let before = 1000.0 + RUNS as f64 + 0.5;
    assert_eq!(running, 100);
    let expected = RUNS as u64;

    let t = Instant::now();
    let dry = b.purge(before, None, true).expect("dry run");
    let dry_took = t.elapsed();
    assert_eq!(dry, expected);

    let t = Instant::now();
    let (n, batches) = b.purge_timed(before, None).expect("purge");
    let took = t.elapsed();
    assert_eq!(n, expected);
    let mut sorted = batches.clone();
    sorted.sort();
    let longest = sorted.last().copied().unwrap_or_default();
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
    let left: i64 = c
        .query_one(&format!("SELECT count(*) FROM \"{table}\""), &[])
        .unwrap()
        .get(0);
    assert_eq!(left, 1000 + running, "newer and RUNNING runs survive");
    for (side, per_run) in [("task_detail", 5), ("task_output", 1), ("run_meta", 1)] {
        let rows: i64 = c
            .query_one(&format!("SELECT count(*) FROM \"{table}_{side}\""), &[])
            .unwrap()
            .get(0);
        assert_eq!(rows, (1000 + running) * per_run, "{side}");
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "purged {n} runs (with {} detail, {n} output and {n} lease rows) in {:.2} s: \
         {} batches, longest {:.1} ms, median {:.1} ms; dry run {:.1} ms",
        n * 5,
        took.as_secs_f64(),
        batches.len(),
        ms(longest),
        ms(median),
        ms(dry_took),
    );
    println!("RESULT postgres purge_total_s {:.2}", took.as_secs_f64());
    println!("RESULT postgres purge_longest_batch_ms {:.1}", ms(longest));
    println!("RESULT postgres purge_median_batch_ms {:.1}", ms(median));
    println!("RESULT postgres purge_dry_run_ms {:.1}", ms(dry_took));
    c.batch_execute(&format!(
        "DROP TABLE \"{table}\", \"{table}_task_state\", \"{table}_task_detail\", \
         \"{table}_task_output\", \"{table}_run_meta\""
    ))
    .unwrap();
}
