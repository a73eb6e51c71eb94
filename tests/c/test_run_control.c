/* Run control from C: cancel tokens, run and task timeouts, task detail,
 * the listener, old-size option structs, custom backends with and without
 * the detail slots, and bad input on every new function. */
#define _GNU_SOURCE
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

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static DorchCode t_ok(DorchTaskContext *ctx, void *ud) {
    (void)ctx;
    (void)ud;
    return DORCH_OK;
}

/* ---- a 50-task chain cancelled by task 10 ---- */
typedef struct {
    DorchCancelToken *token;
    atomic_int started;
} Chain;

static DorchCode t_chain(DorchTaskContext *ctx, void *ud) {
    Chain *c = ud;
    atomic_fetch_add(&c->started, 1);
    if (strcmp(dorch_context_task_name(ctx), "t10") == 0) {
        CHECK_OK(dorch_cancel_token_cancel(c->token, "enough"));
        CHECK(dorch_context_is_cancelled(ctx));
        CHECK_CODE(dorch_context_sleep(ctx, 60000), DORCH_ERR_CANCELLED);
    }
    return DORCH_OK;
}

static void test_cancel_chain(const char *url) {
    Chain c = {0};
    CHECK_OK(dorch_cancel_token_new(&c.token));
    CHECK(!dorch_cancel_token_is_cancelled(c.token));
    DorchBackend *b = NULL;
    CHECK_OK(dorch_backend_open(url, &b));
    DorchPipeline *p = NULL;
    CHECK_OK(dorch_pipeline_new("cancel_chain", b, &p));
    for (int i = 1; i <= 50; i++) {
        char name[8], prev[8];
        snprintf(name, sizeof name, "t%02d", i);
        CHECK_OK(dorch_pipeline_add_task(p, name, t_chain, &c, NULL, NULL));
        if (i > 1) {
            snprintf(prev, sizeof prev, "t%02d", i - 1);
            CHECK_OK(dorch_pipeline_add_dependency(p, prev, name));
        }
    }
    DorchRunOptions opts = {.struct_size = sizeof opts, .cancel = c.token};
    DorchRunResult *r = NULL;
    CHECK_CODE(dorch_pipeline_run_with(p, &opts, &r), DORCH_ERR_CANCELLED);
    CHECK_ERR_HAS("cancelled: enough");
    CHECK(r != NULL);
    CHECK(atomic_load(&c.started) == 10);
    CHECK(dorch_cancel_token_is_cancelled(c.token));
    CHECK(dorch_run_result_status(r) == DORCH_RUN_FAILED);
    CHECK(dorch_run_result_task_status(r, "t10") == DORCH_TASK_SUCCESS);
    const DorchTaskDetail *d = NULL;
    CHECK_OK(dorch_run_result_task_detail(r, "t11", &d));
    CHECK(d && d->status == DORCH_TASK_SKIPPED && d->attempts == 0 && !d->has_start_time);
    CHECK(d && d->error && strcmp(d->error, "cancelled: enough") == 0);
    /* nothing RUNNING or PENDING in the backend */
    DorchRunList *l = NULL;
    CHECK_OK(dorch_backend_get_run(b, dorch_run_result_run_id(r), &l));
    const DorchRunInfo *info = dorch_run_list_get(l, 0);
    CHECK(info && info->status == DORCH_RUN_FAILED && info->tasks_len == 50);
    for (size_t i = 0; info && i < info->tasks_len; i++)
        CHECK(info->tasks[i].status != DORCH_TASK_RUNNING &&
              info->tasks[i].status != DORCH_TASK_PENDING);
    dorch_run_list_free(l);
    dorch_run_result_free(r);
    dorch_pipeline_free(p);
    dorch_backend_free(b);
    dorch_cancel_token_free(c.token);
}

/* ---- cancel from another thread ---- */
static void *cancel_later(void *arg) {
    usleep(200 * 1000);
    dorch_cancel_token_cancel(arg, NULL);
    return NULL;
}
static DorchCode t_sleep_long(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    return dorch_context_sleep(ctx, 60000);
}

static void test_cancel_from_thread(void) {
    DorchCancelToken *t = NULL;
    CHECK_OK(dorch_cancel_token_new(&t));
    DorchPipeline *p = NULL;
    CHECK_OK(dorch_pipeline_new("cancel_thread", NULL, &p));
    CHECK_OK(dorch_pipeline_add_task(p, "sleeper", t_sleep_long, NULL, NULL, NULL));
    pthread_t th;
    pthread_create(&th, NULL, cancel_later, t);
    DorchRunOptions opts = {.struct_size = sizeof opts, .cancel = t};
    DorchRunResult *r = NULL;
    double t0 = now_ms();
    CHECK_CODE(dorch_pipeline_run_with(p, &opts, &r), DORCH_ERR_CANCELLED);
    CHECK(now_ms() - t0 < 20000);
    pthread_join(th, NULL);
    const DorchTaskDetail *d = NULL;
    CHECK_OK(dorch_run_result_task_detail(r, "sleeper", &d));
    CHECK(d && d->status == DORCH_TASK_FAILED && d->error &&
          strcmp(d->error, "cancelled: cancelled by the host") == 0);
    dorch_run_result_free(r);
    dorch_pipeline_free(p);
    dorch_cancel_token_free(t);
}

/* ---- run timeout ---- */
static void test_run_timeout(void) {
    DorchPipeline *p = NULL;
    CHECK_OK(dorch_pipeline_new("run_timeout", NULL, &p));
    CHECK_OK(dorch_pipeline_add_task(p, "slow", t_sleep_long, NULL, NULL, NULL));
    DorchRunOptions opts = {.struct_size = sizeof opts, .timeout_ms = 300};
    DorchRunResult *r = NULL;
    double t0 = now_ms();
    CHECK_CODE(dorch_pipeline_run_with(p, &opts, &r), DORCH_ERR_TIMEOUT);
    CHECK(now_ms() - t0 < 20000);
    CHECK(dorch_run_result_status(r) == DORCH_RUN_FAILED);
    const DorchTaskDetail *d = NULL;
    CHECK_OK(dorch_run_result_task_detail(r, "slow", &d));
    CHECK(d && d->error && strcmp(d->error, "run timed out after 300 ms") == 0);
    dorch_run_result_free(r);
    dorch_pipeline_free(p);
    /* NULL options: a plain run */
    CHECK_OK(dorch_pipeline_new("plain", NULL, &p));
    CHECK_OK(dorch_pipeline_add_task(p, "a", t_ok, NULL, NULL, NULL));
    CHECK_OK(dorch_pipeline_run_with(p, NULL, &r));
    dorch_run_result_free(r);
    /* an old host's smaller DorchRunOptions: no token */
    DorchRunOptions small = {.struct_size = offsetof(DorchRunOptions, cancel),
                             .cancel = (DorchCancelToken *)1};
    CHECK_OK(dorch_pipeline_run_with(p, &small, &r));
    dorch_run_result_free(r);
    dorch_pipeline_free(p);
}

/* ---- task timeout with all_done and all_success children ---- */
static atomic_int g_hung_calls;
static atomic_int g_child_ran_first; /* the all_done child ran before the hung callback returned */
static atomic_int g_hung_returned;
static DorchCode t_hung(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    atomic_fetch_add(&g_hung_calls, 1);
    usleep(1500 * 1000); /* ignores cancellation for a while */
    CHECK(dorch_context_is_cancelled(ctx));
    atomic_store(&g_hung_returned, 1);
    return DORCH_OK;
}
static DorchCode t_cleanup(DorchTaskContext *ctx, void *ud) {
    (void)ctx;
    (void)ud;
    if (!atomic_load(&g_hung_returned)) atomic_store(&g_child_ran_first, 1);
    return DORCH_OK;
}

static void test_task_timeout(void) {
    DorchPipeline *p = NULL;
    CHECK_OK(dorch_pipeline_new("task_timeout", NULL, &p));
    CHECK_OK(dorch_pipeline_set_max_workers(p, 2));
    DorchTaskOptions o = {sizeof o, 3, 0, DORCH_TRIGGER_ALL_SUCCESS, 200};
    CHECK_OK(dorch_pipeline_add_task(p, "hung", t_hung, NULL, NULL, &o));
    DorchTaskOptions all_done = {sizeof all_done, 0, 0, DORCH_TRIGGER_ALL_DONE, 0};
    CHECK_OK(dorch_pipeline_add_task(p, "cleanup", t_cleanup, NULL, NULL, &all_done));
    CHECK_OK(dorch_pipeline_add_task(p, "use", t_ok, NULL, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_dependency(p, "hung", "cleanup"));
    CHECK_OK(dorch_pipeline_add_dependency(p, "hung", "use"));
    DorchRunResult *r = NULL;
    CHECK_CODE(dorch_pipeline_run(p, &r), DORCH_ERR_TASK_FAILED);
    CHECK_ERR_HAS("timed out after 200 ms");
    CHECK(atomic_load(&g_hung_calls) == 1); /* retries not tried */
    CHECK(atomic_load(&g_hung_returned) == 1); /* the run waited for the callback */
    CHECK(atomic_load(&g_child_ran_first) == 1);
    CHECK(dorch_run_result_task_status(r, "cleanup") == DORCH_TASK_SUCCESS);
    CHECK(dorch_run_result_task_status(r, "use") == DORCH_TASK_SKIPPED);
    const DorchTaskDetail *d = NULL;
    CHECK_OK(dorch_run_result_task_detail(r, "hung", &d));
    CHECK(d && d->attempts == 1 && d->has_start_time && d->has_end_time &&
          d->start_time <= d->end_time);
    dorch_run_result_free(r);
    dorch_pipeline_free(p);
}

/* ---- an old host's DorchTaskOptions (no timeout_ms) ---- */
static atomic_int g_old_calls;
static DorchCode t_old(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    atomic_fetch_add(&g_old_calls, 1);
    usleep(300 * 1000);
    CHECK(!dorch_context_is_cancelled(ctx));
    return dorch_context_attempt(ctx) < 2 ? DORCH_ERR_BACKEND : DORCH_OK;
}
static void test_old_task_options(void) {
    DorchPipeline *p = NULL;
    CHECK_OK(dorch_pipeline_new("old_opts", NULL, &p));
    /* the 0.1 layout: timeout_ms beyond struct_size holds garbage */
    DorchTaskOptions o = {offsetof(DorchTaskOptions, timeout_ms), 1, 0, DORCH_TRIGGER_ALL_SUCCESS, 1};
    CHECK_OK(dorch_pipeline_add_task(p, "old", t_old, NULL, NULL, &o));
    DorchRunResult *r = NULL;
    CHECK_OK(dorch_pipeline_run(p, &r));
    CHECK(atomic_load(&g_old_calls) == 2);
    const DorchTaskDetail *d = NULL;
    CHECK_OK(dorch_run_result_task_detail(r, "old", &d));
    CHECK(d && d->attempts == 2 && d->status == DORCH_TASK_SUCCESS && d->error == NULL);
    dorch_run_result_free(r);
    dorch_pipeline_free(p);
}

/* ---- details after a retry, from the result and from the backend ---- */
static DorchCode t_always(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    dorch_context_set_error(ctx, "always");
    return DORCH_ERR_BACKEND;
}
/* The backend's details of run `run_id` are `d`'s, its only task: every
 * built-in backend keeps task details, so DORCH_ERR_UNSUPPORTED fails. */
static void check_stored_details(DorchBackend *b, const char *run_id, const DorchTaskDetail *d) {
    DorchTaskDetailList *l = NULL;
    CHECK_OK(dorch_backend_get_task_details(b, run_id, &l));
    CHECK(l != NULL && dorch_task_detail_list_len(l) == 1);
    const DorchTaskDetail *s = dorch_task_detail_list_get(l, 0);
    CHECK(s && strcmp(s->name, "bad") == 0 && s->attempts == 2 &&
          s->status == DORCH_TASK_FAILED && s->error &&
          strcmp(s->error, "always (after 2 attempts)") == 0);
    CHECK(s && s->has_start_time && s->has_end_time);
    CHECK(s && d && s->start_time == d->start_time && s->end_time == d->end_time);
    CHECK(dorch_task_detail_list_get(l, 1) == NULL);
    dorch_task_detail_list_free(l);
    l = NULL;
    CHECK_CODE(dorch_backend_get_task_details(b, "no-such-run", &l), DORCH_ERR_NOT_FOUND);
    CHECK(l == NULL);
}
static void test_details(const char *url) {
    DorchBackend *b = NULL;
    CHECK_OK(dorch_backend_open(url, &b));
    DorchPipeline *p = NULL;
    CHECK_OK(dorch_pipeline_new("details", b, &p));
    DorchTaskOptions o = {sizeof o, 1, 10, DORCH_TRIGGER_ALL_SUCCESS, 0};
    CHECK_OK(dorch_pipeline_add_task(p, "bad", t_always, NULL, NULL, &o));
    DorchRunResult *r = NULL;
    CHECK_CODE(dorch_pipeline_run(p, &r), DORCH_ERR_TASK_FAILED);
    const DorchTaskDetail *d = NULL;
    CHECK_OK(dorch_run_result_task_detail(r, "bad", &d));
    CHECK(d && d->attempts == 2 && d->error && strcmp(d->error, "always (after 2 attempts)") == 0);
    CHECK(d && d->has_start_time && d->has_end_time && d->start_time <= d->end_time);
    check_stored_details(b, dorch_run_result_run_id(r), d);
    dorch_pipeline_free(p);
    dorch_backend_free(b);
    if (strncmp(url, "memory", 6) != 0) {
        /* read back from the storage opened anew */
        b = NULL;
        CHECK_OK(dorch_backend_open(url, &b));
        check_stored_details(b, dorch_run_result_run_id(r), d);
        dorch_backend_free(b);
    }
    dorch_run_result_free(r);
}

/* ---- the listener ---- */
typedef struct {
    pthread_mutex_t mu;
    char log[2048];
} Log;
static void on_run(void *ud, const char *pipeline, const char *run_id, DorchRunStatus s) {
    Log *l = ud;
    (void)run_id;
    pthread_mutex_lock(&l->mu);
    snprintf(l->log + strlen(l->log), sizeof l->log - strlen(l->log), "run %s %d;", pipeline, (int)s);
    pthread_mutex_unlock(&l->mu);
}
static void on_task(void *ud, const char *run_id, const DorchTaskDetail *t) {
    Log *l = ud;
    (void)run_id;
    pthread_mutex_lock(&l->mu);
    snprintf(l->log + strlen(l->log), sizeof l->log - strlen(l->log), "%s %d %u;", t->name,
             (int)t->status, t->attempts);
    pthread_mutex_unlock(&l->mu);
}
static DorchCode t_fail(DorchTaskContext *ctx, void *ud) {
    (void)ctx;
    (void)ud;
    return DORCH_ERR_BACKEND;
}
static void test_listener(void) {
    Log log;
    memset(&log, 0, sizeof log);
    pthread_mutex_init(&log.mu, NULL);
    DorchPipeline *p = NULL;
    CHECK_OK(dorch_pipeline_new("listened", NULL, &p));
    CHECK_OK(dorch_pipeline_add_task(p, "a", t_ok, NULL, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_task(p, "b", t_fail, NULL, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_task(p, "c", t_ok, NULL, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_dependency(p, "a", "b"));
    CHECK_OK(dorch_pipeline_add_dependency(p, "b", "c"));
    DorchListener l = {sizeof l, &log, on_run, on_task};
    CHECK_OK(dorch_pipeline_set_listener(p, &l));
    DorchRunResult *r = NULL;
    CHECK_CODE(dorch_pipeline_run(p, &r), DORCH_ERR_TASK_FAILED);
    CHECK(strcmp(log.log, "run listened 0;a 1 1;a 2 1;b 1 1;b 3 1;c 4 0;run listened 2;") == 0);
    if (strcmp(log.log, "run listened 0;a 1 1;a 2 1;b 1 1;b 3 1;c 4 0;run listened 2;") != 0)
        fprintf(stderr, "listener log: %s\n", log.log);
    dorch_run_result_free(r);
    /* removed: no more calls */
    CHECK_OK(dorch_pipeline_set_listener(p, NULL));
    log.log[0] = 0;
    CHECK_CODE(dorch_pipeline_run(p, &r), DORCH_ERR_TASK_FAILED);
    CHECK(log.log[0] == 0);
    dorch_run_result_free(r);
    /* an older, smaller listener: only on_run */
    DorchListener small = {offsetof(DorchListener, on_task), &log, on_run, (void *)1};
    CHECK_OK(dorch_pipeline_set_listener(p, &small));
    CHECK_CODE(dorch_pipeline_run(p, &r), DORCH_ERR_TASK_FAILED);
    CHECK(strcmp(log.log, "run listened 0;run listened 2;") == 0);
    dorch_run_result_free(r);
    DorchListener tiny = {4, &log, NULL, NULL};
    CHECK_CODE(dorch_pipeline_set_listener(p, &tiny), DORCH_ERR_INVALID_ARGUMENT);
    dorch_pipeline_free(p);
    pthread_mutex_destroy(&log.mu);
}

/* ---- custom backends with and without the detail slots ---- */
typedef struct {
    DorchBackend *inner; /* first: forward.h */
    atomic_int detail_calls;
} Fwd;
/* The detail slots keep one detail per task in a tiny table. */
typedef struct {
    char name[16];
    DorchTaskDetail d;
    char error[64];
} Kept;
static Kept g_kept[8];
static int g_nkept;
static pthread_mutex_t g_kept_mu = PTHREAD_MUTEX_INITIALIZER;
static DorchCode f_update_detail(void *ud, const char *id, const DorchTaskDetail *d) {
    Fwd *f = ud;
    atomic_fetch_add(&f->detail_calls, 1);
    DorchCode rc = dorch_backend_update_task_status(f->inner, id, d->name, d->status);
    if (rc != DORCH_OK) return rc;
    pthread_mutex_lock(&g_kept_mu);
    int i = 0;
    while (i < g_nkept && strcmp(g_kept[i].name, d->name) != 0) i++;
    if (i == g_nkept && g_nkept < 8) g_nkept++;
    if (i < 8) {
        snprintf(g_kept[i].name, sizeof g_kept[i].name, "%s", d->name);
        snprintf(g_kept[i].error, sizeof g_kept[i].error, "%s", d->error ? d->error : "");
        g_kept[i].d = *d;
        g_kept[i].d.name = g_kept[i].name;
        g_kept[i].d.error = d->error ? g_kept[i].error : NULL;
    }
    pthread_mutex_unlock(&g_kept_mu);
    return DORCH_OK;
}
static DorchCode f_get_details(void *ud, const char *id, DorchTaskDetailSink *sink) {
    (void)ud;
    (void)id;
    pthread_mutex_lock(&g_kept_mu);
    DorchCode rc = DORCH_OK;
    for (int i = 0; i < g_nkept && rc == DORCH_OK; i++) rc = dorch_task_detail_sink_push(sink, &g_kept[i].d);
    pthread_mutex_unlock(&g_kept_mu);
    return rc;
}

static void test_custom_backends(void) {
    Fwd f;
    memset(&f, 0, sizeof f);
    CHECK_OK(dorch_backend_memory(&f.inner));
    /* the 0.1 vtable: no detail slots */
    DorchBackendVTable old = {.struct_size = offsetof(DorchBackendVTable, update_task_detail),
                              .save_run = fwd_save,
                              .get_run = fwd_get,
                              .update_task_status = fwd_update,
                              .list_runs = fwd_list,
                              .update_task_detail = (void *)1,
                              .get_task_details = (void *)1};
    DorchBackend *b = NULL;
    CHECK_OK(dorch_backend_custom(&old, &f, &b));
    DorchPipeline *p = NULL;
    CHECK_OK(dorch_pipeline_new("custom_old", b, &p));
    CHECK_OK(dorch_pipeline_add_task(p, "a", t_ok, NULL, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_task(p, "b", t_fail, NULL, NULL, NULL));
    DorchRunResult *r = NULL;
    CHECK_CODE(dorch_pipeline_run(p, &r), DORCH_ERR_TASK_FAILED);
    DorchTaskDetailList *l = NULL;
    CHECK_CODE(dorch_backend_get_task_details(b, dorch_run_result_run_id(r), &l),
               DORCH_ERR_UNSUPPORTED);
    CHECK(l == NULL);
    DorchRunList *runs = NULL;
    CHECK_OK(dorch_backend_get_run(b, dorch_run_result_run_id(r), &runs));
    CHECK(dorch_run_list_get(runs, 0)->status == DORCH_RUN_FAILED);
    dorch_run_list_free(runs);
    dorch_run_result_free(r);
    dorch_pipeline_free(p);
    dorch_backend_free(b);
    CHECK(atomic_load(&f.detail_calls) == 0);

    /* with the slots: details go through them */
    DorchBackendVTable vt = {.struct_size = sizeof vt,
                             .flags = DORCH_BACKEND_THREAD_SAFE,
                             .save_run = fwd_save,
                             .get_run = fwd_get,
                             .update_task_status = fwd_update,
                             .list_runs = fwd_list,
                             .update_task_detail = f_update_detail,
                             .get_task_details = f_get_details};
    CHECK_OK(dorch_backend_custom(&vt, &f, &b));
    CHECK_OK(dorch_pipeline_new("custom_new", b, &p));
    CHECK_OK(dorch_pipeline_add_task(p, "a", t_ok, NULL, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_task(p, "b", t_fail, NULL, NULL, NULL));
    CHECK_CODE(dorch_pipeline_run(p, &r), DORCH_ERR_TASK_FAILED);
    CHECK(atomic_load(&f.detail_calls) == 4); /* RUNNING and final, for each task */
    CHECK_OK(dorch_backend_get_task_details(b, dorch_run_result_run_id(r), &l));
    CHECK(dorch_task_detail_list_len(l) == 2);
    const DorchTaskDetail *d = dorch_task_detail_list_get(l, 1);
    CHECK(d && strcmp(d->name, "b") == 0 && d->status == DORCH_TASK_FAILED && d->attempts == 1 &&
          d->error && strcmp(d->error, "task callback returned DORCH_ERR_BACKEND") == 0);
    dorch_task_detail_list_free(l);
    dorch_run_result_free(r);
    dorch_pipeline_free(p);
    dorch_backend_free(b);
    dorch_backend_free(f.inner);
}

/* ---- bad input on every new function ---- */
static DorchCode t_bad_context(DorchTaskContext *ctx, void *ud) {
    (void)ctx;
    (void)ud;
    CHECK(!dorch_context_is_cancelled(NULL));
    CHECK_CODE(dorch_context_sleep(NULL, 1), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_OK(dorch_context_sleep(ctx, 0));
    return DORCH_OK;
}
static void test_bad_input(void) {
    DorchCancelToken *t = NULL;
    CHECK_CODE(dorch_cancel_token_new(NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_cancel_token_cancel(NULL, "x"), DORCH_ERR_INVALID_ARGUMENT);
    CHECK(!dorch_cancel_token_is_cancelled(NULL));
    CHECK_ERR_HAS("token is NULL");
    dorch_cancel_token_free(NULL);
    CHECK_OK(dorch_cancel_token_new(&t));
    CHECK_CODE(dorch_cancel_token_cancel(t, "\xff\xfe"), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_ERR_HAS("UTF-8");
    CHECK_CODE(dorch_cancel_token_cancel(t, ""), DORCH_ERR_INVALID_ARGUMENT);
    CHECK(!dorch_cancel_token_is_cancelled(t));
    CHECK_OK(dorch_cancel_token_cancel(t, "first"));
    CHECK_OK(dorch_cancel_token_cancel(t, "second")); /* idempotent */
    CHECK(dorch_cancel_token_is_cancelled(t));

    DorchPipeline *p = NULL;
    DorchRunResult *r = (DorchRunResult *)1;
    CHECK_CODE(dorch_pipeline_run_with(NULL, NULL, &r), DORCH_ERR_INVALID_ARGUMENT);
    CHECK(r == NULL);
    CHECK_OK(dorch_pipeline_new("bad", NULL, &p));
    CHECK_OK(dorch_pipeline_add_task(p, "ctx", t_bad_context, NULL, NULL, NULL));
    CHECK_CODE(dorch_pipeline_run_with(p, NULL, NULL), DORCH_ERR_INVALID_ARGUMENT);
    DorchRunOptions zero = {.struct_size = 0};
    CHECK_CODE(dorch_pipeline_run_with(p, &zero, &r), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_ERR_HAS("struct_size");
    CHECK_CODE(dorch_pipeline_set_listener(NULL, NULL), DORCH_ERR_INVALID_ARGUMENT);
    /* a fired token: nothing runs, every task SKIPPED */
    DorchRunOptions opts = {.struct_size = sizeof opts, .cancel = t};
    CHECK_CODE(dorch_pipeline_run_with(p, &opts, &r), DORCH_ERR_CANCELLED);
    CHECK_ERR_HAS("cancelled: first");
    CHECK(dorch_run_result_task_status(r, "ctx") == DORCH_TASK_SKIPPED);
    const DorchTaskDetail *d = (const DorchTaskDetail *)1;
    CHECK_CODE(dorch_run_result_task_detail(NULL, "ctx", &d), DORCH_ERR_INVALID_ARGUMENT);
    CHECK(d == NULL);
    CHECK_CODE(dorch_run_result_task_detail(r, NULL, &d), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_run_result_task_detail(r, "\xff", &d), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_run_result_task_detail(r, "nope", &d), DORCH_ERR_NOT_FOUND);
    CHECK_CODE(dorch_run_result_task_detail(r, "ctx", NULL), DORCH_ERR_INVALID_ARGUMENT);
    dorch_run_result_free(r);
    CHECK_OK(dorch_pipeline_run_with(p, NULL, &r));
    dorch_run_result_free(r);

    DorchBackend *b = NULL;
    CHECK_OK(dorch_backend_memory(&b));
    DorchTaskDetailList *l = (DorchTaskDetailList *)1;
    CHECK_CODE(dorch_backend_get_task_details(NULL, "x", &l), DORCH_ERR_INVALID_ARGUMENT);
    CHECK(l == NULL);
    CHECK_CODE(dorch_backend_get_task_details(b, NULL, &l), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_get_task_details(b, "\xff", &l), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_get_task_details(b, "", &l), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_get_task_details(b, "x", NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK(dorch_task_detail_list_len(NULL) == 0);
    CHECK(dorch_task_detail_list_get(NULL, 0) == NULL);
    dorch_task_detail_list_free(NULL);
    CHECK_CODE(dorch_task_detail_sink_push(NULL, NULL), DORCH_ERR_INVALID_ARGUMENT);
    dorch_backend_free(b);
    dorch_pipeline_free(p);
    dorch_cancel_token_free(t);
}

int main(int argc, char **argv) {
    const char *sqlite_url = argc > 1 ? argv[1] : NULL;
    test_cancel_chain("memory:");
    if (sqlite_url) test_cancel_chain(sqlite_url);
    test_cancel_from_thread();
    test_run_timeout();
    test_task_timeout();
    test_old_task_options();
    test_details("memory:");
    if (sqlite_url) test_details(sqlite_url);
    test_listener();
    test_custom_backends();
    test_bad_input();
    return check_report("test_run_control");
}
