/* Pipelines driven from C callbacks: retries, trigger rules, context
 * passing, callbacks on worker threads, re-entrant calls, user_data. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "check.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- retries ---- */
typedef struct {
    atomic_int calls;
    int fail_until; /* attempts before this one fail */
    uint32_t attempts_seen[8];
} Flaky;

static DorchCode t_flaky(DorchTaskContext *ctx, void *ud) {
    Flaky *f = ud;
    int n = atomic_fetch_add(&f->calls, 1);
    if (n < 8) f->attempts_seen[n] = dorch_context_attempt(ctx);
    if ((int)dorch_context_attempt(ctx) < f->fail_until) {
        char msg[64];
        snprintf(msg, sizeof msg, "attempt %u failed", dorch_context_attempt(ctx));
        dorch_context_set_error(ctx, msg);
        return DORCH_ERR_TASK_FAILED;
    }
    return dorch_context_set_output(ctx, (const uint8_t *)"done", 4);
}

static void test_retries(void) {
    DorchPipeline *p = NULL;
    CHECK_OK(dorch_pipeline_new("retries", NULL, &p));
    Flaky ok = {0, 3, {0}};   /* fails twice, then succeeds on attempt 3 */
    Flaky never = {0, 99, {0}}; /* always fails */
    DorchTaskOptions o = {sizeof o, 2, 20, DORCH_TRIGGER_ALL_SUCCESS, 0};
    CHECK_OK(dorch_pipeline_add_task(p, "flaky", t_flaky, &ok, NULL, &o));
    DorchTaskOptions o1 = {sizeof o1, 1, 0, DORCH_TRIGGER_ALL_SUCCESS, 0};
    CHECK_OK(dorch_pipeline_add_task(p, "never", t_flaky, &never, NULL, &o1));
    DorchRunResult *res = NULL;
    double t0 = now_ms();
    CHECK_CODE(dorch_pipeline_run(p, &res), DORCH_ERR_TASK_FAILED);
    double elapsed = now_ms() - t0;
    CHECK(res != NULL);
    CHECK_ERR_HAS("never");
    CHECK_ERR_HAS("attempt 2 failed (after 2 attempts)");
    CHECK(atomic_load(&ok.calls) == 3);
    CHECK(ok.attempts_seen[0] == 1 && ok.attempts_seen[1] == 2 && ok.attempts_seen[2] == 3);
    CHECK(atomic_load(&never.calls) == 2);
    CHECK(elapsed >= 40.0); /* two retry delays of 20 ms */
    CHECK(dorch_run_result_status(res) == DORCH_RUN_FAILED);
    CHECK(dorch_run_result_task_status(res, "flaky") == DORCH_TASK_SUCCESS);
    CHECK(dorch_run_result_task_status(res, "never") == DORCH_TASK_FAILED);
    const uint8_t *d;
    size_t n;
    CHECK_OK(dorch_run_result_output(res, "flaky", &d, &n));
    CHECK(n == 4 && memcmp(d, "done", 4) == 0);
    CHECK_CODE(dorch_run_result_output(res, "never", &d, &n), DORCH_ERR_NOT_FOUND);
    const char *why = "unset";
    CHECK_OK(dorch_run_result_task_error(res, "never", &why));
    CHECK(why != NULL && strcmp(why, "attempt 2 failed (after 2 attempts)") == 0);
    CHECK_CODE(dorch_run_result_task_error(res, "flaky", &why), DORCH_ERR_NOT_FOUND);
    CHECK(why == NULL);
    CHECK_ERR_HAS("did not fail");
    CHECK_CODE(dorch_run_result_task_error(res, "ghost", &why), DORCH_ERR_NOT_FOUND);
    CHECK_CODE(dorch_run_result_task_error(res, "", &why), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_run_result_task_error(res, "\xff\xfe", &why), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_run_result_task_error(res, "never", NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_run_result_task_error(NULL, "never", &why), DORCH_ERR_INVALID_ARGUMENT);
    dorch_run_result_free(res);
    dorch_pipeline_free(p);
}

/* ---- trigger rules ---- */
static DorchCode t_ok(DorchTaskContext *ctx, void *ud) {
    (void)ctx;
    (void)ud;
    return DORCH_OK;
}
static DorchCode t_fail_set_error(DorchTaskContext *ctx, void *ud) {
    (void)ctx;
    (void)ud;
    dorch_set_error("explained with dorch_set_error");
    return DORCH_ERR_BACKEND;
}
static DorchCode t_fail_silent(DorchTaskContext *ctx, void *ud) {
    (void)ctx;
    (void)ud;
    return (DorchCode)77;
}

static void add(DorchPipeline *p, const char *name, DorchTaskFn fn, DorchTriggerRule rule) {
    DorchTaskOptions o = {sizeof o, 0, 0, rule, 0};
    CHECK_OK(dorch_pipeline_add_task(p, name, fn, NULL, NULL, &o));
}

static void test_trigger_rules(void) {
    DorchPipeline *p = NULL;
    CHECK_OK(dorch_pipeline_new("rules", NULL, &p));
    CHECK_OK(dorch_pipeline_set_max_workers(p, 3));
    add(p, "good", t_ok, DORCH_TRIGGER_ALL_SUCCESS);
    add(p, "bad", t_fail_set_error, DORCH_TRIGGER_ALL_SUCCESS);
    add(p, "silent", t_fail_silent, DORCH_TRIGGER_ALL_SUCCESS);
    /* downstream of good+bad */
    add(p, "all_success", t_ok, DORCH_TRIGGER_ALL_SUCCESS);
    add(p, "one_failed", t_ok, DORCH_TRIGGER_ONE_FAILED);
    add(p, "all_done", t_ok, DORCH_TRIGGER_ALL_DONE);
    /* downstream of good only */
    add(p, "one_failed_ok_up", t_ok, DORCH_TRIGGER_ONE_FAILED);
    /* downstream of the skipped all_success */
    add(p, "after_skip", t_ok, DORCH_TRIGGER_ALL_DONE);
    const char *downs[] = {"all_success", "one_failed", "all_done"};
    for (int i = 0; i < 3; i++) {
        CHECK_OK(dorch_pipeline_add_dependency(p, "good", downs[i]));
        CHECK_OK(dorch_pipeline_add_dependency(p, "bad", downs[i]));
    }
    CHECK_OK(dorch_pipeline_add_dependency(p, "good", "one_failed_ok_up"));
    CHECK_OK(dorch_pipeline_add_dependency(p, "all_success", "after_skip"));
    DorchRunResult *res = NULL;
    CHECK_CODE(dorch_pipeline_run(p, &res), DORCH_ERR_TASK_FAILED);
    CHECK_ERR_HAS("explained with dorch_set_error");
    CHECK_ERR_HAS("task callback returned 77");
    CHECK(dorch_run_result_task_status(res, "good") == DORCH_TASK_SUCCESS);
    CHECK(dorch_run_result_task_status(res, "bad") == DORCH_TASK_FAILED);
    CHECK(dorch_run_result_task_status(res, "silent") == DORCH_TASK_FAILED);
    CHECK(dorch_run_result_task_status(res, "all_success") == DORCH_TASK_SKIPPED);
    CHECK(dorch_run_result_task_status(res, "one_failed") == DORCH_TASK_SUCCESS);
    CHECK(dorch_run_result_task_status(res, "all_done") == DORCH_TASK_SUCCESS);
    CHECK(dorch_run_result_task_status(res, "one_failed_ok_up") == DORCH_TASK_SKIPPED);
    CHECK(dorch_run_result_task_status(res, "after_skip") == DORCH_TASK_SUCCESS);
    dorch_run_result_free(res);
    dorch_pipeline_free(p);

    /* a run of only SUCCESS and SKIPPED is SUCCESS */
    CHECK_OK(dorch_pipeline_new("skips", NULL, &p));
    add(p, "a", t_ok, DORCH_TRIGGER_ALL_SUCCESS);
    add(p, "alert", t_ok, DORCH_TRIGGER_ONE_FAILED);
    CHECK_OK(dorch_pipeline_add_dependency(p, "a", "alert"));
    CHECK_OK(dorch_pipeline_run(p, &res));
    CHECK(dorch_run_result_status(res) == DORCH_RUN_SUCCESS);
    CHECK(dorch_run_result_task_status(res, "alert") == DORCH_TASK_SKIPPED);
    dorch_run_result_free(res);
    dorch_pipeline_free(p);
}

/* ---- context passing ---- */
static DorchCode t_extract(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    const uint8_t *seed;
    size_t n;
    if (dorch_context_get(ctx, "seed", &seed, &n) != DORCH_OK) return DORCH_ERR_NOT_FOUND;
    /* output = seed * 2 as text */
    char buf[32];
    int v = atoi((const char *)seed) * 2; /* seed is "21\0" with its NUL */
    int len = snprintf(buf, sizeof buf, "%d", v);
    return dorch_context_set_output(ctx, (const uint8_t *)buf, (size_t)len);
}
static DorchCode t_sum(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    const char *ups[] = {"left", "right"};
    long total = 0;
    for (int i = 0; i < 2; i++) {
        const uint8_t *d;
        size_t n;
        if (dorch_context_get(ctx, ups[i], &d, &n) != DORCH_OK) {
            dorch_context_set_error(ctx, dorch_last_error());
            return DORCH_ERR_NOT_FOUND;
        }
        char tmp[32] = {0};
        memcpy(tmp, d, n < 31 ? n : 31);
        total += atol(tmp);
    }
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%ld", total);
    return dorch_context_set_output(ctx, (const uint8_t *)buf, (size_t)len);
}
static DorchCode t_add_one(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    const uint8_t *d;
    size_t n;
    if (dorch_context_get(ctx, "extract", &d, &n) != DORCH_OK) return DORCH_ERR_NOT_FOUND;
    char tmp[32] = {0};
    memcpy(tmp, d, n < 31 ? n : 31);
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%ld", atol(tmp) + 1);
    return dorch_context_set_output(ctx, (const uint8_t *)buf, (size_t)len);
}

static void test_context(void) {
    DorchPipeline *p = NULL;
    CHECK_OK(dorch_pipeline_new("ctx", NULL, &p));
    CHECK_OK(dorch_pipeline_set_max_workers(p, 2));
    CHECK_OK(dorch_pipeline_set_context(p, "seed", (const uint8_t *)"21", 3));
    CHECK_OK(dorch_pipeline_add_task(p, "extract", t_extract, NULL, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_task(p, "left", t_add_one, NULL, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_task(p, "right", t_add_one, NULL, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_task(p, "sum", t_sum, NULL, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_dependency(p, "extract", "left"));
    CHECK_OK(dorch_pipeline_add_dependency(p, "extract", "right"));
    CHECK_OK(dorch_pipeline_add_dependency(p, "left", "sum"));
    CHECK_OK(dorch_pipeline_add_dependency(p, "right", "sum"));
    DorchRunResult *res = NULL;
    CHECK_OK(dorch_pipeline_run(p, &res));
    const uint8_t *d;
    size_t n;
    CHECK_OK(dorch_run_result_output(res, "extract", &d, &n));
    CHECK(n == 2 && memcmp(d, "42", 2) == 0);
    CHECK_OK(dorch_run_result_output(res, "sum", &d, &n));
    CHECK(n == 2 && memcmp(d, "86", 2) == 0);
    dorch_run_result_free(res);
    /* a task's output shadows nothing it should not: the seed is unchanged
     * and a second run gives the same result */
    CHECK_OK(dorch_pipeline_run(p, &res));
    CHECK_OK(dorch_run_result_output(res, "sum", &d, &n));
    CHECK(n == 2 && memcmp(d, "86", 2) == 0);
    dorch_run_result_free(res);
    dorch_pipeline_free(p);
}

/* ---- worker threads and re-entrant calls ---- */
typedef struct {
    pthread_mutex_t mu;
    pthread_t seen[64];
    int nseen;
    atomic_int running, max_running;
    DorchBackend *backend;
    atomic_int nested_ok, list_ok;
} Threads;

static DorchCode t_inner(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    return dorch_context_set_output(ctx, (const uint8_t *)"inner", 5);
}

static DorchCode t_worker(DorchTaskContext *ctx, void *ud) {
    Threads *t = ud;
    int now = atomic_fetch_add(&t->running, 1) + 1;
    int m = atomic_load(&t->max_running);
    while (now > m && !atomic_compare_exchange_weak(&t->max_running, &m, now)) {
    }
    pthread_mutex_lock(&t->mu);
    pthread_t me = pthread_self();
    int known = 0;
    for (int i = 0; i < t->nseen; i++) known |= pthread_equal(t->seen[i], me);
    if (!known && t->nseen < 64) t->seen[t->nseen++] = me;
    pthread_mutex_unlock(&t->mu);

    /* Call back into the library from the callback: the run's own backend
     * (which the run is writing to) and a whole nested pipeline run. */
    DorchRunList *l = NULL;
    if (dorch_backend_list_runs(t->backend, "threads", 10, &l) == DORCH_OK &&
        dorch_run_list_len(l) >= 1 &&
        dorch_run_list_get(l, 0)->status == DORCH_RUN_RUNNING &&
        strcmp(dorch_run_list_get(l, 0)->run_id, dorch_context_run_id(ctx)) == 0)
        atomic_fetch_add(&t->list_ok, 1);
    dorch_run_list_free(l);
    DorchPipeline *inner = NULL;
    DorchRunResult *r = NULL;
    if (dorch_pipeline_new("inner", t->backend, &inner) == DORCH_OK &&
        dorch_pipeline_add_task(inner, "x", t_inner, NULL, NULL, NULL) == DORCH_OK &&
        dorch_pipeline_run(inner, &r) == DORCH_OK &&
        dorch_run_result_status(r) == DORCH_RUN_SUCCESS)
        atomic_fetch_add(&t->nested_ok, 1);
    dorch_run_result_free(r);
    dorch_pipeline_free(inner);

    usleep(5000);
    atomic_fetch_sub(&t->running, 1);
    return DORCH_OK;
}

static int g_free_calls = 0;
static void free_counter(void *p) {
    g_free_calls++;
    free(p);
}
static DorchCode t_change_pipeline(DorchTaskContext *ctx, void *ud) {
    DorchPipeline *p = ud;
    /* changing the running pipeline is refused, not a crash */
    DorchCode rc = dorch_pipeline_add_task(p, "late", t_ok, NULL, NULL, NULL);
    if (rc != DORCH_ERR_INVALID_ARGUMENT) return DORCH_ERR_BACKEND;
    if (strstr(dorch_last_error(), "running") == NULL) return DORCH_ERR_BACKEND;
    (void)ctx;
    return DORCH_OK;
}

static void test_threads(void) {
    Threads t;
    memset(&t, 0, sizeof t);
    pthread_mutex_init(&t.mu, NULL);
    CHECK_OK(dorch_backend_memory(&t.backend));
    DorchPipeline *p = NULL;
    CHECK_OK(dorch_pipeline_new("threads", t.backend, &p));
    CHECK_OK(dorch_pipeline_set_max_workers(p, 4));
    for (int i = 0; i < 16; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%02d", i);
        CHECK_OK(dorch_pipeline_add_task(p, name, t_worker, &t, NULL, NULL));
    }
    /* user_data owned by the pipeline, freed once */
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "owned%d", i);
        CHECK_OK(dorch_pipeline_add_task(p, name, t_ok, malloc(16), free_counter, NULL));
    }
    CHECK_OK(dorch_pipeline_add_task(p, "changer", t_change_pipeline, p, NULL, NULL));
    DorchRunResult *res = NULL;
    pthread_t main_thread = pthread_self();
    CHECK_OK(dorch_pipeline_run(p, &res));
    CHECK(dorch_run_result_status(res) == DORCH_RUN_SUCCESS);
    CHECK(dorch_run_result_task_status(res, "changer") == DORCH_TASK_SUCCESS);
    dorch_run_result_free(res);
    CHECK(atomic_load(&t.max_running) > 1 && atomic_load(&t.max_running) <= 4);
    int other = 0;
    for (int i = 0; i < t.nseen; i++) other |= !pthread_equal(t.seen[i], main_thread);
    CHECK(t.nseen > 1 && t.nseen <= 4 && other); /* callbacks ran on worker threads */
    CHECK(atomic_load(&t.nested_ok) == 16);
    CHECK(atomic_load(&t.list_ok) == 16);
    /* the pipeline can be run again and changed after the run */
    CHECK_OK(dorch_pipeline_add_task(p, "late", t_ok, NULL, NULL, NULL));
    CHECK_OK(dorch_pipeline_run(p, &res));
    CHECK(dorch_run_result_task_status(res, "late") == DORCH_TASK_SUCCESS);
    dorch_run_result_free(res);
    /* the inner pipelines recorded their runs in the shared backend */
    DorchRunList *l = NULL;
    CHECK_OK(dorch_backend_list_runs(t.backend, "inner", 100, &l));
    CHECK(dorch_run_list_len(l) == 32);
    dorch_run_list_free(l);
    CHECK(g_free_calls == 0);
    dorch_pipeline_free(p);
    CHECK(g_free_calls == 3);
    dorch_backend_free(t.backend);
    pthread_mutex_destroy(&t.mu);
}

/* dorch_last_error is per thread */
static void *other_thread(void *arg) {
    (void)arg;
    DorchBackend *b = NULL;
    dorch_backend_open("nope://", &b);
    return strstr(dorch_last_error(), "nope") ? (void *)1 : NULL;
}
static void test_error_per_thread(void) {
    DorchBackend *b = NULL;
    dorch_backend_open("", &b);
    pthread_t th;
    void *ret = NULL;
    pthread_create(&th, NULL, other_thread, NULL);
    pthread_join(th, &ret);
    CHECK(ret == (void *)1);
    CHECK(strstr(dorch_last_error(), "nope") == NULL);
    CHECK_ERR_HAS("url is empty");
}

int main(void) {
    test_retries();
    test_trigger_rules();
    test_context();
    test_threads();
    test_error_per_thread();
    return check_report("test_pipeline");
}
