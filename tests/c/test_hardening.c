/* Regression tests for defects found by attacking the C API: a pipeline
 * changed or freed while it runs, a failing custom backend's return code,
 * and a serialized custom backend that runs a pipeline from inside itself. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "forward.h"

static DorchCode t_ok(DorchTaskContext *ctx, void *ud) {
    (void)ctx;
    (void)ud;
    return DORCH_OK;
}

/* ---- 1. changes from another thread while the pipeline runs ---- */
typedef struct {
    DorchPipeline *p;
    atomic_int phase; /* 1: a task is running, 2: the other thread has tried */
    atomic_int refused;
    atomic_int hammering; /* the second phase: tasks do not wait */
    atomic_int stop;
    atomic_int changes_ok;
    atomic_int changes_refused;
    atomic_int changes_other;
} Race;

static DorchCode t_wait_for_change(DorchTaskContext *ctx, void *ud) {
    Race *r = ud;
    (void)ctx;
    if (atomic_load(&r->hammering)) return DORCH_OK;
    atomic_store(&r->phase, 1);
    while (atomic_load(&r->phase) != 2) usleep(1000);
    return DORCH_OK;
}

static void *try_change(void *arg) {
    Race *r = arg;
    while (atomic_load(&r->phase) != 1) usleep(1000);
    int refused = 0;
    refused += dorch_pipeline_add_task(r->p, "late", t_ok, NULL, NULL, NULL) ==
               DORCH_ERR_INVALID_ARGUMENT;
    refused += strstr(dorch_last_error(), "running") != NULL;
    refused += dorch_pipeline_add_dependency(r->p, "a", "b") == DORCH_ERR_INVALID_ARGUMENT;
    refused += dorch_pipeline_set_context(r->p, "k", (const uint8_t *)"v", 1) ==
               DORCH_ERR_INVALID_ARGUMENT;
    refused += dorch_pipeline_set_max_workers(r->p, 3) == DORCH_ERR_INVALID_ARGUMENT;
    atomic_store(&r->refused, refused);
    atomic_store(&r->phase, 2);
    return NULL;
}

/* Hammers the pipeline with changes until told to stop. */
static void *hammer(void *arg) {
    Race *r = arg;
    int i = 0;
    while (!atomic_load(&r->stop)) {
        char name[32];
        /* at most 100 new tasks (the rest are refused as duplicates), so
           the runs stay short however the two threads are scheduled */
        snprintf(name, sizeof name, "h%d", i++ % 100);
        DorchCode rc = dorch_pipeline_add_task(r->p, name, t_ok, NULL, NULL, NULL);
        if (rc == DORCH_OK) {
            atomic_fetch_add(&r->changes_ok, 1);
            /* a dependency on the new task keeps the graph a chain of changes */
            dorch_pipeline_add_dependency(r->p, "a", name);
        } else if (rc == DORCH_ERR_INVALID_ARGUMENT) {
            atomic_fetch_add(&r->changes_refused, 1);
        } else if (rc == DORCH_ERR_DUPLICATE) {
            /* already added in an earlier round */
        } else {
            atomic_fetch_add(&r->changes_other, 1);
        }
        dorch_pipeline_set_context(r->p, "k", (const uint8_t *)"v", 1);
    }
    return NULL;
}

static void test_change_while_running(void) {
    Race r;
    memset(&r, 0, sizeof r);
    CHECK_OK(dorch_pipeline_new("race", NULL, &r.p));
    CHECK_OK(dorch_pipeline_set_max_workers(r.p, 2));
    CHECK_OK(dorch_pipeline_add_task(r.p, "a", t_wait_for_change, &r, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_task(r.p, "b", t_ok, NULL, NULL, NULL));
    pthread_t th;
    pthread_create(&th, NULL, try_change, &r);
    DorchRunResult *res = NULL;
    CHECK_OK(dorch_pipeline_run(r.p, &res));
    pthread_join(th, NULL);
    CHECK(atomic_load(&r.refused) == 5); /* every change refused with a clear message */
    CHECK(dorch_run_result_task_status(res, "late") == DORCH_TASK_PENDING); /* not added */
    dorch_run_result_free(res);
    /* after the run, changes work again */
    CHECK_OK(dorch_pipeline_add_task(r.p, "late", t_ok, NULL, NULL, NULL));

    /* many runs while another thread keeps changing the pipeline: no crash,
       every call answers OK (between runs) or INVALID_ARGUMENT (during one) */
    atomic_store(&r.hammering, 1);
    pthread_create(&th, NULL, hammer, &r);
    int runs_ok = 0;
    for (int i = 0; i < 200; i++) {
        DorchCode rc = dorch_pipeline_run(r.p, &res);
        runs_ok += rc == DORCH_OK;
        dorch_run_result_free(res);
    }
    /* the other thread has tried at least once (however it was scheduled) */
    for (int i = 0; i < 10000 && atomic_load(&r.changes_ok) + atomic_load(&r.changes_refused) == 0; i++)
        usleep(1000);
    atomic_store(&r.stop, 1);
    pthread_join(th, NULL);
    CHECK(runs_ok == 200);
    CHECK(atomic_load(&r.changes_other) == 0);
    CHECK(atomic_load(&r.changes_ok) + atomic_load(&r.changes_refused) > 0);
    dorch_pipeline_free(r.p);
}

/* ---- 2. dorch_pipeline_free from inside a running task ---- */
static atomic_int g_freed;
static void count_free(void *p) {
    atomic_fetch_add(&g_freed, 1);
    free(p);
}
static DorchCode t_free_pipeline(DorchTaskContext *ctx, void *ud) {
    (void)ctx;
    dorch_pipeline_free(*(DorchPipeline **)ud);
    return DORCH_OK;
}
static DorchCode t_after(DorchTaskContext *ctx, void *ud) {
    /* runs after the pipeline handle was freed: its data must still be alive */
    const uint8_t *data = NULL;
    size_t len = 0;
    if (dorch_context_get(ctx, "seed", &data, &len) != DORCH_OK || len != 4) return DORCH_ERR_BACKEND;
    if (memcmp(ud, "mine", 5) != 0) return DORCH_ERR_BACKEND;
    return dorch_context_set_output(ctx, data, len);
}

static void test_free_inside_task(void) {
    for (uint32_t workers = 1; workers <= 3; workers += 2) {
        atomic_store(&g_freed, 0);
        DorchPipeline *p = NULL;
        CHECK_OK(dorch_pipeline_new("freed", NULL, &p));
        CHECK_OK(dorch_pipeline_set_max_workers(p, workers));
        CHECK_OK(dorch_pipeline_set_context(p, "seed", (const uint8_t *)"abcd", 4));
        DorchPipeline **slot = malloc(sizeof *slot);
        *slot = p;
        CHECK_OK(dorch_pipeline_add_task(p, "free", t_free_pipeline, slot, count_free, NULL));
        char *mine = malloc(5);
        memcpy(mine, "mine", 5);
        CHECK_OK(dorch_pipeline_add_task(p, "after", t_after, mine, count_free, NULL));
        CHECK_OK(dorch_pipeline_add_task(p, "side", t_ok, NULL, NULL, NULL));
        CHECK_OK(dorch_pipeline_add_dependency(p, "free", "after"));
        DorchRunResult *res = NULL;
        CHECK_OK(dorch_pipeline_run(p, &res));
        CHECK(dorch_run_result_task_status(res, "after") == DORCH_TASK_SUCCESS);
        const uint8_t *out = NULL;
        size_t len = 0;
        CHECK_OK(dorch_run_result_output(res, "after", &out, &len));
        CHECK(len == 4 && memcmp(out, "abcd", 4) == 0);
        /* the deferred free happened when the run ended, once per user_data */
        CHECK(atomic_load(&g_freed) == 2);
        dorch_run_result_free(res);
    }
}

/* ---- 8 and 9: custom backends over an in-memory one ---- */
typedef struct {
    DorchBackend *inner; /* first: forward.h */
    DorchCode save_code; /* what save_run returns (DORCH_OK: forward) */
    DorchBackend *self;  /* the custom backend itself, for nested runs */
    atomic_int nested_runs;
    atomic_int nested_ok;
} Fwd;

static DorchCode failing_save(void *ud, const DorchRunInfo *run) {
    Fwd *f = ud;
    if (f->save_code != DORCH_OK) {
        dorch_set_error("the host's store has no room for this run");
        return f->save_code;
    }
    return dorch_backend_save_run(f->inner, run);
}

static void test_backend_failure_code(void) {
    Fwd f;
    memset(&f, 0, sizeof f);
    CHECK_OK(dorch_backend_memory(&f.inner));
    DorchBackendVTable vt = {.struct_size = sizeof vt,
                             .flags = DORCH_BACKEND_THREAD_SAFE,
                             .save_run = failing_save,
                             .get_run = fwd_get,
                             .update_task_status = fwd_update,
                             .list_runs = fwd_list};
    DorchBackend *b = NULL;
    CHECK_OK(dorch_backend_custom(&vt, &f, &b));
    DorchPipeline *p = NULL;
    CHECK_OK(dorch_pipeline_new("nf", b, &p));
    CHECK_OK(dorch_pipeline_add_task(p, "a", t_ok, NULL, NULL, NULL));
    DorchCode codes[] = {DORCH_ERR_NOT_FOUND, DORCH_ERR_INVALID_ARGUMENT, DORCH_ERR_DUPLICATE,
                         DORCH_ERR_CONFIG, (DorchCode)77};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        f.save_code = codes[i];
        DorchRunResult *res = NULL;
        CHECK_CODE(dorch_pipeline_run(p, &res), DORCH_ERR_BACKEND);
        CHECK(res == NULL);
        CHECK_ERR_HAS("the host's store has no room for this run");
    }
    dorch_pipeline_free(p);
    dorch_backend_free(b);
    dorch_backend_free(f.inner);
}

/* A serialized vtable whose get_run runs a 2-worker pipeline on the same backend. */
static DorchCode nest_get(void *ud, const char *id, DorchRunSink *sink) {
    Fwd *f = ud;
    atomic_fetch_add(&f->nested_runs, 1);
    DorchPipeline *p = NULL;
    if (dorch_pipeline_new("nested", f->self, &p) == DORCH_OK) {
        dorch_pipeline_set_max_workers(p, 2);
        dorch_pipeline_add_task(p, "x", t_ok, NULL, NULL, NULL);
        dorch_pipeline_add_task(p, "y", t_ok, NULL, NULL, NULL);
        dorch_pipeline_add_task(p, "z", t_ok, NULL, NULL, NULL);
        DorchRunResult *res = NULL;
        if (dorch_pipeline_run(p, &res) == DORCH_OK) atomic_fetch_add(&f->nested_ok, 1);
        dorch_run_result_free(res);
        dorch_pipeline_free(p);
    }
    return fwd_get(ud, id, sink);
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "test_hardening: deadlock (no progress in 120 s)\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(3);
}

static void test_serialized_reentry(void) {
    Fwd f;
    memset(&f, 0, sizeof f);
    CHECK_OK(dorch_backend_memory(&f.inner));
    DorchBackendVTable vt = {.struct_size = sizeof vt,
                             .save_run = failing_save,
                             .get_run = nest_get,
                             .update_task_status = fwd_update,
                             .list_runs = fwd_list};
    CHECK_OK(dorch_backend_custom(&vt, &f, &f.self));
    /* a 2-worker pipeline on the same backend, called into from a vtable function */
    DorchPipeline *p = NULL;
    CHECK_OK(dorch_pipeline_new("outer", f.self, &p));
    CHECK_OK(dorch_pipeline_set_max_workers(p, 2));
    CHECK_OK(dorch_pipeline_add_task(p, "a", t_ok, NULL, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_task(p, "b", t_ok, NULL, NULL, NULL));
    DorchRunResult *res = NULL;
    CHECK_OK(dorch_pipeline_run(p, &res));
    DorchRunList *l = NULL;
    alarm(120);
    CHECK_OK(dorch_backend_get_run(f.self, dorch_run_result_run_id(res), &l));
    alarm(0);
    CHECK(dorch_run_list_len(l) == 1);
    CHECK(atomic_load(&f.nested_runs) == 1 && atomic_load(&f.nested_ok) == 1);
    dorch_run_list_free(l);
    dorch_run_result_free(res);
    /* the nested run is in the history */
    CHECK_OK(dorch_backend_list_runs(f.self, "nested", 10, &l));
    CHECK(dorch_run_list_len(l) == 1);
    if (dorch_run_list_len(l) == 1) CHECK(dorch_run_list_get(l, 0)->status == DORCH_RUN_SUCCESS);
    dorch_run_list_free(l);
    dorch_pipeline_free(p);
    dorch_backend_free(f.self);
    dorch_backend_free(f.inner);
}

int main(void) {
    signal(SIGALRM, on_alarm);
    test_change_while_running();
    test_free_inside_task();
    test_backend_failure_code();
    test_serialized_reentry();
    return check_report("test_hardening");
}
