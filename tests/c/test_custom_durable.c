/* A custom backend with the durable-history slots (lease, recover, purge,
 * store_output, get_outputs, link_resume, resumed_from), written in C: runs
 * forwarded to a memory backend, leases, outputs and links kept here.
 * Resume through the slots, recover/purge reaching the host, vtables
 * without the slots (DORCH_ERR_UNSUPPORTED, runs still work), a vtable of
 * the previous struct_size, and bad input on the sinks. */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "check.h"
#include "forward.h"

#define MAX_ROWS 64

typedef struct {
    char run[64], task[16];
    uint8_t data[16];
    size_t len;
    bool stored;
} Output;

typedef struct {
    char run[64];
    double at;
    uint64_t interval_ms;
    int renewals;
} Lease;

typedef struct {
    char task[16];
    char op; /* 'O' store_output, 'U' update_task_status */
    int status;
} Event;

typedef struct {
    DorchBackend *inner; /* first: forward.h */
    pthread_mutex_t mu;
    Output outputs[MAX_ROWS];
    size_t noutputs;
    Lease leases[MAX_ROWS];
    size_t nleases;
    char links[MAX_ROWS][2][64];
    size_t nlinks;
    Event events[MAX_ROWS * 2];
    size_t nevents;
    /* what recover/purge were given */
    uint64_t seen_stale_after_ms;
    double seen_before;
    char seen_pipeline[16]; /* "(null)" for NULL */
    int seen_dry_run;
    /* behaviours */
    int lease_unsupported;  /* renew_lease returns DORCH_ERR_UNSUPPORTED */
    int fail_output_of_b;   /* store_output fails for task B */
    int recover_fails;      /* recover returns an error with a message */
    int probe_sinks;        /* get_outputs / resumed_from try bad pushes first */
    DorchPipeline *nested;  /* recover runs it, from inside the vtable */
    DorchCode nested_rc;
} Host;

static bool run_exists(Host *h, const char *id) {
    DorchRunList *l = NULL;
    DorchCode rc = dorch_backend_get_run(h->inner, id, &l);
    dorch_run_list_free(l);
    return rc == DORCH_OK;
}

static DorchCode not_found(const char *id) {
    (void)id;
    dorch_set_error("no such run in the C host");
    return DORCH_ERR_NOT_FOUND;
}

static DorchCode h_update(void *ud, const char *id, const char *task, DorchTaskStatus st) {
    Host *h = ud;
    DorchCode rc = fwd_update(ud, id, task, st);
    pthread_mutex_lock(&h->mu);
    if (rc == DORCH_OK && h->nevents < MAX_ROWS * 2) {
        Event *e = &h->events[h->nevents++];
        snprintf(e->task, sizeof e->task, "%s", task);
        e->op = 'U';
        e->status = (int)st;
    }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

static DorchCode h_renew(void *ud, const char *id, double at, uint64_t interval_ms) {
    Host *h = ud;
    if (h->lease_unsupported) return DORCH_ERR_UNSUPPORTED;
    if (!run_exists(h, id)) return not_found(id);
    pthread_mutex_lock(&h->mu);
    size_t i = 0;
    while (i < h->nleases && strcmp(h->leases[i].run, id) != 0) i++;
    if (i == h->nleases && h->nleases < MAX_ROWS) {
        h->nleases++;
        snprintf(h->leases[i].run, sizeof h->leases[i].run, "%s", id);
        h->leases[i].renewals = 0;
    }
    if (i < MAX_ROWS) {
        h->leases[i].at = at;
        h->leases[i].interval_ms = interval_ms;
        h->leases[i].renewals++;
    }
    pthread_mutex_unlock(&h->mu);
    return DORCH_OK;
}

static DorchCode h_recover(void *ud, uint64_t stale_after_ms, uint64_t *recovered_out) {
    Host *h = ud;
    h->seen_stale_after_ms = stale_after_ms;
    if (*recovered_out != 0) return DORCH_ERR_INVALID_ARGUMENT; /* 0 on entry */
    if (h->recover_fails) {
        dorch_set_error("recovery store offline");
        return DORCH_ERR_BACKEND;
    }
    if (h->nested) {
        /* A run on this same backend from inside its (serialized) vtable:
         * it runs on this thread and must not wait for a lease thread that
         * cannot enter the backend this thread holds. */
        DorchRunOptions o = {.struct_size = sizeof o, .lease_interval_ms = 5};
        DorchRunResult *r = NULL;
        h->nested_rc = dorch_pipeline_run_with(h->nested, &o, &r);
        dorch_run_result_free(r);
    }
    /* The runs live in the inner backend, which finishes them. */
    return dorch_backend_recover(h->inner, stale_after_ms, recovered_out);
}

static DorchCode h_purge(void *ud, double before, const char *pipeline, bool dry_run,
                         uint64_t *count_out) {
    Host *h = ud;
    h->seen_before = before;
    snprintf(h->seen_pipeline, sizeof h->seen_pipeline, "%s", pipeline ? pipeline : "(null)");
    h->seen_dry_run = dry_run;
    DorchCode rc = dorch_backend_purge(h->inner, before, pipeline, dry_run, count_out);
    if (rc != DORCH_OK || dry_run) return rc;
    /* the host's own rows of the runs that went */
    pthread_mutex_lock(&h->mu);
    size_t kept = 0;
    for (size_t i = 0; i < h->noutputs; i++)
        if (run_exists(h, h->outputs[i].run)) h->outputs[kept++] = h->outputs[i];
    h->noutputs = kept;
    pthread_mutex_unlock(&h->mu);
    return DORCH_OK;
}

static DorchCode h_store_output(void *ud, const char *id, const char *task, const uint8_t *data,
                                size_t len, bool stored) {
    Host *h = ud;
    if (h->fail_output_of_b && strcmp(task, "B") == 0) {
        dorch_set_error("output volume full");
        return DORCH_ERR_BACKEND;
    }
    if (!run_exists(h, id)) return not_found(id);
    if (stored && data == NULL) {
        dorch_set_error("a stored output came as NULL");
        return DORCH_ERR_BACKEND;
    }
    if (!stored && data != NULL) {
        dorch_set_error("an output not stored came with data");
        return DORCH_ERR_BACKEND;
    }
    pthread_mutex_lock(&h->mu);
    size_t i = 0;
    while (i < h->noutputs &&
           (strcmp(h->outputs[i].run, id) != 0 || strcmp(h->outputs[i].task, task) != 0))
        i++;
    if (i == h->noutputs && h->noutputs < MAX_ROWS) h->noutputs++;
    DorchCode rc = DORCH_OK;
    if (i < MAX_ROWS && (!stored || len <= sizeof h->outputs[i].data)) {
        Output *o = &h->outputs[i];
        snprintf(o->run, sizeof o->run, "%s", id);
        snprintf(o->task, sizeof o->task, "%s", task);
        if (stored) memcpy(o->data, data, len);
        o->len = len;
        o->stored = stored;
    } else {
        dorch_set_error("the C host's output table is full");
        rc = DORCH_ERR_BACKEND;
    }
    if (rc == DORCH_OK && h->nevents < MAX_ROWS * 2) {
        Event *e = &h->events[h->nevents++];
        snprintf(e->task, sizeof e->task, "%s", task);
        e->op = 'O';
    }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

/* results of the bad pushes tried by probe_sinks */
static DorchCode g_probe[16];
static int g_nprobe;

static DorchCode h_get_outputs(void *ud, const char *id, DorchOutputSink *sink) {
    Host *h = ud;
    if (!run_exists(h, id)) return not_found(id);
    if (h->probe_sinks) {
        g_nprobe = 0;
        g_probe[g_nprobe++] = dorch_output_sink_push(NULL, "A", (const uint8_t *)"x", 1, true);
        g_probe[g_nprobe++] = dorch_output_sink_push(sink, NULL, (const uint8_t *)"x", 1, true);
        g_probe[g_nprobe++] = dorch_output_sink_push(sink, "", (const uint8_t *)"x", 1, true);
        g_probe[g_nprobe++] = dorch_output_sink_push(sink, "\xff", (const uint8_t *)"x", 1, true);
        g_probe[g_nprobe++] = dorch_output_sink_push(sink, "A", NULL, 3, true);
        /* accepted: an empty output as NULL, a big one not stored */
        g_probe[g_nprobe++] = dorch_output_sink_push(sink, "probe_empty", NULL, 0, true);
        g_probe[g_nprobe++] = dorch_output_sink_push(sink, "probe_big", NULL, 1u << 30, false);
        /* a task pushed twice */
        g_probe[g_nprobe++] = dorch_output_sink_push(sink, "probe_big", NULL, 1, false);
    }
    pthread_mutex_lock(&h->mu);
    DorchCode rc = DORCH_OK;
    for (size_t i = 0; i < h->noutputs && rc == DORCH_OK; i++) {
        const Output *o = &h->outputs[i];
        if (strcmp(o->run, id) == 0)
            rc = dorch_output_sink_push(sink, o->task, o->stored ? o->data : NULL, o->len,
                                        o->stored);
    }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

static DorchCode h_link(void *ud, const char *id, const char *original) {
    Host *h = ud;
    if (!run_exists(h, id)) return not_found(id);
    pthread_mutex_lock(&h->mu);
    if (h->nlinks < MAX_ROWS) {
        snprintf(h->links[h->nlinks][0], 64, "%s", id);
        snprintf(h->links[h->nlinks][1], 64, "%s", original);
        h->nlinks++;
    }
    pthread_mutex_unlock(&h->mu);
    return DORCH_OK;
}

static DorchCode h_resumed_from(void *ud, const char *id, DorchResumeSink *sink) {
    Host *h = ud;
    if (!run_exists(h, id)) return not_found(id);
    if (h->probe_sinks) {
        g_nprobe = 0;
        g_probe[g_nprobe++] = dorch_resume_sink_set(NULL, "x");
        g_probe[g_nprobe++] = dorch_resume_sink_set(sink, NULL);
        g_probe[g_nprobe++] = dorch_resume_sink_set(sink, "");
        g_probe[g_nprobe++] = dorch_resume_sink_set(sink, "\xff");
    }
    DorchCode rc = DORCH_OK;
    bool named = false;
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->nlinks && rc == DORCH_OK; i++) {
        if (strcmp(h->links[i][0], id) == 0) {
            rc = dorch_resume_sink_set(sink, h->links[i][1]);
            named = true;
        }
    }
    pthread_mutex_unlock(&h->mu);
    if (h->probe_sinks && named && rc == DORCH_OK) {
        /* a second name is refused; the first stays */
        g_probe[g_nprobe++] = dorch_resume_sink_set(sink, "second");
    }
    return rc;
}

static const DorchBackendVTable DURABLE = {
    .struct_size = sizeof(DorchBackendVTable),
    .flags = DORCH_BACKEND_THREAD_SAFE,
    .save_run = fwd_save,
    .get_run = fwd_get,
    .update_task_status = h_update,
    .list_runs = fwd_list,
    .renew_lease = h_renew,
    .recover = h_recover,
    .purge = h_purge,
    .store_output = h_store_output,
    .get_outputs = h_get_outputs,
    .link_resume = h_link,
    .resumed_from = h_resumed_from,
};

static Host *host_new(void) {
    Host *h = calloc(1, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    CHECK_OK(dorch_backend_memory(&h->inner));
    return h;
}
static void host_free(Host *h) {
    dorch_backend_free(h->inner);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

static const Output *output_of(Host *h, const char *run, const char *task) {
    for (size_t i = 0; i < h->noutputs; i++)
        if (strcmp(h->outputs[i].run, run) == 0 && strcmp(h->outputs[i].task, task) == 0)
            return &h->outputs[i];
    return NULL;
}
static const Lease *lease_of(Host *h, const char *run) {
    for (size_t i = 0; i < h->nleases; i++)
        if (strcmp(h->leases[i].run, run) == 0) return &h->leases[i];
    return NULL;
}

/* ---- tasks: A -> B -> C -> D, each appending its letter; C fails once ---- */
static atomic_int g_calls[4];
static atomic_int g_c_fails;

static DorchCode t_letter(DorchTaskContext *ctx, void *ud) {
    int i = (int)(intptr_t)ud;
    atomic_fetch_add(&g_calls[i], 1);
    char buf[8] = {0};
    size_t n = 0;
    if (i > 0) {
        const uint8_t *data = NULL;
        const char up[2] = {(char)('A' + i - 1), 0};
        if (dorch_context_get(ctx, up, &data, &n) != DORCH_OK || n > 4) return DORCH_ERR_NOT_FOUND;
        memcpy(buf, data, n);
    }
    if (i == 1) usleep(120 * 1000); /* long enough for a few lease renewals */
    if (i == 2 && atomic_fetch_sub(&g_c_fails, 1) > 0) {
        dorch_context_set_error(ctx, "C fails this time");
        return DORCH_ERR_BACKEND;
    }
    buf[n] = (char)('a' + i);
    return dorch_context_set_output(ctx, (const uint8_t *)buf, n + 1);
}

static DorchPipeline *abcd(DorchBackend *b) {
    DorchPipeline *p = NULL;
    CHECK_OK(dorch_pipeline_new("abcd", b, &p));
    const char *names[] = {"A", "B", "C", "D"};
    for (int i = 0; i < 4; i++) {
        CHECK_OK(dorch_pipeline_add_task(p, names[i], t_letter, (void *)(intptr_t)i, NULL, NULL));
        if (i > 0) CHECK_OK(dorch_pipeline_add_dependency(p, names[i - 1], names[i]));
    }
    return p;
}
static void reset_calls(int c_fails) {
    for (int i = 0; i < 4; i++) atomic_store(&g_calls[i], 0);
    atomic_store(&g_c_fails, c_fails);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- resume through the slots ---- */
static void test_resume_through_slots(void) {
    Host *h = host_new();
    DorchBackend *b = NULL;
    CHECK_OK(dorch_backend_custom(&DURABLE, h, &b));
    DorchPipeline *p = abcd(b);
    reset_calls(1);
    DorchRunOptions opts = {.struct_size = sizeof opts, .lease_interval_ms = 20};
    DorchRunResult *first = NULL;
    double t0 = now_s();
    CHECK_CODE(dorch_pipeline_run_with(p, &opts, &first), DORCH_ERR_TASK_FAILED);
    const char *id1 = dorch_run_result_run_id(first);

    /* the lease: written at the start, renewed by the run's thread */
    const Lease *l = lease_of(h, id1);
    CHECK(l != NULL);
    if (l) {
        CHECK(l->interval_ms == 20);
        CHECK(l->renewals >= 2);
        CHECK(l->at >= t0 - 1 && l->at <= now_s() + 1);
    }
    /* outputs of A and B kept, each stored just before its SUCCESS update */
    const Output *oa = output_of(h, id1, "A"), *ob = output_of(h, id1, "B");
    CHECK(oa && oa->stored && oa->len == 1 && memcmp(oa->data, "a", 1) == 0);
    CHECK(ob && ob->stored && ob->len == 2 && memcmp(ob->data, "ab", 2) == 0);
    CHECK(output_of(h, id1, "C") == NULL && output_of(h, id1, "D") == NULL);
    int checked = 0;
    for (size_t i = 0; i < h->nevents; i++) {
        if (h->events[i].op != 'O') continue;
        CHECK(i + 1 < h->nevents && h->events[i + 1].op == 'U' &&
              h->events[i + 1].status == DORCH_TASK_SUCCESS &&
              strcmp(h->events[i + 1].task, h->events[i].task) == 0);
        checked++;
    }
    CHECK(checked == 2);

    /* resume: A and B are not run again, C reads B's stored output */
    DorchRunResult *second = NULL;
    CHECK_OK(dorch_pipeline_resume(p, id1, NULL, &second));
    const char *id2 = dorch_run_result_run_id(second);
    CHECK(atomic_load(&g_calls[0]) == 1 && atomic_load(&g_calls[1]) == 1);
    CHECK(atomic_load(&g_calls[2]) == 2 && atomic_load(&g_calls[3]) == 1);
    CHECK(dorch_run_result_status(second) == DORCH_RUN_SUCCESS);
    const uint8_t *out = NULL;
    size_t len = 0;
    CHECK_OK(dorch_run_result_output(second, "D", &out, &len));
    CHECK(len == 4 && memcmp(out, "abcd", 4) == 0);
    /* the new run holds every output (A and B taken over) and its link */
    const char *tasks[] = {"A", "B", "C", "D"};
    for (int i = 0; i < 4; i++) CHECK(output_of(h, id2, tasks[i]) != NULL);
    CHECK(h->nlinks == 1 && strcmp(h->links[0][0], id2) == 0 && strcmp(h->links[0][1], id1) == 0);
    char *orig = NULL;
    CHECK_OK(dorch_backend_resumed_from(b, id2, &orig));
    CHECK(orig && strcmp(orig, id1) == 0);
    dorch_string_free(orig);
    orig = (char *)1;
    CHECK_OK(dorch_backend_resumed_from(b, id1, &orig));
    CHECK(orig == NULL); /* resumes none */
    CHECK_CODE(dorch_backend_resumed_from(b, "no-such-run", &orig), DORCH_ERR_NOT_FOUND);
    CHECK_ERR_HAS("no such run in the C host");
    /* the default lease interval, 2000 ms */
    const Lease *l2 = lease_of(h, id2);
    CHECK(l2 && l2->interval_ms == 2000);

    /* the resumed run can be resumed in turn (nothing left to run) */
    DorchRunResult *third = NULL;
    CHECK_OK(dorch_pipeline_resume(p, id2, NULL, &third));
    CHECK(atomic_load(&g_calls[3]) == 1);
    CHECK_OK(dorch_run_result_output(third, "D", &out, &len));
    CHECK(len == 4 && memcmp(out, "abcd", 4) == 0);
    dorch_run_result_free(third);
    CHECK_CODE(dorch_pipeline_resume(p, "no-such-run", NULL, &third), DORCH_ERR_NOT_FOUND);

    /* a failing store_output fails the run like a failed status write */
    h->fail_output_of_b = 1;
    reset_calls(0);
    DorchRunResult *r = (DorchRunResult *)1;
    CHECK_CODE(dorch_pipeline_run(p, &r), DORCH_ERR_BACKEND);
    CHECK(r == NULL);
    CHECK_ERR_HAS("output volume full");
    CHECK(atomic_load(&g_calls[2]) == 0);
    h->fail_output_of_b = 0;

    /* a host that answers UNSUPPORTED to renew_lease: runs keep no lease */
    h->lease_unsupported = 1;
    size_t nleases = h->nleases;
    CHECK_OK(dorch_pipeline_run(p, &r));
    CHECK(h->nleases == nleases);
    dorch_run_result_free(r);
    h->lease_unsupported = 0;

    dorch_run_result_free(first);
    dorch_run_result_free(second);
    dorch_pipeline_free(p);
    dorch_backend_free(b);
    host_free(h);
}

/* ---- output limits: empty, stored, not stored ---- */
static DorchCode t_sized(DorchTaskContext *ctx, void *ud) {
    size_t n = (size_t)(intptr_t)ud;
    static const uint8_t bytes[12] = "0123456789a";
    return dorch_context_set_output(ctx, bytes, n);
}
static DorchCode t_fail(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    dorch_context_set_error(ctx, "deliberate failure");
    return DORCH_ERR_TASK_FAILED;
}
static void test_output_sizes(void) {
    Host *h = host_new();
    DorchBackend *b = NULL;
    CHECK_OK(dorch_backend_custom(&DURABLE, h, &b));
    DorchPipeline *p = NULL;
    CHECK_OK(dorch_pipeline_new("sizes", b, &p));
    CHECK_OK(dorch_pipeline_add_task(p, "empty", t_sized, (void *)0, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_task(p, "small", t_sized, (void *)3, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_task(p, "big", t_sized, (void *)10, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_task(p, "after_big", t_letter, (void *)0, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_dependency(p, "big", "after_big"));
    DorchRunOptions opts = {.struct_size = sizeof opts, .max_stored_output_bytes = 4};
    DorchRunResult *r = NULL;
    CHECK_OK(dorch_pipeline_run_with(p, &opts, &r));
    const char *id = dorch_run_result_run_id(r);
    const Output *e = output_of(h, id, "empty"), *s = output_of(h, id, "small"),
                 *g = output_of(h, id, "big");
    CHECK(e && e->stored && e->len == 0);
    CHECK(s && s->stored && s->len == 3 && memcmp(s->data, "012", 3) == 0);
    CHECK(g && !g->stored && g->len == 10);

    /* get_outputs hands back what the host kept; bad pushes are refused */
    h->probe_sinks = 1;
    DorchRunResult *again = (DorchRunResult *)1;
    /* after_big succeeded, so resuming needs no output: nothing runs */
    CHECK_OK(dorch_pipeline_resume(p, id, NULL, &again));
    CHECK(g_nprobe == 8);
    for (int i = 0; i < 5; i++) CHECK(g_probe[i] == DORCH_ERR_INVALID_ARGUMENT);
    CHECK(g_probe[5] == DORCH_OK && g_probe[6] == DORCH_OK);
    CHECK(g_probe[7] == DORCH_ERR_INVALID_ARGUMENT);
    char *orig = NULL;
    CHECK_OK(dorch_backend_resumed_from(b, dorch_run_result_run_id(again), &orig));
    CHECK(orig && strcmp(orig, dorch_run_result_run_id(r)) == 0); /* not "second" */
    dorch_string_free(orig);
    CHECK(g_nprobe == 5);
    for (int i = 0; i < 5; i++) CHECK(g_probe[i] == DORCH_ERR_INVALID_ARGUMENT);
    dorch_run_result_free(again);
    h->probe_sinks = 0;
    dorch_run_result_free(r);

    /* a run whose FAILED child needs an output that was not stored */
    DorchPipeline *q = NULL;
    CHECK_OK(dorch_pipeline_new("needs_big", b, &q));
    CHECK_OK(dorch_pipeline_add_task(q, "big", t_sized, (void *)10, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_task(q, "C", t_fail, NULL, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_dependency(q, "big", "C"));
    CHECK_CODE(dorch_pipeline_run_with(q, &opts, &r), DORCH_ERR_TASK_FAILED);
    CHECK_CODE(dorch_pipeline_resume(q, dorch_run_result_run_id(r), NULL, &again),
               DORCH_ERR_INVALID_ARGUMENT);
    CHECK_ERR_HAS("was not stored");
    dorch_run_result_free(r);
    dorch_pipeline_free(q);
    dorch_pipeline_free(p);
    dorch_backend_free(b);
    host_free(h);
}

/* ---- recover and purge reach the host ---- */
static void save(DorchBackend *b, const char *pipeline, const char *id, double start,
                 DorchRunStatus st) {
    static const DorchTaskEntry tasks[] = {{"done", DORCH_TASK_SUCCESS},
                                           {"busy", DORCH_TASK_RUNNING},
                                           {"later", DORCH_TASK_PENDING}};
    DorchRunInfo run = {.pipeline_name = pipeline,
                        .run_id = id,
                        .start_time = start,
                        .status = st,
                        .tasks = tasks,
                        .tasks_len = 3};
    CHECK_OK(dorch_backend_save_run(b, &run));
}
static void test_recover_and_purge(void) {
    Host *h = host_new();
    DorchBackend *b = NULL;
    CHECK_OK(dorch_backend_custom(&DURABLE, h, &b));
    double now = now_s();
    save(b, "old", "dead", now - 3600, DORCH_RUN_RUNNING);
    uint64_t n = 99;
    CHECK_OK(dorch_backend_recover(b, 2 * 3600 * 1000, &n));
    CHECK(n == 0 && h->seen_stale_after_ms == 2 * 3600 * 1000);
    CHECK_OK(dorch_backend_recover(b, 60 * 1000, &n));
    CHECK(n == 1 && h->seen_stale_after_ms == 60 * 1000);
    DorchRunList *l = NULL;
    CHECK_OK(dorch_backend_get_run(b, "dead", &l));
    const DorchRunInfo *ri = dorch_run_list_get(l, 0);
    CHECK(ri && ri->status == DORCH_RUN_FAILED);
    dorch_run_list_free(l);
    h->recover_fails = 1;
    n = 99;
    CHECK_CODE(dorch_backend_recover(b, 1, &n), DORCH_ERR_BACKEND);
    CHECK_ERR_HAS("recovery store offline");
    CHECK(n == 0);
    h->recover_fails = 0;

    save(b, "old", "finished", 10, DORCH_RUN_SUCCESS);
    save(b, "other", "other-finished", 10, DORCH_RUN_FAILED);
    save(b, "old", "running", 10, DORCH_RUN_RUNNING);
    uint64_t dry = 0, real = 0;
    CHECK_OK(dorch_backend_purge(b, 20.5, "old", true, &dry));
    CHECK(dry == 1 && h->seen_before == 20.5 && h->seen_dry_run == 1 &&
          strcmp(h->seen_pipeline, "old") == 0);
    CHECK_OK(dorch_backend_purge(b, 20.5, "old", false, &real));
    CHECK(real == 1 && h->seen_dry_run == 0);
    CHECK_CODE(dorch_backend_get_run(b, "finished", &l), DORCH_ERR_NOT_FOUND);
    CHECK_OK(dorch_backend_purge(b, 20.5, NULL, false, &real));
    CHECK(real == 1 && strcmp(h->seen_pipeline, "(null)") == 0);
    CHECK_OK(dorch_backend_get_run(b, "running", &l)); /* never a RUNNING run */
    dorch_run_list_free(l);

    /* a purge takes the host's own rows of the runs with it */
    DorchPipeline *p = abcd(b);
    reset_calls(0);
    DorchRunResult *r = NULL;
    CHECK_OK(dorch_pipeline_run(p, &r));
    CHECK(output_of(h, dorch_run_result_run_id(r), "D") != NULL);
    CHECK_OK(dorch_backend_purge(b, now_s() + 1, "abcd", false, &real));
    CHECK(real == 1 && h->noutputs == 0);
    dorch_run_result_free(r);
    dorch_pipeline_free(p);
    dorch_backend_free(b);
    host_free(h);
}

/* ---- a run started from inside a serialized vtable (no deadlock) ---- */
static DorchCode t_slow(DorchTaskContext *ctx, void *ud) {
    (void)ctx;
    (void)ud;
    usleep(60 * 1000); /* a dozen lease intervals */
    return DORCH_OK;
}
static void test_nested_run(void) {
    Host *h = host_new();
    DorchBackendVTable vt = DURABLE;
    vt.flags = 0; /* serialized */
    DorchBackend *b = NULL;
    CHECK_OK(dorch_backend_custom(&vt, h, &b));
    CHECK_OK(dorch_pipeline_new("nested", b, &h->nested));
    CHECK_OK(dorch_pipeline_set_max_workers(h->nested, 2));
    CHECK_OK(dorch_pipeline_add_task(h->nested, "slow", t_slow, NULL, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_task(h->nested, "slow2", t_slow, NULL, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_dependency(h->nested, "slow", "slow2"));
    uint64_t n = 0;
    CHECK_OK(dorch_backend_recover(b, 1000, &n));
    CHECK(h->nested_rc == DORCH_OK);
    CHECK(h->nleases == 1); /* written when the nested run started */
    /* a task timeout there: recorded when the callback returns (the
     * watchdog thread could not enter the backend either) */
    DorchPipeline *timed = NULL;
    CHECK_OK(dorch_pipeline_new("nested_timeout", b, &timed));
    DorchTaskOptions to = {.struct_size = sizeof to, .timeout_ms = 10};
    CHECK_OK(dorch_pipeline_add_task(timed, "slow", t_slow, NULL, NULL, &to));
    DorchPipeline *first = h->nested;
    h->nested = timed;
    CHECK_OK(dorch_backend_recover(b, 1000, &n));
    CHECK(h->nested_rc == DORCH_ERR_TASK_FAILED);
    h->nested = first;
    dorch_pipeline_free(timed);
    /* the same pipeline from outside: the lease thread renews it */
    DorchPipeline *p = h->nested;
    h->nested = NULL;
    DorchRunOptions o = {.struct_size = sizeof o, .lease_interval_ms = 5};
    DorchRunResult *r = NULL;
    CHECK_OK(dorch_pipeline_run_with(p, &o, &r));
    const Lease *l = lease_of(h, dorch_run_result_run_id(r));
    CHECK(l && l->renewals >= 2);
    dorch_run_result_free(r);
    dorch_pipeline_free(p);
    dorch_backend_free(b);
    host_free(h);
}

/* ---- without the slots ---- */
static void check_unsupported(DorchBackend *b, const char *label) {
    DorchPipeline *p = abcd(b);
    reset_calls(1);
    DorchRunResult *r = NULL;
    CHECK_CODE(dorch_pipeline_run(p, &r), DORCH_ERR_TASK_FAILED); /* runs work */
    DorchRunResult *again = (DorchRunResult *)1;
    CHECK_CODE(dorch_pipeline_resume(p, dorch_run_result_run_id(r), NULL, &again),
               DORCH_ERR_UNSUPPORTED);
    CHECK(again == NULL);
    CHECK_ERR_HAS("does not store task outputs");
    uint64_t n = 99;
    CHECK_CODE(dorch_backend_recover(b, 1000, &n), DORCH_ERR_UNSUPPORTED);
    CHECK(n == 0);
    CHECK_ERR_HAS("recover");
    CHECK_CODE(dorch_backend_purge(b, 1e12, NULL, true, &n), DORCH_ERR_UNSUPPORTED);
    CHECK_ERR_HAS("purge");
    char *orig = (char *)1;
    CHECK_CODE(dorch_backend_resumed_from(b, dorch_run_result_run_id(r), &orig),
               DORCH_ERR_UNSUPPORTED);
    CHECK(orig == NULL);
    /* a fresh run still succeeds */
    dorch_run_result_free(r);
    reset_calls(0);
    CHECK_OK(dorch_pipeline_run(p, &r));
    if (dorch_run_result_status(r) != DORCH_RUN_SUCCESS) fprintf(stderr, "%s: run failed\n", label);
    dorch_run_result_free(r);
    dorch_pipeline_free(p);
}

static void test_without_slots(void) {
    Host *h = host_new();
    DorchBackend *b = NULL;
    /* the current struct, slots left NULL */
    DorchBackendVTable none = {.struct_size = sizeof none,
                               .save_run = fwd_save,
                               .get_run = fwd_get,
                               .update_task_status = fwd_update,
                               .list_runs = fwd_list};
    CHECK_OK(dorch_backend_custom(&none, h, &b));
    check_unsupported(b, "NULL slots");
    dorch_backend_free(b);

    /* the struct of the previous release: the new slots are past its
     * struct_size and never read, whatever the memory there holds */
    DorchBackendVTable old = DURABLE;
    old.struct_size = offsetof(DorchBackendVTable, renew_lease);
    old.renew_lease = (void *)1;
    old.recover = (void *)1;
    old.purge = (void *)1;
    old.store_output = (void *)1;
    old.get_outputs = (void *)1;
    old.link_resume = (void *)1;
    old.resumed_from = (void *)1;
    CHECK_OK(dorch_backend_custom(&old, h, &b));
    check_unsupported(b, "old struct_size");
    CHECK(h->nleases == 0 && h->noutputs == 0);
    dorch_backend_free(b);
    host_free(h);
}

/* ---- bad input on the new functions ---- */
static void test_bad_input(void) {
    CHECK_CODE(dorch_output_sink_push(NULL, "t", NULL, 0, true), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_ERR_HAS("sink is NULL");
    CHECK_CODE(dorch_resume_sink_set(NULL, "r"), DORCH_ERR_INVALID_ARGUMENT);
    DorchBackend *b = NULL;
    CHECK_OK(dorch_backend_memory(&b));
    char *orig = (char *)1;
    CHECK_CODE(dorch_backend_resumed_from(NULL, "x", &orig), DORCH_ERR_INVALID_ARGUMENT);
    CHECK(orig == NULL);
    CHECK_CODE(dorch_backend_resumed_from(b, NULL, &orig), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_resumed_from(b, "", &orig), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_resumed_from(b, "\xff", &orig), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_resumed_from(b, "x", NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_resumed_from(b, "x", &orig), DORCH_ERR_NOT_FOUND);
    dorch_backend_free(b);
}

int main(void) {
    test_resume_through_slots();
    test_output_sizes();
    test_recover_and_purge();
    test_nested_run();
    test_without_slots();
    test_bad_input();
    return check_report("test_custom_durable");
}
