"""Celery's per-task overhead on the same Redis, for benches/remote.sh.

Worker:  celery -A celery_noop worker --concurrency 4 --pool prefork -Q <queue>
Client:  python celery_noop.py   (1,000 delay() then get() of a no-op task)
DORCH_BENCH_REDIS_URL (default redis://127.0.0.1:6379/0) and
DORCH_BENCH_CELERY_QUEUE name the broker and the queue.
"""
import os
import sys
import time

from celery import Celery

URL = os.environ.get("DORCH_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
QUEUE = os.environ.get("DORCH_BENCH_CELERY_QUEUE", "dorch_bench_celery")
app = Celery("celery_noop", broker=URL, backend=URL)
app.conf.task_default_queue = QUEUE
app.conf.result_expires = 600


@app.task
def noop():
    return None


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    # Warm up (worker connections, imports).
    noop.delay().get(timeout=60)
    best = None
    for _ in range(3):
        t0 = time.perf_counter()
        results = [noop.delay() for _ in range(n)]
        for r in results:
            r.get(timeout=120)
        el = time.perf_counter() - t0
        best = el if best is None else min(best, el)
    print(f"celery fan-out {n}, 4 worker processes (prefork): {best * 1e3:.1f} ms, {best * 1e6 / n:.0f} us per task")
