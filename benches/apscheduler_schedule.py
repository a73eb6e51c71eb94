"""APScheduler 3 (what dremioframe's schedule_pipeline uses) on the same
figures as benches/schedule.rs: fire lateness over 200 fires of a 50 ms
interval (fire times aligned to multiples of 50 ms since the epoch) and the
CPU of an idle BackgroundScheduler holding 10,000 hourly jobs over 5 s."""
import math
import resource
import threading
import time
from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler

INTERVAL = 0.05
FIRES = 200


def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def lateness():
    late = []
    done = threading.Event()
    start = math.ceil(time.time() / INTERVAL) * INTERVAL + 0.5

    def job():
        late.append(((time.time() - start) * 1000.0) % (INTERVAL * 1000.0))
        if len(late) >= FIRES:
            done.set()

    s = BackgroundScheduler()
    s.add_job(job, "interval", seconds=INTERVAL,
              start_date=datetime.fromtimestamp(start, timezone.utc), max_instances=1)
    s.start()
    done.wait(120)
    s.shutdown(wait=True)
    v = sorted(late[:FIRES])
    med = v[round((len(v) - 1) * 0.5)]
    p99 = v[round((len(v) - 1) * 0.99)]
    print(f"APScheduler fire lateness over {FIRES} fires of a 50 ms interval:")
    print(f"  median {med:.3f} ms, p99 {p99:.3f} ms, max {v[-1]:.3f} ms")
    print(f"RESULT apscheduler lateness_median_ms {med:.3f}")
    print(f"RESULT apscheduler lateness_p99_ms {p99:.3f}")


def idle_cpu():
    s = BackgroundScheduler()
    for i in range(10_000):
        s.add_job(lambda: None, "interval", hours=1, id=f"idle-{i}")
    s.start()
    time.sleep(0.2)
    before = cpu()
    time.sleep(5)
    used = cpu() - before
    s.shutdown(wait=False)
    print(f"APScheduler idle with 10,000 hourly jobs: {used * 1000:.3f} ms CPU over 5 s")
    print(f"RESULT apscheduler idle_cpu_ms_per_5s {used * 1000:.3f}")


if __name__ == "__main__":
    lateness()
    idle_cpu()
