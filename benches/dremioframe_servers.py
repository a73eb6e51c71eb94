"""dremioframe's own PostgreSQL and MySQL backends, measured the way
benches/servers.rs measures dremioorch's: per-task backend cost of a 500-task
chain (the calls dremioframe's Pipeline makes: save_run at the start,
update_task_status RUNNING then SUCCESS per task, save_run at the end) and
list_runs(limit=10) over 100,000 runs of history.

usage: dremioframe_servers.py <path to dremioframe/orchestration/backend.py>
Prints `RESULT dremioframe-<backend> <metric> <value>` lines.
"""
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "compat"))
from dfcommon import MYSQL_URL, PG_URL, load_backend, mysql_config  # noqa: E402

df = load_backend(sys.argv[1])
CHAIN = 500
HISTORY = 100_000


def chain(b):
    names = [f"c{i}" for i in range(CHAIN)]
    run = df.PipelineRun(pipeline_name="bench_chain", run_id=str(uuid.uuid4()),
                         start_time=time.time(), status="RUNNING",
                         tasks={n: "PENDING" for n in names})
    t = time.perf_counter()
    b.save_run(run)
    for n in names:
        b.update_task_status(run.run_id, n, "RUNNING")
        b.update_task_status(run.run_id, n, "SUCCESS")
    run.tasks = {n: "SUCCESS" for n in names}
    run.status = "SUCCESS"
    run.end_time = time.time()
    b.save_run(run)
    return (time.perf_counter() - t) * 1e6 / CHAIN


def list_ms(b, n=200):
    for _ in range(20):
        b.list_runs(limit=10)
    t = time.perf_counter()
    for _ in range(n):
        assert len(b.list_runs(limit=10)) == 10
    return (time.perf_counter() - t) * 1000 / n


TASKS_JSON = '{"extract": "SUCCESS", "transform": "SUCCESS", "load": "SUCCESS", "notify": "SKIPPED"}'


def bench_pg():
    import psycopg2
    table = f"bench_df_pg_{os.getpid()}"
    try:
        b = df.PostgresBackend(PG_URL, table_name=table)
        c = chain(b)
        conn = psycopg2.connect(PG_URL)
        with conn.cursor() as cur:
            cur.execute(f"""INSERT INTO {table} SELECT 'hist-' || g, 'hist_pipe_' || MOD(g, 10),
                1.9e9 + g, 1.9e9 + g + 1, 'SUCCESS', %s::jsonb
                FROM generate_series(1, {HISTORY}) g""", (TASKS_JSON,))
            cur.execute(f"ANALYZE {table}")
        conn.commit()
        conn.close()
        return c, list_ms(b)
    finally:
        conn = psycopg2.connect(PG_URL)
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        conn.commit()
        conn.close()


def bench_mysql():
    import mysql.connector
    table = f"bench_df_my_{os.getpid()}"
    cfg = mysql_config()
    try:
        b = df.MySQLBackend(dict(cfg), table_name=table)
        c = chain(b)
        conn = mysql.connector.connect(**cfg)
        cur = conn.cursor()
        cur.execute(f"""INSERT INTO `{table}`
            WITH d AS (SELECT 0 n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3
                       UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6
                       UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9),
                 g AS (SELECT a.n + 10 * b.n + 100 * c.n + 1000 * e.n + 10000 * f.n + 1 AS g
                       FROM d a, d b, d c, d e, d f)
            SELECT CONCAT('hist-', g), CONCAT('hist_pipe_', MOD(g, 10)), 1.9e9 + g, 1.9e9 + g + 1,
                   'SUCCESS', %s FROM g""", (TASKS_JSON,))
        cur.execute(f"ANALYZE TABLE `{table}`")
        cur.fetchall()
        conn.commit()
        conn.close()
        return c, list_ms(b)
    finally:
        conn = mysql.connector.connect(**cfg)
        cur = conn.cursor()
        cur.execute(f"DROP TABLE IF EXISTS `{table}`")
        conn.commit()
        conn.close()


def main():
    for name, f in [("postgres", bench_pg), ("mysql", bench_mysql)]:
        c, l = f()
        print(f"dremioframe {name:<9} chain({CHAIN}) {c:>8.1f} us/task   list_runs(10) {l:.3f} ms")
        print(f"RESULT dremioframe-{name} chain_us_per_task {c:.1f}")
        print(f"RESULT dremioframe-{name} list_runs_ms {l:.3f}")


if __name__ == "__main__":
    main()
