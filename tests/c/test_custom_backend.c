/* A custom in-memory backend written in C, driven by pipelines with 4
 * workers: the exact runs and task statuses it receives, serialization of a
 * non-thread-safe vtable, re-entrant calls, failing vtables, struct_size
 * compatibility, NULL functions and destroy-exactly-once. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"

#define MAX_RUNS 16
#define MAX_TASKS 32
#define MAX_LOG 512

typedef struct {
    char *name;
    DorchTaskStatus status;
} Task;

typedef struct {
    char *pipeline, *run_id;
    double start, end;
    bool has_end;
    DorchRunStatus status;
    Task tasks[MAX_TASKS];
    size_t ntasks;
} Run;

typedef struct {
    char op;              /* 'S' save_run, 'U' update */
    char task[32];        /* for U */
    int status;           /* task status for U, run status for S */
    size_t ntasks_pending; /* for S: how many tasks were PENDING */
} LogEntry;

typedef struct {
    pthread_mutex_t mu; /* the host's own lock */
    Run runs[MAX_RUNS];
    size_t nruns;
    LogEntry log[MAX_LOG];
    size_t nlog;
    atomic_int inside, max_inside, calls;
    int destroyed;
    DorchBackend *self; /* for re-entrant calls from get_run */
    int reentered;
    unsigned sleep_us;
} Store;

static void enter(Store *s) {
    int now = atomic_fetch_add(&s->inside, 1) + 1;
    int m = atomic_load(&s->max_inside);
    while (now > m && !atomic_compare_exchange_weak(&s->max_inside, &m, now)) {
    }
    atomic_fetch_add(&s->calls, 1);
    if (s->sleep_us) usleep(s->sleep_us);
}
static void leave(Store *s) { atomic_fetch_sub(&s->inside, 1); }

static Run *find(Store *s, const char *id) {
    for (size_t i = 0; i < s->nruns; i++)
        if (strcmp(s->runs[i].run_id, id) == 0) return &s->runs[i];
    return NULL;
}

static void free_run(Run *r) {
    free(r->pipeline);
    free(r->run_id);
    for (size_t i = 0; i < r->ntasks; i++) free(r->tasks[i].name);
    r->ntasks = 0;
}

static DorchCode st_save(void *ud, const DorchRunInfo *in) {
    Store *s = ud;
    enter(s);
    pthread_mutex_lock(&s->mu);
    Run *r = find(s, in->run_id);
    if (!r) {
        if (s->nruns == MAX_RUNS || in->tasks_len > MAX_TASKS) {
            pthread_mutex_unlock(&s->mu);
            leave(s);
            dorch_set_error("store is full");
            return DORCH_ERR_BACKEND;
        }
        r = &s->runs[s->nruns++];
    } else {
        free_run(r);
    }
    r->pipeline = strdup(in->pipeline_name);
    r->run_id = strdup(in->run_id);
    r->start = in->start_time;
    r->has_end = in->has_end_time;
    r->end = in->end_time;
    r->status = in->status;
    size_t pending = 0;
    for (size_t i = 0; i < in->tasks_len; i++) {
        r->tasks[i].name = strdup(in->tasks[i].name);
        r->tasks[i].status = in->tasks[i].status;
        pending += in->tasks[i].status == DORCH_TASK_PENDING;
    }
    r->ntasks = in->tasks_len;
    if (s->nlog < MAX_LOG) s->log[s->nlog++] = (LogEntry){'S', "", (int)in->status, pending};
    pthread_mutex_unlock(&s->mu);
    leave(s);
    return DORCH_OK;
}

static void to_info(const Run *r, DorchRunInfo *info, DorchTaskEntry *entries) {
    for (size_t i = 0; i < r->ntasks; i++) {
        entries[i].name = r->tasks[i].name;
        entries[i].status = r->tasks[i].status;
    }
    *info = (DorchRunInfo){r->pipeline, r->run_id, r->start, r->has_end, r->end, r->status,
                           entries, r->ntasks};
}

static DorchCode st_get(void *ud, const char *id, DorchRunSink *sink) {
    Store *s = ud;
    enter(s);
    if (s->self) {
        /* Re-entrant call into the library, into this same backend, from the
         * thread that is inside it: must not deadlock. */
        DorchRunList *l = NULL;
        if (dorch_backend_list_runs(s->self, NULL, 100, &l) == DORCH_OK) s->reentered++;
        dorch_run_list_free(l);
    }
    DorchCode rc = DORCH_OK;
    pthread_mutex_lock(&s->mu);
    Run *r = find(s, id);
    if (r) {
        DorchTaskEntry entries[MAX_TASKS];
        DorchRunInfo info;
        to_info(r, &info, entries);
        rc = dorch_run_sink_push(sink, &info);
        /* get_run takes one run at most */
        if (rc == DORCH_OK && dorch_run_sink_push(sink, &info) != DORCH_ERR_INVALID_ARGUMENT) {
            rc = DORCH_ERR_BACKEND;
        }
    }
    pthread_mutex_unlock(&s->mu);
    leave(s);
    return rc;
}

static DorchCode st_update(void *ud, const char *id, const char *task, DorchTaskStatus st) {
    Store *s = ud;
    enter(s);
    pthread_mutex_lock(&s->mu);
    Run *r = find(s, id);
    DorchCode rc = DORCH_ERR_NOT_FOUND;
    if (r) {
        rc = DORCH_OK;
        size_t i = 0;
        while (i < r->ntasks && strcmp(r->tasks[i].name, task) != 0) i++;
        if (i == r->ntasks) {
            r->tasks[i].name = strdup(task);
            r->ntasks++;
        }
        r->tasks[i].status = st;
        if (s->nlog < MAX_LOG) {
            LogEntry e = {'U', "", (int)st, 0};
            snprintf(e.task, sizeof e.task, "%s", task);
            s->log[s->nlog++] = e;
        }
    } else {
        dorch_set_error("no such run in the C store");
    }
    pthread_mutex_unlock(&s->mu);
    leave(s);
    return rc;
}

static DorchCode st_list(void *ud, const char *pipeline, uint32_t limit, DorchRunSink *sink) {
    Store *s = ud;
    enter(s);
    pthread_mutex_lock(&s->mu);
    /* newest first: selection by start time, without reordering the store */
    int used[MAX_RUNS] = {0};
    DorchCode rc = DORCH_OK;
    for (uint32_t n = 0; n < limit && rc == DORCH_OK; n++) {
        int best = -1;
        for (size_t i = 0; i < s->nruns; i++) {
            if (used[i] || (pipeline && strcmp(s->runs[i].pipeline, pipeline) != 0)) continue;
            if (best < 0 || s->runs[i].start > s->runs[best].start) best = (int)i;
        }
        if (best < 0) break;
        used[best] = 1;
        DorchTaskEntry entries[MAX_TASKS];
        DorchRunInfo info;
        to_info(&s->runs[best], &info, entries);
        rc = dorch_run_sink_push(sink, &info);
    }
    pthread_mutex_unlock(&s->mu);
    leave(s);
    return rc;
}

static void st_destroy(void *ud) {
    Store *s = ud;
    s->destroyed++;
}

static void store_clear(Store *s) {
    for (size_t i = 0; i < s->nruns; i++) free_run(&s->runs[i]);
    s->nruns = 0;
    s->nlog = 0;
}

static const DorchBackendVTable VT = {.struct_size = sizeof(DorchBackendVTable),
                                      .save_run = st_save,
                                      .get_run = st_get,
                                      .update_task_status = st_update,
                                      .list_runs = st_list,
                                      .destroy = st_destroy};

/* ---- tasks ---- */
static DorchCode t_sleep(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    usleep(2000);
    const char *name = dorch_context_task_name(ctx);
    return dorch_context_set_output(ctx, (const uint8_t *)name, strlen(name));
}
static DorchCode t_fail(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    dorch_context_set_error(ctx, "deliberate failure");
    return DORCH_ERR_TASK_FAILED;
}

static int index_of(const Store *s, char op, const char *task, int status) {
    for (size_t i = 0; i < s->nlog; i++)
        if (s->log[i].op == op && (!task || strcmp(s->log[i].task, task) == 0) &&
            s->log[i].status == status)
            return (int)i;
    return -1;
}
static int count_op(const Store *s, char op) {
    int n = 0;
    for (size_t i = 0; i < s->nlog; i++) n += s->log[i].op == op;
    return n;
}

/* root -> w0..w7 -> join; and "bad" (fails) -> "after_bad" (skipped) */
static DorchPipeline *fan_pipeline(DorchBackend *b, int with_failure) {
    DorchPipeline *p = NULL;
    CHECK_OK(dorch_pipeline_new("fan", b, &p));
    CHECK_OK(dorch_pipeline_set_max_workers(p, 4));
    CHECK_OK(dorch_pipeline_add_task(p, "root", t_sleep, NULL, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_task(p, "join", t_sleep, NULL, NULL, NULL));
    for (int i = 0; i < 8; i++) {
        char name[8];
        snprintf(name, sizeof name, "w%d", i);
        CHECK_OK(dorch_pipeline_add_task(p, name, t_sleep, NULL, NULL, NULL));
        CHECK_OK(dorch_pipeline_add_dependency(p, "root", name));
        CHECK_OK(dorch_pipeline_add_dependency(p, name, "join"));
    }
    if (with_failure) {
        CHECK_OK(dorch_pipeline_add_task(p, "bad", t_fail, NULL, NULL, NULL));
        CHECK_OK(dorch_pipeline_add_task(p, "after_bad", t_sleep, NULL, NULL, NULL));
        CHECK_OK(dorch_pipeline_add_dependency(p, "bad", "after_bad"));
    }
    return p;
}

static void check_received(Store *s, const char *run_id, int with_failure) {
    size_t ntasks = with_failure ? 12 : 10;
    CHECK(s->nruns == 1);
    Run *r = find(s, run_id);
    CHECK(r != NULL);
    if (!r) return;
    CHECK(strcmp(r->pipeline, "fan") == 0);
    CHECK(r->status == (with_failure ? DORCH_RUN_FAILED : DORCH_RUN_SUCCESS));
    CHECK(r->has_end && r->end >= r->start && r->start > 1.6e9);
    CHECK(r->ntasks == ntasks);
    for (size_t i = 0; i < r->ntasks; i++) {
        DorchTaskStatus want = DORCH_TASK_SUCCESS;
        if (strcmp(r->tasks[i].name, "bad") == 0) want = DORCH_TASK_FAILED;
        if (strcmp(r->tasks[i].name, "after_bad") == 0) want = DORCH_TASK_SKIPPED;
        CHECK(r->tasks[i].status == want);
    }
    /* exact calls: save(RUNNING, all PENDING) first, save(final) last, and
     * RUNNING then a final status for every task that ran */
    CHECK(count_op(s, 'S') == 2);
    CHECK(s->log[0].op == 'S' && s->log[0].status == DORCH_RUN_RUNNING &&
          s->log[0].ntasks_pending == ntasks);
    CHECK(s->log[s->nlog - 1].op == 'S' && s->log[s->nlog - 1].ntasks_pending == 0);
    int ran = with_failure ? 11 : 10; /* after_bad is only SKIPPED */
    CHECK(count_op(s, 'U') == 2 * ran + (with_failure ? 1 : 0));
    CHECK(index_of(s, 'U', "after_bad", DORCH_TASK_RUNNING) < 0);
    if (with_failure) {
        CHECK(index_of(s, 'U', "bad", DORCH_TASK_FAILED) > 0);
        CHECK(index_of(s, 'U', "after_bad", DORCH_TASK_SKIPPED) >
              index_of(s, 'U', "bad", DORCH_TASK_FAILED));
    }
    int root_done = index_of(s, 'U', "root", DORCH_TASK_SUCCESS);
    int join_run = index_of(s, 'U', "join", DORCH_TASK_RUNNING);
    CHECK(index_of(s, 'U', "root", DORCH_TASK_RUNNING) > 0 && root_done > 0 && join_run > 0);
    for (int i = 0; i < 8; i++) {
        char name[8];
        snprintf(name, sizeof name, "w%d", i);
        int run = index_of(s, 'U', name, DORCH_TASK_RUNNING);
        int done = index_of(s, 'U', name, DORCH_TASK_SUCCESS);
        CHECK(run > root_done && done > run && join_run > done);
    }
}

static void test_runs_received(unsigned flags, int expect_serialized) {
    Store *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->sleep_us = 300;
    DorchBackendVTable vt = VT;
    vt.flags = flags;
    DorchBackend *b = NULL;
    CHECK_OK(dorch_backend_custom(&vt, s, &b));
    for (int with_failure = 0; with_failure < 2; with_failure++) {
        store_clear(s);
        atomic_store(&s->max_inside, 0);
        DorchPipeline *p = fan_pipeline(b, with_failure);
        DorchRunResult *res = NULL;
        CHECK_CODE(dorch_pipeline_run(p, &res), with_failure ? DORCH_ERR_TASK_FAILED : DORCH_OK);
        if (with_failure) {
            CHECK_ERR_HAS("deliberate failure");
            CHECK(dorch_run_result_task_status(res, "after_bad") == DORCH_TASK_SKIPPED);
        }
        const uint8_t *out = NULL;
        size_t len = 0;
        CHECK_OK(dorch_run_result_output(res, "w3", &out, &len));
        CHECK(len == 2 && memcmp(out, "w3", 2) == 0);
        check_received(s, dorch_run_result_run_id(res), with_failure);
        if (expect_serialized) {
            CHECK(atomic_load(&s->max_inside) == 1);
        } else {
            /* THREAD_SAFE: the 4 workers did overlap inside the vtable */
            CHECK(atomic_load(&s->max_inside) > 1);
        }

        /* reading back through the library goes through the vtable */
        DorchRunList *l = NULL;
        CHECK_OK(dorch_backend_get_run(b, dorch_run_result_run_id(res), &l));
        const DorchRunInfo *ri = dorch_run_list_get(l, 0);
        CHECK(ri && ri->tasks_len == (with_failure ? 12u : 10u) &&
              ri->status == (with_failure ? DORCH_RUN_FAILED : DORCH_RUN_SUCCESS));
        dorch_run_list_free(l);
        dorch_run_result_free(res);
        dorch_pipeline_free(p);
    }
    CHECK(s->destroyed == 0);
    dorch_backend_free(b);
    CHECK(s->destroyed == 1);
    store_clear(s);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static void test_backend_calls_and_reentry(void) {
    Store s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    DorchBackend *b = NULL;
    CHECK_OK(dorch_backend_custom(&VT, &s, &b));
    DorchTaskEntry t[1] = {{"only", DORCH_TASK_PENDING}};
    DorchRunInfo r1 = {"p1", "r1", 10.0, false, 0, DORCH_RUN_RUNNING, t, 1};
    DorchRunInfo r2 = {"p1", "r2", 30.0, true, 31.0, DORCH_RUN_SUCCESS, NULL, 0};
    DorchRunInfo r3 = {"p2", "r3", 20.0, false, 0, DORCH_RUN_RUNNING, NULL, 0};
    CHECK_OK(dorch_backend_save_run(b, &r1));
    CHECK_OK(dorch_backend_save_run(b, &r2));
    CHECK_OK(dorch_backend_save_run(b, &r3));
    CHECK_OK(dorch_backend_update_task_status(b, "r1", "only", DORCH_TASK_FAILED));
    CHECK_CODE(dorch_backend_update_task_status(b, "nope", "only", DORCH_TASK_FAILED),
               DORCH_ERR_NOT_FOUND);
    CHECK_ERR_HAS("no such run in the C store");

    s.self = b;
    DorchRunList *l = NULL;
    CHECK_OK(dorch_backend_get_run(b, "r1", &l));
    CHECK(s.reentered == 1);
    const DorchRunInfo *ri = dorch_run_list_get(l, 0);
    CHECK(ri && strcmp(ri->run_id, "r1") == 0 && ri->tasks_len == 1 &&
          ri->tasks[0].status == DORCH_TASK_FAILED && strcmp(ri->tasks[0].name, "only") == 0);
    dorch_run_list_free(l);
    CHECK_CODE(dorch_backend_get_run(b, "missing", &l), DORCH_ERR_NOT_FOUND);
    CHECK(s.reentered == 2);
    s.self = NULL;

    CHECK_OK(dorch_backend_list_runs(b, NULL, 10, &l));
    CHECK(dorch_run_list_len(l) == 3);
    CHECK(strcmp(dorch_run_list_get(l, 0)->run_id, "r2") == 0);
    CHECK(strcmp(dorch_run_list_get(l, 1)->run_id, "r3") == 0);
    CHECK(strcmp(dorch_run_list_get(l, 2)->run_id, "r1") == 0);
    dorch_run_list_free(l);
    CHECK_OK(dorch_backend_list_runs(b, "p1", 1, &l));
    CHECK(dorch_run_list_len(l) == 1 && strcmp(dorch_run_list_get(l, 0)->run_id, "r2") == 0);
    dorch_run_list_free(l);

    /* the sink: bad input */
    CHECK_CODE(dorch_run_sink_push(NULL, &r1), DORCH_ERR_INVALID_ARGUMENT);
    dorch_backend_free(b);
    CHECK(s.destroyed == 1);
    store_clear(&s);
    pthread_mutex_destroy(&s.mu);
}

/* ---- failing vtables ---- */
static int g_fail_mode = 0; /* 1: update fails on "boom" RUNNING; 2: first save fails;
                               3: fail without message; 4: return a non-code */
static Store g_fs;
static DorchCode f_save(void *ud, const DorchRunInfo *run) {
    if (g_fail_mode == 2) {
        dorch_set_error("disk quota exceeded on /data");
        return DORCH_ERR_BACKEND;
    }
    return st_save(ud, run);
}
static DorchCode f_update(void *ud, const char *id, const char *task, DorchTaskStatus st) {
    if (strcmp(task, "boom") == 0 && st == DORCH_TASK_RUNNING) {
        if (g_fail_mode == 1) {
            dorch_set_error("connection refused by the history server");
            return DORCH_ERR_BACKEND;
        }
        if (g_fail_mode == 3) return DORCH_ERR_CONFIG;
        if (g_fail_mode == 4) return (DorchCode)1234;
    }
    return st_update(ud, id, task, st);
}
static DorchCode f_get(void *ud, const char *id, DorchRunSink *sink) {
    (void)ud;
    (void)id;
    /* a bad record is refused by the sink; the host passes the error on */
    DorchRunInfo bad = {"p", "", 1.0, false, 0, DORCH_RUN_RUNNING, NULL, 0};
    DorchCode rc = dorch_run_sink_push(sink, &bad);
    if (rc != DORCH_OK) dorch_set_error(dorch_last_error());
    return rc;
}

static void test_failing_vtable(void) {
    memset(&g_fs, 0, sizeof g_fs);
    pthread_mutex_init(&g_fs.mu, NULL);
    DorchBackendVTable vt = {.struct_size = sizeof vt,
                             .save_run = f_save,
                             .get_run = f_get,
                             .update_task_status = f_update,
                             .list_runs = st_list,
                             .destroy = st_destroy};
    DorchBackend *b = NULL;
    CHECK_OK(dorch_backend_custom(&vt, &g_fs, &b));
    DorchPipeline *p = NULL;
    CHECK_OK(dorch_pipeline_new("failing", b, &p));
    CHECK_OK(dorch_pipeline_set_max_workers(p, 4));
    CHECK_OK(dorch_pipeline_add_task(p, "first", t_sleep, NULL, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_task(p, "boom", t_sleep, NULL, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_task(p, "later", t_sleep, NULL, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_dependency(p, "first", "boom"));
    CHECK_OK(dorch_pipeline_add_dependency(p, "boom", "later"));
    DorchRunResult *res = NULL;

    g_fail_mode = 1;
    res = (DorchRunResult *)0x1;
    CHECK_CODE(dorch_pipeline_run(p, &res), DORCH_ERR_BACKEND);
    CHECK(res == NULL);
    CHECK_ERR_HAS("connection refused by the history server");
    CHECK_ERR_HAS("boom");
    /* the run is closed FAILED in the store, not left silently RUNNING */
    CHECK(g_fs.nruns == 1 && g_fs.runs[0].status == DORCH_RUN_FAILED && g_fs.runs[0].has_end);

    g_fail_mode = 2;
    CHECK_CODE(dorch_pipeline_run(p, &res), DORCH_ERR_BACKEND);
    CHECK_ERR_HAS("disk quota exceeded on /data");
    CHECK(g_fs.nruns == 1); /* nothing ran */
    DorchRunInfo r = {"p", "direct", 1.0, false, 0, DORCH_RUN_RUNNING, NULL, 0};
    CHECK_CODE(dorch_backend_save_run(b, &r), DORCH_ERR_BACKEND);
    CHECK_ERR_HAS("disk quota exceeded on /data");

    g_fail_mode = 3;
    CHECK_CODE(dorch_pipeline_run(p, &res), DORCH_ERR_BACKEND);
    CHECK_ERR_HAS("DORCH_ERR_CONFIG");
    g_fail_mode = 4;
    CHECK_CODE(dorch_pipeline_run(p, &res), DORCH_ERR_BACKEND);
    CHECK_ERR_HAS("1234");

    g_fail_mode = 0;
    CHECK_OK(dorch_pipeline_run(p, &res));
    dorch_run_result_free(res);

    DorchRunList *l = NULL;
    /* a host error (whatever its code but NOT_FOUND) is a backend error */
    CHECK_CODE(dorch_backend_get_run(b, "any", &l), DORCH_ERR_BACKEND);
    CHECK(l == NULL);
    CHECK_ERR_HAS("custom backend get_run: run->run_id is empty");

    dorch_backend_free(b);
    CHECK(g_fs.destroyed == 0); /* the pipeline still holds it */
    dorch_pipeline_free(p);
    CHECK(g_fs.destroyed == 1);
    store_clear(&g_fs);
    pthread_mutex_destroy(&g_fs.mu);
}

/* ---- creation: NULL functions, struct_size ---- */
static void test_creation(void) {
    Store s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    DorchBackend *b = (DorchBackend *)0x1;
    DorchBackendVTable vt;

    CHECK_CODE(dorch_backend_custom(NULL, &s, &b), DORCH_ERR_INVALID_ARGUMENT);
    CHECK(b == NULL);
    CHECK_CODE(dorch_backend_custom(&VT, &s, NULL), DORCH_ERR_INVALID_ARGUMENT);
    vt = VT;
    vt.save_run = NULL;
    CHECK_CODE(dorch_backend_custom(&vt, &s, &b), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_ERR_HAS("save_run");
    vt = VT;
    vt.get_run = NULL;
    CHECK_CODE(dorch_backend_custom(&vt, &s, &b), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_ERR_HAS("get_run");
    vt = VT;
    vt.update_task_status = NULL;
    CHECK_CODE(dorch_backend_custom(&vt, &s, &b), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_ERR_HAS("update_task_status");
    vt = VT;
    vt.list_runs = NULL;
    CHECK_CODE(dorch_backend_custom(&vt, &s, &b), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_ERR_HAS("list_runs");
    vt = VT;
    vt.struct_size = 4;
    CHECK_CODE(dorch_backend_custom(&vt, &s, &b), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_ERR_HAS("struct_size");
    /* too small to hold list_runs: it counts as missing */
    vt = VT;
    vt.struct_size = offsetof(DorchBackendVTable, list_runs);
    CHECK_CODE(dorch_backend_custom(&vt, &s, &b), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_ERR_HAS("list_runs");
    CHECK(s.destroyed == 0); /* failed creations do not destroy user_data */

    /* an older host without the destroy field: accepted, destroy ignored */
    vt = VT;
    vt.struct_size = offsetof(DorchBackendVTable, destroy);
    CHECK_OK(dorch_backend_custom(&vt, &s, &b));
    DorchPipeline *p = NULL;
    CHECK_OK(dorch_pipeline_new("old-host", b, &p));
    CHECK_OK(dorch_pipeline_add_task(p, "t", t_sleep, NULL, NULL, NULL));
    DorchRunResult *res = NULL;
    CHECK_OK(dorch_pipeline_run(p, &res));
    CHECK(s.nruns == 1 && s.runs[0].status == DORCH_RUN_SUCCESS);
    dorch_run_result_free(res);
    dorch_pipeline_free(p);
    dorch_backend_free(b);
    CHECK(s.destroyed == 0);

    /* destroy runs once, when the last of several references goes */
    CHECK_OK(dorch_backend_custom(&VT, &s, &b));
    DorchPipeline *p1 = NULL, *p2 = NULL;
    CHECK_OK(dorch_pipeline_new("one", b, &p1));
    CHECK_OK(dorch_pipeline_new("two", b, &p2));
    dorch_backend_free(b);
    CHECK(s.destroyed == 0);
    dorch_pipeline_free(p1);
    CHECK(s.destroyed == 0);
    dorch_pipeline_free(p2);
    CHECK(s.destroyed == 1);
    store_clear(&s);
    pthread_mutex_destroy(&s.mu);
}

int main(void) {
    test_creation();
    test_backend_calls_and_reentry();
    test_runs_received(0, 1);
    test_runs_received(DORCH_BACKEND_THREAD_SAFE, 0);
    test_failing_vtable();
    return check_report("test_custom_backend");
}
