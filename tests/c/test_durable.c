/* Durable history from C (memory backend): stored outputs and resume,
 * recovery of runs whose owner is gone, purge, and bad input. */
#define _GNU_SOURCE
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "check.h"

static atomic_int g_calls[4];
static atomic_int g_c_fails = 1;

/* A -> B -> C -> D, each appending its letter to its upstream output. */
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
    if (i == 2 && atomic_fetch_sub(&g_c_fails, 1) > 0) {
        dorch_context_set_error(ctx, "C fails this time");
        return DORCH_ERR_BACKEND;
    }
    buf[n] = (char)('a' + i);
    return dorch_context_set_output(ctx, (const uint8_t *)buf, n + 1);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_resume(DorchBackend *b) {
    DorchPipeline *p = NULL;
    CHECK_OK(dorch_pipeline_new("abcd", b, &p));
    const char *names[] = {"A", "B", "C", "D"};
    for (int i = 0; i < 4; i++) {
        CHECK_OK(dorch_pipeline_add_task(p, names[i], t_letter, (void *)(intptr_t)i, NULL, NULL));
        if (i > 0) CHECK_OK(dorch_pipeline_add_dependency(p, names[i - 1], names[i]));
    }
    DorchRunResult *first = NULL;
    CHECK_CODE(dorch_pipeline_run(p, &first), DORCH_ERR_TASK_FAILED);
    DorchRunResult *second = NULL;
    DorchRunOptions opts = {.struct_size = sizeof opts};
    CHECK_OK(dorch_pipeline_resume(p, dorch_run_result_run_id(first), &opts, &second));
    CHECK(atomic_load(&g_calls[0]) == 1 && atomic_load(&g_calls[1]) == 1);
    CHECK(atomic_load(&g_calls[2]) == 2 && atomic_load(&g_calls[3]) == 1);
    const uint8_t *out = NULL;
    size_t len = 0;
    CHECK_OK(dorch_run_result_output(second, "D", &out, &len));
    CHECK(len == 4 && memcmp(out, "abcd", 4) == 0);
    CHECK(strcmp(dorch_run_result_run_id(first), dorch_run_result_run_id(second)) != 0);
    /* errors */
    DorchRunResult *r = (DorchRunResult *)1;
    CHECK_CODE(dorch_pipeline_resume(p, "no-such-run", NULL, &r), DORCH_ERR_NOT_FOUND);
    CHECK(r == NULL);
    CHECK_CODE(dorch_pipeline_resume(p, NULL, NULL, &r), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_pipeline_resume(p, "\xff", NULL, &r), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_pipeline_resume(NULL, "x", NULL, &r), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_pipeline_resume(p, "x", NULL, NULL), DORCH_ERR_INVALID_ARGUMENT);
    DorchPipeline *other = NULL;
    CHECK_OK(dorch_pipeline_new("other", b, &other));
    CHECK_OK(dorch_pipeline_add_task(other, "A", t_letter, (void *)0, NULL, NULL));
    CHECK_CODE(dorch_pipeline_resume(other, dorch_run_result_run_id(first), NULL, &r),
               DORCH_ERR_INVALID_ARGUMENT);
    CHECK_ERR_HAS("of pipeline \"abcd\"");
    dorch_pipeline_free(other);
    dorch_run_result_free(first);
    dorch_run_result_free(second);
    dorch_pipeline_free(p);
}

static void save(DorchBackend *b, const char *id, double start, DorchRunStatus st,
                 const DorchTaskEntry *tasks, size_t n) {
    DorchRunInfo run = {"old", id, start, false, 0, st, tasks, n};
    CHECK_OK(dorch_backend_save_run(b, &run));
}

static void test_recover_and_purge(DorchBackend *b) {
    DorchTaskEntry tasks[] = {{"done", DORCH_TASK_SUCCESS},
                              {"busy", DORCH_TASK_RUNNING},
                              {"later", DORCH_TASK_PENDING}};
    double now = now_s();
    save(b, "dead", now - 3600, DORCH_RUN_RUNNING, tasks, 3);
    uint64_t n = 99;
    CHECK_OK(dorch_backend_recover(b, 2 * 3600 * 1000, &n));
    CHECK(n == 0); /* before the window: untouched */
    CHECK_OK(dorch_backend_recover(b, 60 * 1000, &n));
    CHECK(n == 1);
    DorchRunList *l = NULL;
    CHECK_OK(dorch_backend_get_run(b, "dead", &l));
    const DorchRunInfo *r = dorch_run_list_get(l, 0);
    CHECK(r && r->status == DORCH_RUN_FAILED && r->has_end_time);
    for (size_t i = 0; r && i < r->tasks_len; i++) {
        if (strcmp(r->tasks[i].name, "busy") == 0) CHECK(r->tasks[i].status == DORCH_TASK_FAILED);
        if (strcmp(r->tasks[i].name, "later") == 0) CHECK(r->tasks[i].status == DORCH_TASK_SKIPPED);
        if (strcmp(r->tasks[i].name, "done") == 0) CHECK(r->tasks[i].status == DORCH_TASK_SUCCESS);
    }
    dorch_run_list_free(l);
    CHECK_OK(dorch_backend_recover(b, 60 * 1000, &n));
    CHECK(n == 0); /* once */

    save(b, "running", 10, DORCH_RUN_RUNNING, NULL, 0);
    save(b, "finished", 10, DORCH_RUN_SUCCESS, NULL, 0);
    uint64_t dry = 0, real = 0;
    CHECK_OK(dorch_backend_purge(b, 20, "old", true, &dry));
    CHECK_OK(dorch_backend_purge(b, 20, "old", false, &real));
    CHECK(dry == 1 && real == 1);
    CHECK_CODE(dorch_backend_get_run(b, "finished", &l), DORCH_ERR_NOT_FOUND);
    CHECK_OK(dorch_backend_get_run(b, "running", &l));
    dorch_run_list_free(l);
    /* the recovered run started an hour ago: purged with everything before now */
    CHECK_OK(dorch_backend_purge(b, now, NULL, false, &real));
    CHECK(real >= 1);

    /* bad input */
    CHECK_CODE(dorch_backend_recover(NULL, 1, &n), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_recover(b, 1, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_purge(NULL, 1, NULL, true, &n), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_purge(b, 1, NULL, true, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_purge(b, NAN, NULL, true, &n), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_purge(b, 1, "\xff", true, &n), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_purge(b, 1, "", true, &n), DORCH_ERR_INVALID_ARGUMENT);
}

int main(void) {
    DorchBackend *b = NULL;
    CHECK_OK(dorch_backend_memory(&b));
    test_resume(b);
    test_recover_and_purge(b);
    dorch_backend_free(b);
    return check_report("test_durable");
}
