/* quickstart: a small ETL pipeline on the SQLite backend.
 *
 *   extract -> transform_upper  \
 *           -> transform_count  -> load -> alert (one_failed)
 *                                       -> cleanup (all_done)
 *
 * Build:  cc quickstart.c $(pkg-config --cflags --libs dremioorch) -o quickstart
 * Run:    ./quickstart [history.db]
 * It runs the pipeline twice and prints the run history kept in SQLite. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include "dremioorch.h"

#define TRY(call)                                                                  \
    do {                                                                           \
        DorchCode rc_ = (call);                                                    \
        if (rc_ != DORCH_OK) {                                                     \
            fprintf(stderr, "%s failed (%d): %s\n", #call, rc_, dorch_last_error()); \
            exit(1);                                                               \
        }                                                                          \
    } while (0)

static DorchCode extract(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    const uint8_t *src;
    size_t n;
    /* the source rows come from the initial context */
    if (dorch_context_get(ctx, "source", &src, &n) != DORCH_OK) {
        dorch_context_set_error(ctx, "no source rows");
        return DORCH_ERR_NOT_FOUND;
    }
    return dorch_context_set_output(ctx, src, n);
}

static DorchCode transform_upper(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    const uint8_t *rows;
    size_t n;
    if (dorch_context_get(ctx, "extract", &rows, &n) != DORCH_OK) return DORCH_ERR_NOT_FOUND;
    char *up = malloc(n ? n : 1);
    if (!up) return DORCH_ERR_TASK_FAILED;
    for (size_t i = 0; i < n; i++) up[i] = (char)toupper(rows[i]);
    DorchCode rc = dorch_context_set_output(ctx, (const uint8_t *)up, n); /* copied */
    free(up);
    return rc;
}

static DorchCode transform_count(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    const uint8_t *rows;
    size_t n, lines = 0;
    if (dorch_context_get(ctx, "extract", &rows, &n) != DORCH_OK) return DORCH_ERR_NOT_FOUND;
    for (size_t i = 0; i < n; i++) lines += rows[i] == '\n';
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%zu", lines);
    return dorch_context_set_output(ctx, (const uint8_t *)buf, (size_t)len);
}

static DorchCode load(DorchTaskContext *ctx, void *ud) {
    const char *target = ud;
    const uint8_t *rows, *count;
    size_t n, cn;
    if (dorch_context_get(ctx, "transform_upper", &rows, &n) != DORCH_OK ||
        dorch_context_get(ctx, "transform_count", &count, &cn) != DORCH_OK) {
        dorch_context_set_error(ctx, "missing upstream output");
        return DORCH_ERR_NOT_FOUND;
    }
    char msg[128];
    int len = snprintf(msg, sizeof msg, "loaded %.*s rows into %s (attempt %u)", (int)cn,
                       (const char *)count, target, dorch_context_attempt(ctx));
    return dorch_context_set_output(ctx, (const uint8_t *)msg, (size_t)len);
}

static DorchCode alert(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    printf("ALERT: a step of run %s failed\n", dorch_context_run_id(ctx));
    return DORCH_OK;
}

static DorchCode cleanup(DorchTaskContext *ctx, void *ud) {
    (void)ctx;
    (void)ud;
    return DORCH_OK;
}

static const char *task_status_name(DorchTaskStatus s) {
    static const char *names[] = {"PENDING", "RUNNING", "SUCCESS", "FAILED", "SKIPPED"};
    return (unsigned)s < 5 ? names[s] : "?";
}
static const char *run_status_name(DorchRunStatus s) {
    static const char *names[] = {"RUNNING", "SUCCESS", "FAILED"};
    return (unsigned)s < 3 ? names[s] : "?";
}

int main(int argc, char **argv) {
    const char *db = argc > 1 ? argv[1] : "quickstart.db";
    static const char *tasks[] = {"extract", "transform_upper", "transform_count",
                                  "load", "alert", "cleanup"};
    DorchBackend *backend = NULL;
    DorchPipeline *p = NULL;
    TRY(dorch_backend_sqlite(db, &backend));
    TRY(dorch_pipeline_new("quickstart_etl", backend, &p));
    TRY(dorch_pipeline_set_max_workers(p, 2)); /* the two transforms run in parallel */

    const char *rows = "alice,3\nbob,5\ncarol,8\n";
    TRY(dorch_pipeline_set_context(p, "source", (const uint8_t *)rows, strlen(rows)));

    DorchTaskOptions retry = {sizeof retry, 2, 100, DORCH_TRIGGER_ALL_SUCCESS, 0};
    DorchTaskOptions on_failure = {sizeof on_failure, 0, 0, DORCH_TRIGGER_ONE_FAILED, 0};
    DorchTaskOptions always = {sizeof always, 0, 0, DORCH_TRIGGER_ALL_DONE, 0};
    TRY(dorch_pipeline_add_task(p, "extract", extract, NULL, NULL, &retry));
    TRY(dorch_pipeline_add_task(p, "transform_upper", transform_upper, NULL, NULL, NULL));
    TRY(dorch_pipeline_add_task(p, "transform_count", transform_count, NULL, NULL, NULL));
    /* user_data owned by the pipeline, freed with free() when it is freed */
    char *target = malloc(16);
    if (!target) return 1;
    strcpy(target, "warehouse");
    TRY(dorch_pipeline_add_task(p, "load", load, target, free, &retry));
    TRY(dorch_pipeline_add_task(p, "alert", alert, NULL, NULL, &on_failure));
    TRY(dorch_pipeline_add_task(p, "cleanup", cleanup, NULL, NULL, &always));
    TRY(dorch_pipeline_add_dependency(p, "extract", "transform_upper"));
    TRY(dorch_pipeline_add_dependency(p, "extract", "transform_count"));
    TRY(dorch_pipeline_add_dependency(p, "transform_upper", "load"));
    TRY(dorch_pipeline_add_dependency(p, "transform_count", "load"));
    TRY(dorch_pipeline_add_dependency(p, "load", "alert"));
    TRY(dorch_pipeline_add_dependency(p, "load", "cleanup"));

    char *diagram = NULL;
    TRY(dorch_pipeline_to_mermaid(p, &diagram));
    printf("%s", diagram);
    dorch_string_free(diagram);

    for (int i = 0; i < 2; i++) {
        DorchRunResult *r = NULL;
        DorchCode rc = dorch_pipeline_run(p, &r);
        if (rc != DORCH_OK && rc != DORCH_ERR_TASK_FAILED) {
            fprintf(stderr, "run failed to run: %s\n", dorch_last_error());
            return 1;
        }
        printf("run %s %s\n", dorch_run_result_run_id(r),
               run_status_name(dorch_run_result_status(r)));
        for (size_t t = 0; t < sizeof tasks / sizeof *tasks; t++)
            printf("  %s: %s\n", tasks[t], task_status_name(dorch_run_result_task_status(r, tasks[t])));
        const uint8_t *out;
        size_t n;
        if (dorch_run_result_output(r, "load", &out, &n) == DORCH_OK)
            printf("  %.*s\n", (int)n, (const char *)out);
        dorch_run_result_free(r);
        if (rc != DORCH_OK) return 1;
    }

    DorchRunList *history = NULL;
    TRY(dorch_backend_list_runs(backend, "quickstart_etl", 5, &history));
    printf("history in %s (newest first):\n", db);
    for (size_t i = 0; i < dorch_run_list_len(history); i++) {
        const DorchRunInfo *run = dorch_run_list_get(history, i);
        printf("  run %s %s %.3fs, %zu tasks\n", run->run_id, run_status_name(run->status),
               run->has_end_time ? run->end_time - run->start_time : 0.0, run->tasks_len);
    }
    dorch_run_list_free(history);
    dorch_pipeline_free(p);
    dorch_backend_free(backend);
    return 0;
}
