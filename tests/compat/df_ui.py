"""`/api/runs` of `dremioorch ui` against dremioframe's own `start_ui` on the
same SQLite file: the same runs, values and key order.

    python df_ui.py DREMIOORCH_BINARY BACKEND_PY [--bench]

dremioframe's ui.py imports `.backend`, so both files are loaded as the
modules of a package made here (the real package's __init__ pulls about
1 GB of libraries). With --bench, the history is 1,000,000 runs and each
server's /api/runs is timed (median of 50 requests, client side).
"""
import http.client
import importlib
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types

EVIL = "<img src=x onerror=alert(1)>"


def load_dremioframe(backend_py):
    pkg = types.ModuleType("dfo")
    pkg.__path__ = [os.path.dirname(backend_py)]
    sys.modules["dfo"] = pkg
    return importlib.import_module("dfo.backend"), importlib.import_module("dfo.ui")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def wait_port(port):
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"df_ui: nothing listens on port {port}")


def fill(df, db, n):
    b = df.SQLiteBackend(db)  # creates dremioframe's table
    statuses = ["SUCCESS", "FAILED", "RUNNING"]
    if n <= 1000:
        for i in range(n):
            end = None if i % 7 == 3 else 1_700_000_000.0 + i + 0.25
            b.save_run(df.PipelineRun(
                pipeline_name=["etl", "report", "naïve ✓"][i % 3],
                run_id=f"run-{i:04d}",
                start_time=1_700_000_000.0 + i + 0.123456789,
                status="RUNNING" if end is None else statuses[i % 2],
                end_time=end,
                tasks={"extract": "SUCCESS", EVIL: "FAILED", "load": "SKIPPED"} if i % 2 else {},
            ))
        return
    import sqlite3  # the bench history: one transaction
    with sqlite3.connect(b.db_path) as conn:
        conn.executemany(
            "INSERT INTO runs (run_id, pipeline_name, status, start_time, end_time, tasks) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            ((f"run-{i:07d}", f"pipeline_{i % 10}", statuses[i % 2], 1_600_000_000.0 + i,
              1_600_000_000.0 + i + 1.5, json.dumps({"a": "SUCCESS", "b": statuses[i % 2]}))
             for i in range(n)))


def main():
    orch, backend_py = sys.argv[1], sys.argv[2]
    bench = "--bench" in sys.argv[3:]
    df, df_ui = load_dremioframe(backend_py)
    tmp = tempfile.mkdtemp(prefix="dorch-df-ui-")
    db = os.path.join(tmp, "history.db")
    fill(df, db, 1_000_000 if bench else 60)

    df_port = free_port()
    threading.Thread(target=df_ui.start_ui, args=(df.SQLiteBackend(db), {}, df_port),
                     daemon=True).start()
    ours = subprocess.Popen([orch, "ui", "--backend", f"sqlite:///{db}", "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = ours.stdout.readline().strip()
        if not line.startswith("listening on http://"):
            raise SystemExit(f"df_ui: dremioorch ui printed {line!r}")
        our_port = int(line.rsplit(":", 1)[1])
        wait_port(df_port)

        s1, theirs = get(df_port, "/api/runs")
        s2, mine = get(our_port, "/api/runs")
        assert s1 == 200 and s2 == 200, (s1, s2)
        theirs, mine = json.loads(theirs), json.loads(mine)
        assert len(theirs) == 50, len(theirs)
        assert mine == theirs, "the runs differ:\n%s\n%s" % (mine[:2], theirs[:2])
        for a, b in zip(mine, theirs):
            assert list(a.keys()) == list(b.keys()), (list(a.keys()), list(b.keys()))
        print("ok - /api/runs of dremioorch ui equals dremioframe's start_ui "
              f"({len(mine)} runs, keys in order)")

        if bench:
            for name, port in [("dremioorch ui", our_port), ("dremioframe start_ui", df_port)]:
                times = []
                for _ in range(50):
                    t = time.perf_counter()
                    status, _ = get(port, "/api/runs")
                    times.append((time.perf_counter() - t) * 1000)
                    assert status == 200
                print(f"{name:>22}: GET /api/runs on 1,000,000 runs: median "
                      f"{statistics.median(times):.2f} ms, p95 "
                      f"{sorted(times)[int(len(times) * 0.95)]:.2f} ms")
    finally:
        ours.terminate()
        ours.wait(timeout=30)


if __name__ == "__main__":
    main()
