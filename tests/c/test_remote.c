/* Remote workers from C: a C worker serving a queue on a thread while a
 * pipeline of local and remote tasks runs against it; a remote task's
 * timeout reaching the worker; an unknown name failing after the dispatch
 * timeout; bad input on every new function. Uses the local Redis
 * (argv[1], default redis://127.0.0.1:6379). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"

static atomic_int g_stopped_by_timeout;
static atomic_int g_freed;

static DorchCode t_ok(DorchTaskContext *ctx, void *ud) {
    (void)ctx;
    (void)ud;
    return DORCH_OK;
}

static DorchCode t_make(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    return dorch_context_set_output(ctx, (const uint8_t *)"21", 2);
}

/* Remote: reads upstream "make" and initial "k", outputs "<make*2>:<k>". */
static DorchCode t_double(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    const uint8_t *d, *k;
    size_t dl, kl;
    if (dorch_context_get(ctx, "make", &d, &dl) != DORCH_OK) return DORCH_ERR_NOT_FOUND;
    if (dorch_context_get(ctx, "k", &k, &kl) != DORCH_OK) return DORCH_ERR_NOT_FOUND;
    if (dorch_context_attempt(ctx) != 1 || strcmp(dorch_context_task_name(ctx), "double") != 0)
        return DORCH_ERR_INVALID_ARGUMENT;
    if (strlen(dorch_context_run_id(ctx)) != 36) return DORCH_ERR_INVALID_ARGUMENT;
    int v = 0;
    for (size_t i = 0; i < dl; i++) v = v * 10 + (d[i] - '0');
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%d:%.*s", v * 2, (int)kl, (const char *)k);
    return dorch_context_set_output(ctx, (const uint8_t *)buf, (size_t)n);
}

static DorchCode t_fail(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    dorch_context_set_error(ctx, "remote failure from C");
    return DORCH_ERR_TASK_FAILED;
}

static DorchCode t_long(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    if (dorch_context_sleep(ctx, 30000) == DORCH_ERR_CANCELLED && dorch_context_is_cancelled(ctx))
        atomic_store(&g_stopped_by_timeout, 1);
    return DORCH_ERR_CANCELLED;
}

static DorchCode t_check(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    const uint8_t *d;
    size_t l;
    if (dorch_context_get(ctx, "double", &d, &l) != DORCH_OK) return DORCH_ERR_NOT_FOUND;
    if (l != 5 || memcmp(d, "42:kv", 5) != 0) {
        dorch_context_set_error(ctx, "unexpected remote output");
        return DORCH_ERR_TASK_FAILED;
    }
    return dorch_context_set_output(ctx, d, l);
}

static void free_ud(void *p) {
    (void)p;
    atomic_fetch_add(&g_freed, 1);
}

typedef struct {
    DorchWorker *w;
    DorchCancelToken *stop;
    DorchCode rc;
} Serve;

static void *serve(void *arg) {
    Serve *s = arg;
    s->rc = dorch_worker_run(s->w, s->stop);
    return NULL;
}

int main(int argc, char **argv) {
    const char *url = argc > 1 ? argv[1] : "redis://127.0.0.1:6379";
    char queue[64];
    snprintf(queue, sizeof queue, "dorch_c_remote_%d", (int)getpid());
    DorchRemoteOptions ro = {sizeof ro, 2000, 20000, 0};

    /* ---- bad input on every new function ---- */
    DorchExecutor *e = NULL;
    DorchWorker *w = NULL;
    CHECK_CODE(dorch_executor_redis(NULL, queue, NULL, &e), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_executor_redis(url, NULL, NULL, &e), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_executor_redis(url, queue, NULL, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_executor_redis("\xff\xfe", queue, NULL, &e), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_executor_redis(url, "", NULL, &e), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_executor_redis("nonsense://x", queue, NULL, &e), DORCH_ERR_CONFIG);
    CHECK_ERR_HAS("invalid Redis URL");
    CHECK_CODE(dorch_executor_redis("redis://127.0.0.1:1", queue, NULL, &e), DORCH_ERR_BACKEND);
    CHECK_ERR_HAS("cannot reach Redis");
    CHECK(e == NULL);
    DorchRemoteOptions bad = {0, 0, 0, 0};
    CHECK_CODE(dorch_executor_redis(url, queue, &bad, &e), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_worker_new(NULL, queue, NULL, &w), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_worker_new(url, "\xc3\x28", NULL, &w), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_worker_new("bad url", queue, NULL, &w), DORCH_ERR_CONFIG);
    CHECK_CODE(dorch_worker_new(url, queue, &bad, &w), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_worker_new(url, queue, NULL, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_worker_add_task(NULL, "x", t_ok, NULL, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_worker_set_concurrency(NULL, 1), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_worker_run(NULL, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_pipeline_add_remote_task(NULL, "x", NULL, NULL), DORCH_ERR_INVALID_ARGUMENT);
    dorch_executor_free(NULL);
    dorch_worker_free(NULL);

    /* A worker that cannot reach Redis, and one with no tasks. */
    DorchCancelToken *stop = NULL;
    CHECK_OK(dorch_cancel_token_new(&stop));
    CHECK_OK(dorch_worker_new("redis://127.0.0.1:1", queue, NULL, &w));
    CHECK_CODE(dorch_worker_run(w, stop), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_ERR_HAS("no tasks");
    CHECK_OK(dorch_worker_add_task(w, "t", t_ok, NULL, NULL));
    CHECK_CODE(dorch_worker_run(w, stop), DORCH_ERR_BACKEND);
    CHECK_ERR_HAS("cannot reach Redis");
    dorch_worker_free(w);

    /* ---- the real worker ---- */
    CHECK_OK(dorch_worker_new(url, queue, &ro, &w));
    CHECK_CODE(dorch_worker_run(w, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_worker_add_task(w, NULL, t_ok, NULL, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_worker_add_task(w, "", t_ok, NULL, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_worker_add_task(w, "\xff", t_ok, NULL, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_worker_add_task(w, "x", NULL, NULL, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_worker_set_concurrency(w, 0), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_OK(dorch_worker_set_concurrency(w, 2));
    CHECK_OK(dorch_worker_add_task(w, "double", t_double, (void *)1, free_ud));
    CHECK_CODE(dorch_worker_add_task(w, "double", t_ok, (void *)2, free_ud), DORCH_ERR_DUPLICATE);
    CHECK_OK(dorch_worker_add_task(w, "fail", t_fail, NULL, NULL));
    CHECK_OK(dorch_worker_add_task(w, "long", t_long, NULL, NULL));
    Serve s = {w, stop, DORCH_ERR_PANIC};
    pthread_t th;
    pthread_create(&th, NULL, serve, &s);

    CHECK_OK(dorch_executor_redis(url, queue, &ro, &e));
    DorchPipeline *p = NULL;
    CHECK_OK(dorch_pipeline_new("c_remote", NULL, &p));
    CHECK_OK(dorch_pipeline_set_max_workers(p, 4));
    CHECK_OK(dorch_pipeline_set_context(p, "k", (const uint8_t *)"kv", 2));
    CHECK_OK(dorch_pipeline_add_task(p, "make", t_make, NULL, NULL, NULL));
    CHECK_CODE(dorch_pipeline_add_remote_task(p, NULL, e, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_pipeline_add_remote_task(p, "\xff", e, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_pipeline_add_remote_task(p, "double", NULL, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_OK(dorch_pipeline_add_remote_task(p, "double", e, NULL));
    CHECK_CODE(dorch_pipeline_add_remote_task(p, "double", e, NULL), DORCH_ERR_DUPLICATE);
    DorchTaskOptions to = {sizeof to, 1, 0, DORCH_TRIGGER_ALL_SUCCESS, 0};
    CHECK_OK(dorch_pipeline_add_remote_task(p, "fail", e, &to));
    CHECK_OK(dorch_pipeline_add_task(p, "check", t_check, NULL, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_dependency(p, "make", "double"));
    CHECK_OK(dorch_pipeline_add_dependency(p, "double", "check"));
    /* The pipeline keeps its own reference to the executor. */
    dorch_executor_free(e);
    DorchRunResult *r = NULL;
    CHECK_CODE(dorch_pipeline_run(p, &r), DORCH_ERR_TASK_FAILED);
    CHECK(dorch_run_result_task_status(r, "check") == DORCH_TASK_SUCCESS);
    CHECK(dorch_run_result_task_status(r, "fail") == DORCH_TASK_FAILED);
    const uint8_t *out;
    size_t len;
    CHECK_OK(dorch_run_result_output(r, "check", &out, &len));
    CHECK(len == 5 && memcmp(out, "42:kv", 5) == 0);
    const DorchTaskDetail *d = NULL;
    CHECK_OK(dorch_run_result_task_detail(r, "fail", &d));
    CHECK(d && d->attempts == 2 && d->error && strstr(d->error, "remote failure from C"));
    dorch_run_result_free(r);
    dorch_pipeline_free(p);

    /* A task timeout reaches the C task on the worker; an unknown name
       fails after the dispatch timeout, naming task and queue. */
    DorchRemoteOptions quick = {sizeof quick, 2000, 600, 0};
    CHECK_OK(dorch_executor_redis(url, queue, &quick, &e));
    CHECK_OK(dorch_pipeline_new("c_remote_timeout", NULL, &p));
    CHECK_OK(dorch_pipeline_set_max_workers(p, 2));
    DorchTaskOptions tmo = {sizeof tmo, 0, 0, DORCH_TRIGGER_ALL_SUCCESS, 300};
    CHECK_OK(dorch_pipeline_add_remote_task(p, "long", e, &tmo));
    CHECK_OK(dorch_pipeline_add_remote_task(p, "nobody_serves", e, NULL));
    CHECK_CODE(dorch_pipeline_run(p, &r), DORCH_ERR_TASK_FAILED);
    CHECK_OK(dorch_run_result_task_detail(r, "long", &d));
    CHECK(d && d->error && strstr(d->error, "timed out after 300 ms"));
    CHECK_OK(dorch_run_result_task_detail(r, "nobody_serves", &d));
    CHECK(d && d->error && strstr(d->error, "nobody_serves") && strstr(d->error, queue));
    dorch_run_result_free(r);
    dorch_pipeline_free(p);
    dorch_executor_free(e);
    for (int i = 0; i < 100 && !atomic_load(&g_stopped_by_timeout); i++) usleep(50000);
    CHECK(atomic_load(&g_stopped_by_timeout));

    /* Changes while it runs are refused. */
    CHECK_CODE(dorch_worker_set_concurrency(w, 3), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_OK(dorch_cancel_token_cancel(stop, "done"));
    pthread_join(th, NULL);
    CHECK(s.rc == DORCH_OK);
    CHECK(atomic_load(&g_freed) == 0);
    dorch_worker_free(w);
    CHECK(atomic_load(&g_freed) == 1); /* the duplicate's user_data stayed with the caller */
    dorch_cancel_token_free(stop);
    return check_report("test_remote");
}
