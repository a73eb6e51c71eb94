#define _GNU_SOURCE
/* Every function of DESIGN.md section 3 with good input and with each kind
 * of bad input: NULL, invalid UTF-8, empty names, unknown names, cycles,
 * bad enum values, a database that is down. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"

static const char BAD_UTF8[] = "caf\xc3\x28";

static int g_freed = 0;
static void count_free(void *p) {
    (void)p;
    g_freed++;
}

static DorchCode task_ok(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    return dorch_context_set_output(ctx, (const uint8_t *)"out", 3);
}

/* Exercises every context function from inside a callback. */
static int g_ctx_checked = 0;
static DorchCode task_ctx_api(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    const uint8_t *data = NULL;
    size_t len = 99;
    CHECK_OK(dorch_context_get(ctx, "a", &data, &len));
    CHECK(len == 3 && memcmp(data, "out", 3) == 0);
    CHECK_OK(dorch_context_get(ctx, "seed", &data, &len));
    CHECK(len == 4 && memcmp(data, "\x00\x01\x02\x03", 4) == 0);
    CHECK_OK(dorch_context_get(ctx, "empty", &data, &len));
    CHECK(len == 0);
    CHECK_CODE(dorch_context_get(ctx, "nope", &data, &len), DORCH_ERR_NOT_FOUND);
    CHECK(data == NULL && len == 0);
    CHECK_ERR_HAS("nope");
    CHECK_CODE(dorch_context_get(ctx, NULL, &data, &len), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_context_get(ctx, "", &data, &len), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_context_get(ctx, BAD_UTF8, &data, &len), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_ERR_HAS("UTF-8");
    CHECK_CODE(dorch_context_get(ctx, "a", NULL, &len), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_context_get(ctx, "a", &data, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_context_get(NULL, "a", &data, &len), DORCH_ERR_INVALID_ARGUMENT);
    CHECK(strcmp(dorch_context_task_name(ctx), "b") == 0);
    const char *rid = dorch_context_run_id(ctx);
    CHECK(rid != NULL && strlen(rid) == 36);
    CHECK(dorch_context_run_id(ctx) == rid); /* stable during the callback */
    CHECK(dorch_context_attempt(ctx) == 1);
    CHECK_CODE(dorch_context_set_output(ctx, NULL, 5), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_context_set_output(NULL, (const uint8_t *)"x", 1), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_OK(dorch_context_set_output(ctx, NULL, 0));
    CHECK_OK(dorch_context_set_output(ctx, (const uint8_t *)"b-out\0x", 7));
    CHECK_CODE(dorch_context_set_error(ctx, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_context_set_error(NULL, "x"), DORCH_ERR_INVALID_ARGUMENT);
    g_ctx_checked = 1;
    return DORCH_OK;
}

static void test_version_and_errors(void) {
    CHECK(strcmp(dorch_last_error(), "") == 0); /* nothing failed yet */
    const char *v = dorch_version();
    CHECK(v != NULL && strcmp(v, "0.1.0") == 0);
    dorch_string_free(NULL);
    DorchBackend *b = (DorchBackend *)0x1;
    CHECK_CODE(dorch_backend_open("ftp://x", &b), DORCH_ERR_CONFIG);
    CHECK(b == NULL); /* out-parameters are NULL on failure */
    CHECK_ERR_HAS("ftp");
    /* a successful call leaves the message alone */
    CHECK_OK(dorch_backend_memory(&b));
    CHECK_ERR_HAS("ftp");
    dorch_backend_free(b);
}

static void test_backends(const char *dir) {
    DorchBackend *b = NULL;
    char path[512];

    CHECK_CODE(dorch_backend_memory(NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_ERR_HAS("NULL");

    snprintf(path, sizeof path, "%s/api.db", dir);
    CHECK_OK(dorch_backend_sqlite(path, &b));
    CHECK(b != NULL);
    dorch_backend_free(b);
    CHECK_CODE(dorch_backend_sqlite(NULL, &b), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_sqlite("", &b), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_sqlite(BAD_UTF8, &b), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_sqlite(path, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_sqlite("/nonexistent-dir/x/y.db", &b), DORCH_ERR_BACKEND);
    CHECK(b == NULL);

    /* Databases that are down: an error, never a crash. */
    DorchCode rc = dorch_backend_postgres("postgresql://postgres@127.0.0.1:1/test", NULL, &b);
    CHECK(rc != DORCH_OK && b == NULL && strlen(dorch_last_error()) > 0);
    rc = dorch_backend_open("postgresql://postgres@127.0.0.1:1/test", &b);
    CHECK(rc != DORCH_OK && b == NULL && strlen(dorch_last_error()) > 0);
    rc = dorch_backend_mysql("mysql://root@127.0.0.1:1/test", NULL, &b);
    CHECK(rc != DORCH_OK && b == NULL && strlen(dorch_last_error()) > 0);
    rc = dorch_backend_open("mysql://root@127.0.0.1:1/test", &b);
    CHECK(rc != DORCH_OK && b == NULL && strlen(dorch_last_error()) > 0);
    CHECK_CODE(dorch_backend_postgres(BAD_UTF8, NULL, &b), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_postgres(NULL, "", &b), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_postgres(NULL, NULL, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_mysql("", NULL, &b), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_mysql(NULL, BAD_UTF8, &b), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_mysql(NULL, NULL, NULL), DORCH_ERR_INVALID_ARGUMENT);

    CHECK_OK(dorch_backend_open("memory:", &b));
    dorch_backend_free(b);
    snprintf(path, sizeof path, "sqlite://%s/url.db", dir);
    CHECK_OK(dorch_backend_open(path, &b));
    dorch_backend_free(b);
    CHECK_CODE(dorch_backend_open(NULL, &b), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_open("", &b), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_open(BAD_UTF8, &b), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_open("nothing", &b), DORCH_ERR_CONFIG);
    CHECK_CODE(dorch_backend_open("memory:", NULL), DORCH_ERR_INVALID_ARGUMENT);
    dorch_backend_free(NULL);
}

static void test_backend_ops(DorchBackend *b) {
    DorchTaskEntry tasks[2] = {{"t1", DORCH_TASK_PENDING}, {"t2", DORCH_TASK_RUNNING}};
    DorchRunInfo run = {"pipe", "run-1", 100.0, false, 0.0, DORCH_RUN_RUNNING, tasks, 2};
    DorchRunInfo run2 = {"pipe", "run-2", 200.0, true, 201.5, DORCH_RUN_SUCCESS, NULL, 0};
    DorchRunInfo other = {"other", "run-3", 150.0, false, 0.0, DORCH_RUN_RUNNING, NULL, 0};
    DorchRunList *l = NULL;

    CHECK_OK(dorch_backend_save_run(b, &run));
    CHECK_OK(dorch_backend_save_run(b, &run2));
    CHECK_OK(dorch_backend_save_run(b, &other));
    CHECK_OK(dorch_backend_update_task_status(b, "run-1", "t1", DORCH_TASK_SUCCESS));

    CHECK_OK(dorch_backend_get_run(b, "run-1", &l));
    CHECK(dorch_run_list_len(l) == 1);
    const DorchRunInfo *r = dorch_run_list_get(l, 0);
    CHECK(r != NULL);
    if (r) {
        CHECK(strcmp(r->pipeline_name, "pipe") == 0 && strcmp(r->run_id, "run-1") == 0);
        CHECK(r->start_time == 100.0 && !r->has_end_time && r->status == DORCH_RUN_RUNNING);
        CHECK(r->tasks_len == 2);
        CHECK(strcmp(r->tasks[0].name, "t1") == 0 && r->tasks[0].status == DORCH_TASK_SUCCESS);
        CHECK(strcmp(r->tasks[1].name, "t2") == 0 && r->tasks[1].status == DORCH_TASK_RUNNING);
    }
    CHECK(dorch_run_list_get(l, 1) == NULL);
    CHECK_ERR_HAS("past the end");
    dorch_run_list_free(l);

    l = (DorchRunList *)0x1;
    CHECK_CODE(dorch_backend_get_run(b, "missing", &l), DORCH_ERR_NOT_FOUND);
    CHECK(l == NULL);
    CHECK_ERR_HAS("missing");
    CHECK_CODE(dorch_backend_get_run(b, NULL, &l), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_get_run(b, "", &l), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_get_run(b, BAD_UTF8, &l), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_get_run(NULL, "run-1", &l), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_get_run(b, "run-1", NULL), DORCH_ERR_INVALID_ARGUMENT);

    CHECK_OK(dorch_backend_list_runs(b, "pipe", 10, &l));
    CHECK(dorch_run_list_len(l) == 2);
    r = dorch_run_list_get(l, 0); /* newest first */
    CHECK(r && strcmp(r->run_id, "run-2") == 0 && r->has_end_time && r->end_time == 201.5 &&
          r->status == DORCH_RUN_SUCCESS && r->tasks_len == 0);
    r = dorch_run_list_get(l, 1);
    CHECK(r && strcmp(r->run_id, "run-1") == 0);
    dorch_run_list_free(l);
    CHECK_OK(dorch_backend_list_runs(b, NULL, 10, &l));
    CHECK(dorch_run_list_len(l) == 3);
    r = dorch_run_list_get(l, 1);
    CHECK(r && strcmp(r->run_id, "run-3") == 0);
    dorch_run_list_free(l);
    CHECK_OK(dorch_backend_list_runs(b, NULL, 1, &l));
    CHECK(dorch_run_list_len(l) == 1);
    dorch_run_list_free(l);
    CHECK_OK(dorch_backend_list_runs(b, "unknown-pipeline", 10, &l));
    CHECK(dorch_run_list_len(l) == 0 && dorch_run_list_get(l, 0) == NULL);
    dorch_run_list_free(l);
    CHECK_CODE(dorch_backend_list_runs(b, "", 10, &l), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_list_runs(b, BAD_UTF8, 10, &l), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_list_runs(NULL, NULL, 10, &l), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_list_runs(b, NULL, 10, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK(dorch_run_list_len(NULL) == 0);
    CHECK(dorch_run_list_get(NULL, 0) == NULL);
    dorch_run_list_free(NULL);

    /* update_task_status: bad input */
    CHECK_CODE(dorch_backend_update_task_status(b, "missing", "t1", DORCH_TASK_FAILED),
               DORCH_ERR_NOT_FOUND);
    CHECK_CODE(dorch_backend_update_task_status(NULL, "run-1", "t1", DORCH_TASK_FAILED),
               DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_update_task_status(b, NULL, "t1", DORCH_TASK_FAILED),
               DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_update_task_status(b, "run-1", "", DORCH_TASK_FAILED),
               DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_update_task_status(b, "run-1", BAD_UTF8, DORCH_TASK_FAILED),
               DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_update_task_status(b, "run-1", "t1", (DorchTaskStatus)42),
               DORCH_ERR_INVALID_ARGUMENT);
    CHECK_ERR_HAS("42");

    /* save_run: bad input */
    CHECK_CODE(dorch_backend_save_run(NULL, &run), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_save_run(b, NULL), DORCH_ERR_INVALID_ARGUMENT);
    DorchRunInfo bad = run;
    bad.run_id = NULL;
    CHECK_CODE(dorch_backend_save_run(b, &bad), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_ERR_HAS("run_id");
    bad = run;
    bad.pipeline_name = "";
    CHECK_CODE(dorch_backend_save_run(b, &bad), DORCH_ERR_INVALID_ARGUMENT);
    bad = run;
    bad.run_id = BAD_UTF8;
    CHECK_CODE(dorch_backend_save_run(b, &bad), DORCH_ERR_INVALID_ARGUMENT);
    bad = run;
    bad.tasks = NULL; /* with tasks_len 2 */
    CHECK_CODE(dorch_backend_save_run(b, &bad), DORCH_ERR_INVALID_ARGUMENT);
    DorchTaskEntry bad_tasks[2] = {{"t1", DORCH_TASK_PENDING}, {"", DORCH_TASK_PENDING}};
    bad = run;
    bad.tasks = bad_tasks;
    CHECK_CODE(dorch_backend_save_run(b, &bad), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_ERR_HAS("tasks[1]");
    bad_tasks[1].name = NULL;
    CHECK_CODE(dorch_backend_save_run(b, &bad), DORCH_ERR_INVALID_ARGUMENT);
    bad_tasks[1].name = "t2";
    int bogus = 17;
    memcpy(&bad_tasks[1].status, &bogus, sizeof bogus);
    CHECK_CODE(dorch_backend_save_run(b, &bad), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_ERR_HAS("17");
    bad = run;
    memcpy(&bad.status, &bogus, sizeof bogus);
    CHECK_CODE(dorch_backend_save_run(b, &bad), DORCH_ERR_INVALID_ARGUMENT);
    /* nothing of the rejected records was stored */
    CHECK_OK(dorch_backend_get_run(b, "run-1", &l));
    r = dorch_run_list_get(l, 0);
    CHECK(r && r->tasks_len == 2 && r->tasks[0].status == DORCH_TASK_SUCCESS);
    dorch_run_list_free(l);
}

static void test_pipeline(void) {
    DorchPipeline *p = NULL;
    DorchBackend *b = NULL;
    DorchRunResult *res = NULL;
    char *mermaid = NULL;

    CHECK_CODE(dorch_pipeline_new(NULL, NULL, &p), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_pipeline_new("", NULL, &p), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_pipeline_new(BAD_UTF8, NULL, &p), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_pipeline_new("p", NULL, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK(p == NULL);

    CHECK_OK(dorch_backend_memory(&b));
    CHECK_OK(dorch_pipeline_new("api", b, &p));
    CHECK_CODE(dorch_pipeline_set_max_workers(p, 0), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_pipeline_set_max_workers(NULL, 2), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_OK(dorch_pipeline_set_max_workers(p, 2));

    int ud = 0;
    CHECK_OK(dorch_pipeline_add_task(p, "a", task_ok, &ud, count_free, NULL));
    DorchTaskOptions opts = {sizeof(DorchTaskOptions), 0, 0, DORCH_TRIGGER_ALL_SUCCESS, 0};
    CHECK_OK(dorch_pipeline_add_task(p, "b", task_ctx_api, &ud, count_free, &opts));
    /* an older, smaller options struct: only retries */
    DorchTaskOptions small = {8, 1, 5000, (DorchTriggerRule)99, 0};
    CHECK_OK(dorch_pipeline_add_task(p, "c", task_ok, NULL, NULL, &small));
    /* bad input: free_user_data is not called when the task is not added */
    CHECK_CODE(dorch_pipeline_add_task(p, "a", task_ok, &ud, count_free, NULL), DORCH_ERR_DUPLICATE);
    CHECK_ERR_HAS("\"a\"");
    CHECK_CODE(dorch_pipeline_add_task(p, "x", NULL, &ud, count_free, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_pipeline_add_task(p, "", task_ok, &ud, count_free, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_pipeline_add_task(p, NULL, task_ok, &ud, count_free, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_pipeline_add_task(p, BAD_UTF8, task_ok, &ud, count_free, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_pipeline_add_task(NULL, "x", task_ok, &ud, count_free, NULL), DORCH_ERR_INVALID_ARGUMENT);
    DorchTaskOptions bad_rule = {sizeof(DorchTaskOptions), 0, 0, (DorchTriggerRule)7, 0};
    CHECK_CODE(dorch_pipeline_add_task(p, "x", task_ok, &ud, count_free, &bad_rule), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_ERR_HAS("trigger_rule");
    DorchTaskOptions zero = {0, 0, 0, DORCH_TRIGGER_ALL_SUCCESS, 0};
    CHECK_CODE(dorch_pipeline_add_task(p, "x", task_ok, &ud, count_free, &zero), DORCH_ERR_INVALID_ARGUMENT);
    CHECK(g_freed == 0);

    CHECK_OK(dorch_pipeline_add_dependency(p, "a", "b"));
    CHECK_OK(dorch_pipeline_add_dependency(p, "a", "b")); /* the same edge again is a no-op */
    CHECK_CODE(dorch_pipeline_add_dependency(p, "a", "zzz"), DORCH_ERR_NOT_FOUND);
    CHECK_ERR_HAS("zzz");
    CHECK_CODE(dorch_pipeline_add_dependency(p, "zzz", "a"), DORCH_ERR_NOT_FOUND);
    CHECK_CODE(dorch_pipeline_add_dependency(p, NULL, "a"), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_pipeline_add_dependency(p, "a", ""), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_pipeline_add_dependency(p, BAD_UTF8, "a"), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_pipeline_add_dependency(NULL, "a", "b"), DORCH_ERR_INVALID_ARGUMENT);

    CHECK_OK(dorch_pipeline_set_context(p, "seed", (const uint8_t *)"\x00\x01\x02\x03", 4));
    CHECK_OK(dorch_pipeline_set_context(p, "empty", NULL, 0));
    CHECK_CODE(dorch_pipeline_set_context(p, "k", NULL, 3), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_pipeline_set_context(p, "", (const uint8_t *)"x", 1), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_pipeline_set_context(p, NULL, (const uint8_t *)"x", 1), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_pipeline_set_context(p, BAD_UTF8, (const uint8_t *)"x", 1), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_pipeline_set_context(NULL, "k", (const uint8_t *)"x", 1), DORCH_ERR_INVALID_ARGUMENT);

    CHECK_OK(dorch_pipeline_to_mermaid(p, &mermaid));
    CHECK(mermaid && strstr(mermaid, "graph TD") && strstr(mermaid, "\"a\"") && strstr(mermaid, "-->"));
    dorch_string_free(mermaid);
    CHECK_CODE(dorch_pipeline_to_mermaid(p, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_pipeline_to_mermaid(NULL, &mermaid), DORCH_ERR_INVALID_ARGUMENT);

    CHECK_CODE(dorch_pipeline_run(p, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_pipeline_run(NULL, &res), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_OK(dorch_pipeline_run(p, &res));
    CHECK(g_ctx_checked == 1);
    CHECK(res != NULL);
    CHECK(dorch_run_result_status(res) == DORCH_RUN_SUCCESS);
    CHECK(dorch_run_result_task_status(res, "a") == DORCH_TASK_SUCCESS);
    CHECK(dorch_run_result_task_status(res, "b") == DORCH_TASK_SUCCESS);
    CHECK(dorch_run_result_task_status(res, "c") == DORCH_TASK_SUCCESS);
    const char *rid = dorch_run_result_run_id(res);
    CHECK(rid && strlen(rid) == 36 && rid[14] == '4'); /* a UUID v4 */
    const uint8_t *data = NULL;
    size_t len = 0;
    CHECK_OK(dorch_run_result_output(res, "b", &data, &len));
    CHECK(len == 7 && memcmp(data, "b-out\0x", 7) == 0);
    CHECK_CODE(dorch_run_result_output(res, "zzz", &data, &len), DORCH_ERR_NOT_FOUND);
    CHECK(data == NULL && len == 0);
    CHECK_CODE(dorch_run_result_output(res, NULL, &data, &len), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_run_result_output(res, "", &data, &len), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_run_result_output(res, BAD_UTF8, &data, &len), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_run_result_output(res, "b", NULL, &len), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_run_result_output(res, "b", &data, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_run_result_output(NULL, "b", &data, &len), DORCH_ERR_INVALID_ARGUMENT);
    CHECK(dorch_run_result_task_status(res, "zzz") == DORCH_TASK_PENDING);
    CHECK_ERR_HAS("zzz");
    CHECK(dorch_run_result_task_status(res, NULL) == DORCH_TASK_PENDING);
    CHECK(dorch_run_result_task_status(res, BAD_UTF8) == DORCH_TASK_PENDING);
    CHECK(dorch_run_result_task_status(NULL, "a") == DORCH_TASK_PENDING);
    CHECK(dorch_run_result_status(NULL) == DORCH_RUN_RUNNING);
    CHECK(dorch_run_result_run_id(NULL) == NULL);

    /* the run is in the backend the host still holds */
    DorchRunList *l = NULL;
    CHECK_OK(dorch_backend_get_run(b, rid, &l));
    const DorchRunInfo *r = dorch_run_list_get(l, 0);
    CHECK(r && r->status == DORCH_RUN_SUCCESS && r->has_end_time && r->tasks_len == 3 &&
          strcmp(r->pipeline_name, "api") == 0);
    dorch_run_list_free(l);
    dorch_run_result_free(res);
    dorch_run_result_free(NULL);

    /* a cycle: an error before anything runs */
    CHECK_OK(dorch_pipeline_add_dependency(p, "b", "c"));
    CHECK_OK(dorch_pipeline_add_dependency(p, "c", "a"));
    res = (DorchRunResult *)0x1;
    CHECK_CODE(dorch_pipeline_run(p, &res), DORCH_ERR_CYCLE);
    CHECK(res == NULL);
    CHECK_ERR_HAS("cycle");
    CHECK_OK(dorch_backend_list_runs(b, "api", 10, &l));
    CHECK(dorch_run_list_len(l) == 1); /* the cycle did not start a run */
    dorch_run_list_free(l);

    dorch_backend_free(b); /* the pipeline keeps its own reference */
    CHECK(g_freed == 0);
    dorch_pipeline_free(p);
    CHECK(g_freed == 2); /* user_data of a and b, once each */
    dorch_pipeline_free(NULL);
}

/* Rows another tool wrote that cannot be read (here with the sqlite3
 * command) hide no run: dorch_backend_list_runs returns the readable runs
 * and names the others, with why, in borrowed strings. */
static void test_unreadable_rows(const char *dir) {
    char path[512], cmd[1200];
    DorchBackend *b = NULL;
    DorchRunList *l = NULL;
    const char *id = NULL, *why = NULL;
    snprintf(path, sizeof path, "%s/unreadable.db", dir);
    CHECK_OK(dorch_backend_sqlite(path, &b));
    DorchRunInfo good1 = {"p", "good-1", 100.0, true, 101.0, DORCH_RUN_SUCCESS, NULL, 0};
    DorchRunInfo good2 = {"p", "good-2", 300.0, true, 301.0, DORCH_RUN_SUCCESS, NULL, 0};
    CHECK_OK(dorch_backend_save_run(b, &good1));
    CHECK_OK(dorch_backend_save_run(b, &good2));
    snprintf(cmd, sizeof cmd,
             "sqlite3 '%s' \"INSERT INTO runs VALUES "
             "('bad-time', 'p', 'yesterday', NULL, 'SUCCESS', '{}'), "
             "('bad-status', 'p', 200, 201, 'DONE', '{}');\"",
             path);
    CHECK(system(cmd) == 0);

    CHECK_OK(dorch_backend_list_runs(b, "p", 10, &l));
    CHECK(dorch_run_list_len(l) == 2);
    const DorchRunInfo *r = dorch_run_list_get(l, 0);
    CHECK(r && strcmp(r->run_id, "good-2") == 0);
    r = dorch_run_list_get(l, 1);
    CHECK(r && strcmp(r->run_id, "good-1") == 0);
    CHECK(dorch_run_list_unreadable_len(l) == 2);
    /* In start_time order: SQLite sorts text above every number. */
    CHECK_OK(dorch_run_list_unreadable_get(l, 0, &id, &why));
    CHECK(id && strcmp(id, "bad-time") == 0);
    CHECK(why && strstr(why, "column start_time: text \"yesterday\"") != NULL);
    const char *id0 = id;
    CHECK_OK(dorch_run_list_unreadable_get(l, 1, &id, &why));
    CHECK(id && strcmp(id, "bad-status") == 0);
    CHECK(why && strstr(why, "column status: unknown run status \"DONE\"") != NULL);
    CHECK_OK(dorch_run_list_unreadable_get(l, 0, &id, &why));
    CHECK(id == id0); /* borrowed from the list: the same string each time */
    id = why = "unchanged";
    CHECK_CODE(dorch_run_list_unreadable_get(l, 2, &id, &why), DORCH_ERR_NOT_FOUND);
    CHECK(id == NULL && why == NULL);
    CHECK_ERR_HAS("past the end");
    CHECK_CODE(dorch_run_list_unreadable_get(l, 0, NULL, &why), DORCH_ERR_INVALID_ARGUMENT);
    CHECK(why == NULL);
    CHECK_CODE(dorch_run_list_unreadable_get(l, 0, &id, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK(id == NULL);
    CHECK_CODE(dorch_run_list_unreadable_get(NULL, 0, &id, &why), DORCH_ERR_INVALID_ARGUMENT);
    CHECK(dorch_run_list_unreadable_len(NULL) == 0);
    dorch_run_list_free(l);

    /* Unreadable rows count toward the limit, in their place. */
    CHECK_OK(dorch_backend_list_runs(b, NULL, 2, &l));
    CHECK(dorch_run_list_len(l) == 1 && dorch_run_list_unreadable_len(l) == 1);
    dorch_run_list_free(l);

    /* get_run of an unreadable row: an error naming the run and the column. */
    CHECK_CODE(dorch_backend_get_run(b, "bad-time", &l), DORCH_ERR_BACKEND);
    CHECK(l == NULL);
    CHECK_ERR_HAS("bad-time");
    CHECK_ERR_HAS("start_time");
    CHECK_OK(dorch_backend_get_run(b, "good-1", &l));
    CHECK(dorch_run_list_len(l) == 1 && dorch_run_list_unreadable_len(l) == 0);
    dorch_run_list_free(l);
    dorch_backend_free(b);

    /* A backend that cannot hold unreadable rows names none. */
    CHECK_OK(dorch_backend_memory(&b));
    CHECK_OK(dorch_backend_save_run(b, &good1));
    CHECK_OK(dorch_backend_list_runs(b, NULL, 10, &l));
    CHECK(dorch_run_list_len(l) == 1 && dorch_run_list_unreadable_len(l) == 0);
    CHECK_CODE(dorch_run_list_unreadable_get(l, 0, &id, &why), DORCH_ERR_NOT_FOUND);
    dorch_run_list_free(l);
    dorch_backend_free(b);
}

int main(void) {
    char dir[] = "/tmp/dorch-api-XXXXXX";
    if (!mkdtemp(dir)) return 2;
    test_version_and_errors();
    test_backends(dir);
    DorchBackend *b = NULL;
    CHECK_OK(dorch_backend_memory(&b));
    test_backend_ops(b);
    dorch_backend_free(b);
    char path[512];
    snprintf(path, sizeof path, "%s/ops.db", dir);
    CHECK_OK(dorch_backend_sqlite(path, &b));
    test_backend_ops(b);
    dorch_backend_free(b);
    test_pipeline();
    test_unreadable_rows(dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) return 2;
    return check_report("test_api");
}
