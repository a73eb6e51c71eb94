"""dremioframe <-> dremioorch history interoperability, both directions, on
SQLite, PostgreSQL and MySQL/MariaDB.

Loads dremioframe/orchestration/backend.py from the installed package by file
path (the package's __init__ pulls in ~1 GB of data libraries) and drives the
Rust side through examples/compat_tool. Prints one line per check and a
closing `compat: N passed, M failed`; exits non-zero on any failure.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dfcommon import MYSQL_URL, PG_URL, load_backend, mysql_config  # noqa: E402

TOOL = sys.argv[1]
BACKEND_PY = sys.argv[2]

df = load_backend(BACKEND_PY)

passed = 0
failed = 0


def check(name, fn):
    global passed, failed
    try:
        fn()
        passed += 1
        print(f"ok - {name}")
    except Exception:
        failed += 1
        print(f"not ok - {name}")
        traceback.print_exc(file=sys.stdout)


def tool(url, *args, cwd=None):
    out = subprocess.run([TOOL, url, *args], capture_output=True, text=True, timeout=120, cwd=cwd)
    if out.returncode != 0:
        raise RuntimeError(f"compat_tool {' '.join(args)} failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def as_dict(run):
    """A dremioframe PipelineRun as the tool's JSON shape."""
    return {
        "pipeline_name": run.pipeline_name,
        "run_id": run.run_id,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "status": run.status,
        "tasks": dict(run.tasks or {}),
    }


def expect_equal(got, want, what):
    if got != want:
        raise AssertionError(f"{what}:\n  got  {got!r}\n  want {want!r}")


def same_url_same_file(tmp):
    """One SQLite URL names one file in both tools. dremioframe's CLI opens
    `sqlite:///<path>` as SQLiteBackend(<path>) (cli.py:
    backend_url.replace("sqlite:///", "")), relative to the current
    directory, as SQLAlchemy does; dremioorch reads the URL the same way."""
    work = os.path.join(tmp, "cwd")
    os.makedirs(work)
    for url, path in [("sqlite:///shared.db", os.path.join(work, "shared.db")),
                      ("sqlite:///" + os.path.join(tmp, "abs.db"), os.path.join(tmp, "abs.db"))]:
        pipeline = f"url_{uuid.uuid4().hex[:8]}"
        written = tool(url, "write", pipeline, cwd=work)
        if not os.path.isfile(path):
            raise AssertionError(f"dremioorch did not open {url} as {path}")
        here = os.getcwd()
        os.chdir(work)
        try:
            b = df.SQLiteBackend(url.replace("sqlite:///", ""))  # as dremioframe's CLI
            listed = [as_dict(r) for r in b.list_runs(pipeline_name=pipeline, limit=10)]
        finally:
            os.chdir(here)
        expect_equal(listed, written, f"{url}: dremioframe's CLI reading of the URL")


def with_table(url, table):
    return f"{url}{'&' if '?' in url else '?'}table={table}"


def orch_to_df(make_df, url, label):
    """Runs written by dremioorch, read by dremioframe's classes."""
    pipeline = f"orch_{uuid.uuid4().hex[:8]}"
    written = tool(url, "write", pipeline)
    b = make_df()
    for want in written:
        got = b.get_run(want["run_id"])
        if got is None:
            raise AssertionError(f"dremioframe finds no run {want['run_id']}")
        expect_equal(as_dict(got), want, f"{label}: dremioframe get_run")
    listed = [as_dict(r) for r in b.list_runs(pipeline_name=pipeline, limit=10)]
    expect_equal(listed, written, f"{label}: dremioframe list_runs (newest first)")
    expect_equal([as_dict(r) for r in b.list_runs(pipeline_name=pipeline, limit=1)],
                 written[:1], f"{label}: dremioframe list_runs limit")


def df_to_orch(make_df, url, label):
    """Runs written by dremioframe (save_run and its update_task_status),
    read by dremioorch."""
    b = make_df()
    pipeline = f"df_{uuid.uuid4().hex[:8]}"
    now = time.time()
    runs = []
    for i, status in enumerate(["SUCCESS", "FAILED", "RUNNING"]):
        r = df.PipelineRun(
            pipeline_name=pipeline,
            run_id=str(uuid.uuid4()),
            start_time=now - 10 * i + 0.123456789,
            status=status,
            end_time=None if status == "RUNNING" else now - 10 * i + 5.5,
            tasks={"load": "PENDING", "weird \"name\" é": "PENDING", "x": "SKIPPED"},
        )
        b.save_run(r)
        b.update_task_status(r.run_id, "load", "SUCCESS" if status != "FAILED" else "FAILED")
        r.tasks["load"] = "SUCCESS" if status != "FAILED" else "FAILED"
        runs.append(r)
    # A run saved without tasks.
    empty = df.PipelineRun(pipeline_name=pipeline, run_id=str(uuid.uuid4()),
                           start_time=now - 100, status="SUCCESS", end_time=now - 99)
    b.save_run(empty)
    empty.tasks = {}
    runs.append(empty)
    for r in runs:
        expect_equal(tool(url, "get", r.run_id), as_dict(r), f"{label}: dremioorch get_run")
    expect_equal(tool(url, "list", pipeline, "10"), [as_dict(r) for r in runs],
                 f"{label}: dremioorch list_runs")
    expect_equal(tool(url, "list", pipeline, "2"), [as_dict(r) for r in runs[:2]],
                 f"{label}: dremioorch list_runs limit")
    # dremioorch then updates a dremioframe run: it reads back merged.
    tool(url, "update", runs[2].run_id, "x", "SUCCESS")
    got = tool(url, "get", runs[2].run_id)
    expect_equal(got["tasks"]["x"], "SUCCESS", f"{label}: dremioorch update on a dremioframe run")


def start_long(url, pipeline, lease_ms=200):
    """A compat_tool process running A -> B -> C with B waiting 10 min; returns
    (process, run_id) once B has started."""
    proc = subprocess.Popen([TOOL, url, "long", pipeline, str(lease_ms)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise RuntimeError(f"compat_tool long exited early: {proc.stderr.read().strip()}")
    return proc, json.loads(line)["run_id"]


def crash_recovery(make_df, url, label):
    """A process killed with SIGKILL mid-run leaves its run RUNNING; recover
    finishes it once its lease is stale (and never a live process's run),
    and dremioframe reads the recovered run right. Two processes recovering
    at once recover each run once."""
    b = make_df()
    dead, dead_id = start_long(url, f"crash_{uuid.uuid4().hex[:8]}")
    live, live_id = start_long(url, f"live_{uuid.uuid4().hex[:8]}")
    try:
        dead.kill()  # SIGKILL: nothing of the process runs after it
        dead.wait(timeout=30)
        # Before the window: nothing is touched.
        expect_equal(tool(url, "recover", "30000"), 0, f"{label}: recover within the window")
        expect_equal(b.get_run(dead_id).status, "RUNNING", f"{label}: killed run before the window")
        # The killed owner renewed every 200 ms; 2 s without renewal is stale.
        time.sleep(3.5)
        expect_equal(tool(url, "recover", "2000"), 1, f"{label}: recover after the window")
        got = b.get_run(dead_id)
        expect_equal((got.status, dict(got.tasks)),
                     ("FAILED", {"A": "SUCCESS", "B": "FAILED", "C": "SKIPPED"}),
                     f"{label}: dremioframe reads the recovered run")
        if got.end_time is None or got.end_time < got.start_time:
            raise AssertionError(f"{label}: recovered run's end_time {got.end_time!r}")
        details = {d["name"]: d for d in tool(url, "details", dead_id)}
        expect_equal({n: (d["status"], d["error"]) for n, d in details.items()},
                     {"A": ("SUCCESS", None), "B": ("FAILED", "owner lost"),
                      "C": ("SKIPPED", "owner lost")}, f"{label}: recovered task detail")
        expect_equal(details["A"]["attempts"], 1, f"{label}: A's attempts")
        # The live process's run, renewed all along, is never recovered.
        expect_equal(tool(url, "recover", "0"), 0, f"{label}: a live run with stale_after 0")
        expect_equal(b.get_run(live_id).status, "RUNNING", f"{label}: the live run")
        if live.poll() is not None:
            raise AssertionError(f"{label}: the live process ended: {live.stderr.read()}")
    finally:
        for p in (dead, live):
            if p.poll() is None:
                p.kill()
            p.wait(timeout=30)
    # Two processes recovering at once: the killed live run and runs that
    # dremioframe left RUNNING long ago (no lease) are each recovered once.
    pipeline = f"stale_{uuid.uuid4().hex[:8]}"
    stale = []
    for i in range(20):
        r = df.PipelineRun(pipeline_name=pipeline, run_id=str(uuid.uuid4()),
                           start_time=time.time() - 3600 - i, status="RUNNING",
                           tasks={"t": "RUNNING", "u": "PENDING"})
        b.save_run(r)
        stale.append(r.run_id)
    time.sleep(5.5)
    # A lease-less RUNNING run that started just now is within the window.
    fresh = df.PipelineRun(pipeline_name=pipeline, run_id=str(uuid.uuid4()),
                           start_time=time.time(), status="RUNNING", tasks={"t": "RUNNING"})
    b.save_run(fresh)
    procs = [subprocess.Popen([TOOL, url, "recover", "5000"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    counts = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        if p.returncode != 0:
            raise RuntimeError(f"recover failed: {err.strip()}")
        counts.append(json.loads(out))
    expect_equal(sum(counts), 21, f"{label}: runs recovered by two processes at once ({counts})")
    for run_id in stale + [live_id]:
        got = b.get_run(run_id)
        if got.status != "FAILED" or "PENDING" in got.tasks.values() or "RUNNING" in got.tasks.values():
            raise AssertionError(f"{label}: run {run_id} after recovery: {as_dict(got)}")
    expect_equal(dict(b.get_run(stale[0]).tasks), {"t": "FAILED", "u": "SKIPPED"},
                 f"{label}: a dremioframe run recovered")
    expect_equal(tool(url, "recover", "60000"), 0, f"{label}: a recent lease-less run")
    expect_equal(b.get_run(fresh.run_id).status, "RUNNING", f"{label}: the recent run")


def main():
    tmp = tempfile.mkdtemp(prefix="dorch_compat_")
    suffix = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"

    # SQLite: one file, table `runs`; dremioorch creates the file for A, and
    # dremioframe creates another for B.
    db_a = os.path.join(tmp, "a.db")
    db_b = os.path.join(tmp, "b.db")
    check("sqlite: dremioorch -> dremioframe",
          lambda: orch_to_df(lambda: df.SQLiteBackend(db_a), f"sqlite:///{db_a}", "sqlite"))
    check("sqlite: dremioframe -> dremioorch",
          lambda: df_to_orch(lambda: df.SQLiteBackend(db_b), f"sqlite:///{db_b}", "sqlite"))
    check("sqlite: one URL opens one file in both tools", lambda: same_url_same_file(tmp))
    db_c = os.path.join(tmp, "crash.db")
    check("sqlite: a killed run recovered, read by dremioframe",
          lambda: crash_recovery(lambda: df.SQLiteBackend(db_c), f"sqlite:///{db_c}", "sqlite"))

    # PostgreSQL.
    import psycopg2
    pg_a, pg_b, pg_c = f"compat_a_{suffix}", f"compat_b_{suffix}", f"compat_c_{suffix}"
    try:
        check("postgres: dremioorch -> dremioframe",
              lambda: orch_to_df(lambda: df.PostgresBackend(PG_URL, table_name=pg_a),
                                 with_table(PG_URL, pg_a), "postgres"))
        check("postgres: dremioframe -> dremioorch",
              lambda: df_to_orch(lambda: df.PostgresBackend(PG_URL, table_name=pg_b),
                                 with_table(PG_URL, pg_b), "postgres"))
        check("postgres: a killed run recovered, read by dremioframe",
              lambda: crash_recovery(lambda: df.PostgresBackend(PG_URL, table_name=pg_c),
                                     with_table(PG_URL, pg_c), "postgres"))
        check("postgres: default table dremioframe_runs, both ways",
              lambda: default_table(lambda: df.PostgresBackend(PG_URL), PG_URL, "postgres",
                                    lambda: psycopg2.connect(PG_URL)))
    finally:
        try:
            conn = psycopg2.connect(PG_URL)
            with conn.cursor() as cur:
                for t in (pg_a, pg_b, pg_c):
                    cur.execute(f"DROP TABLE IF EXISTS {t}, {t}_task_state, {t}_task_detail, "
                                f"{t}_task_output, {t}_run_meta")
            conn.commit()
            conn.close()
        except Exception as e:
            print(f"# cleanup failed: {e}")

    # MySQL / MariaDB.
    import mysql.connector
    my_a, my_b, my_c = f"compat_a_{suffix}", f"compat_b_{suffix}", f"compat_c_{suffix}"
    cfg = mysql_config()
    try:
        check("mysql: dremioorch -> dremioframe",
              lambda: orch_to_df(lambda: df.MySQLBackend(dict(cfg), table_name=my_a),
                                 with_table(MYSQL_URL, my_a), "mysql"))
        check("mysql: dremioframe -> dremioorch",
              lambda: df_to_orch(lambda: df.MySQLBackend(dict(cfg), table_name=my_b),
                                 with_table(MYSQL_URL, my_b), "mysql"))
        check("mysql: a killed run recovered, read by dremioframe",
              lambda: crash_recovery(lambda: df.MySQLBackend(dict(cfg), table_name=my_c),
                                     with_table(MYSQL_URL, my_c), "mysql"))
        check("mysql: default table dremioframe_runs, both ways",
              lambda: default_table(lambda: df.MySQLBackend(dict(cfg)), MYSQL_URL, "mysql",
                                    lambda: mysql.connector.connect(**cfg)))
    finally:
        try:
            conn = mysql.connector.connect(**cfg)
            cur = conn.cursor()
            for t in (my_a, my_b, my_c):
                cur.execute(f"DROP TABLE IF EXISTS `{t}_task_state`, `{t}_task_detail`, "
                            f"`{t}_task_output`, `{t}_run_meta`, `{t}`")
            conn.commit()
            conn.close()
        except Exception as e:
            print(f"# cleanup failed: {e}")

    print(f"compat: {passed} passed, {failed} failed")
    return 1 if failed else 0


def default_table(make_df, url, label, connect):
    """dremioframe's default table, dremioframe_runs, used by both sides when
    no table is named. Only runs of fresh pipeline names are looked at, and
    they are deleted afterwards (the table may be shared)."""
    pipelines = []
    try:
        pipelines.append(f"defaults_{uuid.uuid4().hex[:8]}")
        written = tool(url, "write", pipelines[-1])
        b = make_df()
        got = [as_dict(r) for r in b.list_runs(pipeline_name=pipelines[-1], limit=10)]
        expect_equal(got, written, f"{label}: dremioframe reads the default table")
        pipelines.append(f"defaults_{uuid.uuid4().hex[:8]}")
        r = df.PipelineRun(pipeline_name=pipelines[-1], run_id=str(uuid.uuid4()),
                           start_time=time.time(), status="SUCCESS", end_time=time.time(),
                           tasks={"a": "SUCCESS"})
        b.save_run(r)
        expect_equal(tool(url, "get", r.run_id), as_dict(r), f"{label}: dremioorch reads it")
    finally:
        conn = connect()
        cur = conn.cursor()
        # dremioorch's task detail of those runs, in its own table.
        schema = "current_schema()" if label == "postgres" else "DATABASE()"
        cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = "
                    f"'dremioframe_runs_task_detail' AND table_schema = {schema}")
        has_detail = cur.fetchone()[0] > 0
        for p in pipelines:
            if has_detail:
                cur.execute("DELETE FROM dremioframe_runs_task_detail WHERE run_id IN "
                            "(SELECT run_id FROM dremioframe_runs WHERE pipeline_name = %s)", (p,))
            cur.execute("DELETE FROM dremioframe_runs WHERE pipeline_name = %s", (p,))
        conn.commit()
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
