"""dremioframe's own engine with its in-memory and SQLite backends, measured
the way benches/core.rs measures dremioorch: per-task cost of a whole run of
a chain of no-op tasks, and list_runs(limit=10) on SQLite histories.

dremioframe's package __init__ pulls about 1 GB of data libraries, so the
orchestration modules are loaded under stand-in parent packages: the code
measured is dremioframe's own pipeline.py, task.py and backend.py.

usage: dremioframe_core.py <path to dremioframe/orchestration> [--quick]
Prints `RESULT dremioframe-<backend> <metric> <value>` lines.
"""
import contextlib
import importlib
import io
import os
import sqlite3
import sys
import tempfile
import time
import types

orch = os.path.abspath(sys.argv[1])
quick = "--quick" in sys.argv[2:]
for name, path in (("dremioframe", os.path.dirname(orch)), ("dremioframe.orchestration", orch)):
    stub = types.ModuleType(name)
    stub.__path__ = [path]
    sys.modules[name] = stub
pipeline = importlib.import_module("dremioframe.orchestration.pipeline")
task = importlib.import_module("dremioframe.orchestration.task")
backend = importlib.import_module("dremioframe.orchestration.backend")


def chain_us(n, make_backend, reps):
    best = float("inf")
    for _ in range(reps):
        p = pipeline.Pipeline(f"bench_{n}", max_workers=1, backend=make_backend())
        prev = None
        for i in range(n):
            t = task.Task(f"task_{i:05}", lambda: None)
            p.add_task(t)
            if prev is not None:
                t.set_upstream(prev)
            prev = t
        # dremioframe prints a few lines per task; keep them off the report.
        with contextlib.redirect_stdout(io.StringIO()):
            t0 = time.perf_counter()
            p.run()
            best = min(best, (time.perf_counter() - t0) * 1e6 / n)
    return best


tmp = tempfile.mkdtemp(prefix="dorch-df-bench-")


def sqlite_backend():
    path = os.path.join(tmp, f"chain-{time.perf_counter_ns()}.db")
    return backend.SQLiteBackend(db_path=path)


print("dremioframe engine (per task, whole run, best of runs)")
for n in (100, 1000):
    us = chain_us(n, backend.InMemoryBackend, 3)
    print(f"dremioframe memory   chain {n:>6} {us:>10.1f} us/task")
    print(f"RESULT dremioframe-memory chain_{n}_us_per_task {us:.1f}")
for n in ((100, 1000) if quick else (100, 1000, 5000)):
    us = chain_us(n, sqlite_backend, 1)
    print(f"dremioframe sqlite   chain {n:>6} {us:>10.1f} us/task")
    print(f"RESULT dremioframe-sqlite chain_{n}_us_per_task {us:.1f}")

path = os.path.join(tmp, "history.db")
b = backend.SQLiteBackend(db_path=path)
have = 0
print("dremioframe sqlite list_runs(limit = 10), mean of 50 calls")
for size in (1_000, 100_000):
    with sqlite3.connect(path) as c:
        c.executemany(
            "INSERT INTO runs VALUES (?, ?, ?, ?, 'SUCCESS', ?)",
            ((f"run-{i:08}", f"pipeline_{i % 10}", 1.6e9 + i, 1.6e9 + i + 3,
              '{"extract": "SUCCESS", "transform": "SUCCESS", "load": "SUCCESS"}')
             for i in range(have, size)),
        )
    have = size
    t0 = time.perf_counter()
    for _ in range(50):
        assert len(b.list_runs(limit=10)) == 10
    ms = (time.perf_counter() - t0) * 1e3 / 50
    print(f"dremioframe sqlite   list_runs {size:>9} runs {ms:>8.2f} ms")
    print(f"RESULT dremioframe-sqlite list_runs_{size}_ms {ms:.2f}")
