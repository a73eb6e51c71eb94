/* A host written against release 0.1.0: built with tests/abi/0.1.0/dremioorch.h
 * (the 0.1.0 header, unchanged) and run against the current library, it
 * checks that what 0.1.0 promised still holds: the functions, the enum
 * values, the structs at their 0.1.0 size (DorchTaskOptions and
 * DorchBackendVTable with the old struct_size), ownership and error codes.
 *
 *   abi_0_1_0 DIR      (DIR: an empty scratch directory for a SQLite file)
 */
#include <dremioorch.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__,  \
                    __LINE__, #cond, dorch_last_error());                            \
            failures++;                                                              \
        }                                                                            \
    } while (0)
#define CHECK_CODE(call, code) CHECK((call) == (code))
#define CHECK_OK(call) CHECK_CODE(call, DORCH_OK)

/* ---- tasks ---- */

static DorchCode extract(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    const uint8_t *src;
    size_t len;
    if (dorch_context_get(ctx, "source", &src, &len) != DORCH_OK) return DORCH_ERR_NOT_FOUND;
    CHECK(len == 4 && memcmp(src, "rows", 4) == 0);
    CHECK(strcmp(dorch_context_task_name(ctx), "extract") == 0);
    CHECK(strlen(dorch_context_run_id(ctx)) == 36);
    return dorch_context_set_output(ctx, (const uint8_t *)"3 rows", 6);
}

/* Fails its first attempt, succeeds on the retry. */
static DorchCode flaky(DorchTaskContext *ctx, void *ud) {
    int *calls = ud;
    (*calls)++;
    if (dorch_context_attempt(ctx) == 1) {
        dorch_context_set_error(ctx, "first attempt fails");
        return DORCH_ERR_BACKEND;
    }
    const uint8_t *up;
    size_t len;
    CHECK_OK(dorch_context_get(ctx, "extract", &up, &len));
    CHECK(len == 6 && memcmp(up, "3 rows", 6) == 0);
    return dorch_context_set_output(ctx, (const uint8_t *)"loaded", 6);
}

static DorchCode broken(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    dorch_context_set_error(ctx, "disk full");
    return DORCH_ERR_BACKEND;
}

static DorchCode noop(DorchTaskContext *ctx, void *ud) {
    (void)ctx;
    (void)ud;
    return DORCH_OK;
}

static int freed = 0;
static void free_counter(void *ud) {
    (void)ud;
    freed++;
}

/* ---- a custom backend: one slot per run, enough for these runs ---- */

typedef struct {
    char run_id[64];
    char pipeline[64];
    double start_time, end_time;
    bool has_end;
    DorchRunStatus status;
    char names[8][32];
    DorchTaskStatus statuses[8];
    size_t n;
} Slot;

typedef struct {
    Slot runs[4];
    size_t n;
    int saves, updates, gets, lists, destroyed;
    bool fail_saves;
} Store;

static Slot *find(Store *s, const char *run_id) {
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->runs[i].run_id, run_id) == 0) return &s->runs[i];
    return NULL;
}

static DorchCode vt_save(void *ud, const DorchRunInfo *run) {
    Store *s = ud;
    s->saves++;
    if (s->fail_saves) {
        dorch_set_error("store is read-only");
        return DORCH_ERR_BACKEND;
    }
    Slot *slot = find(s, run->run_id);
    if (!slot) {
        if (s->n == 4 || run->tasks_len > 8) return DORCH_ERR_BACKEND;
        slot = &s->runs[s->n++];
    }
    snprintf(slot->run_id, sizeof slot->run_id, "%s", run->run_id);
    snprintf(slot->pipeline, sizeof slot->pipeline, "%s", run->pipeline_name);
    slot->start_time = run->start_time;
    slot->has_end = run->has_end_time;
    slot->end_time = run->end_time;
    slot->status = run->status;
    slot->n = run->tasks_len;
    for (size_t i = 0; i < run->tasks_len; i++) {
        snprintf(slot->names[i], sizeof slot->names[i], "%s", run->tasks[i].name);
        slot->statuses[i] = run->tasks[i].status;
    }
    return DORCH_OK;
}

static DorchCode push(const Slot *slot, DorchRunSink *sink) {
    DorchTaskEntry tasks[8];
    for (size_t i = 0; i < slot->n; i++) {
        tasks[i].name = slot->names[i];
        tasks[i].status = slot->statuses[i];
    }
    DorchRunInfo info = {slot->pipeline, slot->run_id, slot->start_time, slot->has_end,
                         slot->end_time, slot->status, tasks, slot->n};
    return dorch_run_sink_push(sink, &info);
}

static DorchCode vt_get(void *ud, const char *run_id, DorchRunSink *sink) {
    Store *s = ud;
    s->gets++;
    Slot *slot = find(s, run_id);
    return slot ? push(slot, sink) : DORCH_ERR_NOT_FOUND;
}

static DorchCode vt_update(void *ud, const char *run_id, const char *task, DorchTaskStatus st) {
    Store *s = ud;
    s->updates++;
    Slot *slot = find(s, run_id);
    if (!slot) return DORCH_ERR_NOT_FOUND;
    for (size_t i = 0; i < slot->n; i++)
        if (strcmp(slot->names[i], task) == 0) {
            slot->statuses[i] = st;
            return DORCH_OK;
        }
    return DORCH_ERR_NOT_FOUND;
}

static DorchCode vt_list(void *ud, const char *pipeline, uint32_t limit, DorchRunSink *sink) {
    Store *s = ud;
    s->lists++;
    uint32_t pushed = 0;
    for (size_t i = s->n; i-- > 0 && pushed < limit;) { /* newest saved last */
        if (pipeline && strcmp(pipeline, s->runs[i].pipeline) != 0) continue;
        DorchCode rc = push(&s->runs[i], sink);
        if (rc != DORCH_OK) return rc;
        pushed++;
    }
    return DORCH_OK;
}

static void vt_destroy(void *ud) { ((Store *)ud)->destroyed++; }

/* ---- the checks ---- */

static void check_basics(void) {
    DorchBackend *b_unused = NULL;
    const char *v = dorch_version();
    CHECK(v != NULL && strncmp(v, "0.", 2) == 0);
    printf("library version %s\n", v);
    dorch_string_free(NULL);
    dorch_backend_free(NULL);
    dorch_pipeline_free(NULL);
    dorch_run_result_free(NULL);
    dorch_run_list_free(NULL);
    CHECK(dorch_run_list_len(NULL) == 0);
    CHECK(dorch_run_list_get(NULL, 0) == NULL);

    DorchPipeline *p = (DorchPipeline *)&p; /* set to NULL on failure */
    CHECK_CODE(dorch_pipeline_new("", NULL, &p), DORCH_ERR_INVALID_ARGUMENT);
    CHECK(p == NULL && strlen(dorch_last_error()) > 0);
    CHECK_CODE(dorch_pipeline_new(NULL, NULL, &p), DORCH_ERR_INVALID_ARGUMENT);
    DorchRunList *l = NULL;
    CHECK_CODE(dorch_backend_get_run(NULL, "x", &l), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_backend_open("", &b_unused), DORCH_ERR_INVALID_ARGUMENT);
}

static void check_backend_ops(DorchBackend *b, const char *label) {
    DorchTaskEntry tasks[2] = {{"a", DORCH_TASK_PENDING}, {"b", DORCH_TASK_PENDING}};
    DorchRunInfo run = {"abi", "abi-run-1", 1000.0, false, 0.0, DORCH_RUN_RUNNING, tasks, 2};
    CHECK_OK(dorch_backend_save_run(b, &run));
    CHECK_OK(dorch_backend_update_task_status(b, "abi-run-1", "a", DORCH_TASK_SUCCESS));
    CHECK_CODE(dorch_backend_update_task_status(b, "no-such-run", "a", DORCH_TASK_SUCCESS),
               DORCH_ERR_NOT_FOUND);
    CHECK_CODE(dorch_backend_update_task_status(b, "abi-run-1", "a", (DorchTaskStatus)99),
               DORCH_ERR_INVALID_ARGUMENT);

    DorchRunList *l = NULL;
    CHECK_OK(dorch_backend_get_run(b, "abi-run-1", &l));
    CHECK(dorch_run_list_len(l) == 1);
    const DorchRunInfo *got = dorch_run_list_get(l, 0);
    CHECK(got != NULL && strcmp(got->run_id, "abi-run-1") == 0 && got->status == DORCH_RUN_RUNNING);
    CHECK(got != NULL && !got->has_end_time && got->start_time == 1000.0 && got->tasks_len == 2);
    for (size_t i = 0; got && i < got->tasks_len; i++) {
        if (strcmp(got->tasks[i].name, "a") == 0) CHECK(got->tasks[i].status == DORCH_TASK_SUCCESS);
        else CHECK(got->tasks[i].status == DORCH_TASK_PENDING);
    }
    CHECK(dorch_run_list_get(l, 1) == NULL);
    dorch_run_list_free(l);
    l = (DorchRunList *)&l;
    CHECK_CODE(dorch_backend_get_run(b, "no-such-run", &l), DORCH_ERR_NOT_FOUND);
    CHECK(l == NULL);

    run.run_id = "abi-run-2";
    run.start_time = 2000.0;
    run.has_end_time = true;
    run.end_time = 2001.5;
    run.status = DORCH_RUN_SUCCESS;
    CHECK_OK(dorch_backend_save_run(b, &run));
    CHECK_OK(dorch_backend_list_runs(b, "abi", 10, &l));
    CHECK(dorch_run_list_len(l) == 2);
    got = dorch_run_list_get(l, 0);
    CHECK(got && strcmp(got->run_id, "abi-run-2") == 0 && got->has_end_time && got->end_time == 2001.5);
    dorch_run_list_free(l);
    CHECK_OK(dorch_backend_list_runs(b, NULL, 1, &l));
    CHECK(dorch_run_list_len(l) == 1);
    dorch_run_list_free(l);
    CHECK_OK(dorch_backend_list_runs(b, "other", 10, &l));
    CHECK(dorch_run_list_len(l) == 0);
    dorch_run_list_free(l);
    printf("%s backend: save, update, get and list ok\n", label);
}

/* extract -> load (flaky, retried) -> alert (one_failed); broken -> cleanup (all_done) */
static void check_pipeline(DorchBackend *b, const char *label) {
    DorchPipeline *p = NULL;
    CHECK_OK(dorch_pipeline_new("abi-etl", b, &p));
    dorch_backend_free(b); /* the pipeline holds its own reference */
    CHECK_OK(dorch_pipeline_set_max_workers(p, 2));
    CHECK_CODE(dorch_pipeline_set_max_workers(p, 0), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_OK(dorch_pipeline_set_context(p, "source", (const uint8_t *)"rows", 4));

    /* The 0.1.0 struct, with the 0.1.0 size. */
    DorchTaskOptions retry = {sizeof(DorchTaskOptions), 2, 1, DORCH_TRIGGER_ALL_SUCCESS};
    DorchTaskOptions one_failed = {sizeof(DorchTaskOptions), 0, 0, DORCH_TRIGGER_ONE_FAILED};
    DorchTaskOptions all_done = {sizeof(DorchTaskOptions), 0, 0, DORCH_TRIGGER_ALL_DONE};
    DorchTaskOptions bad = {sizeof(DorchTaskOptions), 0, 0, (DorchTriggerRule)7};
    int flaky_calls = 0;

    CHECK_OK(dorch_pipeline_add_task(p, "extract", extract, NULL, NULL, NULL));
    CHECK_OK(dorch_pipeline_add_task(p, "load", flaky, &flaky_calls, free_counter, &retry));
    CHECK_OK(dorch_pipeline_add_task(p, "alert", noop, NULL, NULL, &one_failed));
    CHECK_OK(dorch_pipeline_add_task(p, "broken", broken, NULL, free_counter, NULL));
    CHECK_OK(dorch_pipeline_add_task(p, "cleanup", noop, NULL, NULL, &all_done));
    CHECK_CODE(dorch_pipeline_add_task(p, "extract", noop, NULL, NULL, NULL), DORCH_ERR_DUPLICATE);
    CHECK_CODE(dorch_pipeline_add_task(p, "odd", noop, NULL, NULL, &bad), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_CODE(dorch_pipeline_add_task(p, "nofn", NULL, NULL, NULL, NULL), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_OK(dorch_pipeline_add_dependency(p, "extract", "load"));
    CHECK_OK(dorch_pipeline_add_dependency(p, "load", "alert"));
    CHECK_OK(dorch_pipeline_add_dependency(p, "broken", "cleanup"));
    CHECK_CODE(dorch_pipeline_add_dependency(p, "extract", "nowhere"), DORCH_ERR_NOT_FOUND);

    char *mermaid = NULL;
    CHECK_OK(dorch_pipeline_to_mermaid(p, &mermaid));
    CHECK(mermaid && strncmp(mermaid, "graph TD", 8) == 0 && strstr(mermaid, "\"extract\""));
    dorch_string_free(mermaid);

    DorchRunResult *r = NULL;
    CHECK_CODE(dorch_pipeline_run(p, &r), DORCH_ERR_TASK_FAILED);
    CHECK(strstr(dorch_last_error(), "broken") != NULL);
    CHECK(r != NULL);
    if (r) {
        CHECK(dorch_run_result_status(r) == DORCH_RUN_FAILED);
        CHECK(strlen(dorch_run_result_run_id(r)) == 36);
        CHECK(dorch_run_result_task_status(r, "extract") == DORCH_TASK_SUCCESS);
        CHECK(dorch_run_result_task_status(r, "load") == DORCH_TASK_SUCCESS);
        CHECK(dorch_run_result_task_status(r, "alert") == DORCH_TASK_SKIPPED);
        CHECK(dorch_run_result_task_status(r, "broken") == DORCH_TASK_FAILED);
        CHECK(dorch_run_result_task_status(r, "cleanup") == DORCH_TASK_SUCCESS);
        CHECK(dorch_run_result_task_status(r, "nope") == DORCH_TASK_PENDING);
        const uint8_t *out;
        size_t len;
        CHECK_OK(dorch_run_result_output(r, "load", &out, &len));
        CHECK(len == 6 && memcmp(out, "loaded", 6) == 0);
        CHECK_CODE(dorch_run_result_output(r, "alert", &out, &len), DORCH_ERR_NOT_FOUND);
        const char *why = NULL;
        CHECK_OK(dorch_run_result_task_error(r, "broken", &why));
        CHECK(why && strstr(why, "disk full"));
        CHECK_CODE(dorch_run_result_task_error(r, "load", &why), DORCH_ERR_NOT_FOUND);
        CHECK(why == NULL);

    }
    CHECK(flaky_calls == 2);
    dorch_run_result_free(r);
    dorch_pipeline_free(p);
    CHECK(freed == 2);
    freed = 0;
    printf("%s: pipeline run (retries, trigger rules, context, outputs, errors) ok\n", label);
}

static void check_custom_backend(void) {
    Store *store = calloc(1, sizeof *store);
    /* The 0.1.0 vtable, with the 0.1.0 size. */
    DorchBackendVTable vt = {sizeof(DorchBackendVTable), 0, vt_save, vt_get, vt_update, vt_list,
                             vt_destroy};
    DorchBackend *b = NULL;
    CHECK_OK(dorch_backend_custom(&vt, store, &b));
    DorchBackendVTable incomplete = vt;
    incomplete.get_run = NULL;
    DorchBackend *b2 = (DorchBackend *)&b2;
    CHECK_CODE(dorch_backend_custom(&incomplete, store, &b2), DORCH_ERR_INVALID_ARGUMENT);
    CHECK(b2 == NULL);

    check_backend_ops(b, "custom");
    CHECK(store->saves == 2 && store->gets == 2 && store->lists == 3);

    DorchBackend *again = NULL;
    CHECK_OK(dorch_backend_custom(&vt, store, &again)); /* a second backend on the same store */
    check_pipeline(again, "custom backend");
    CHECK(store->n == 3 && store->runs[2].status == DORCH_RUN_FAILED && store->runs[2].has_end);
    CHECK(store->updates > 2);
    CHECK(store->destroyed == 1); /* the pipeline's backend went with the pipeline */

    /* A failing store: its message comes back through dorch_last_error(). */
    store->fail_saves = true;
    DorchPipeline *p = NULL;
    CHECK_OK(dorch_pipeline_new("abi-fail", b, &p));
    CHECK_OK(dorch_pipeline_add_task(p, "t", noop, NULL, NULL, NULL));
    DorchRunResult *r = (DorchRunResult *)&r;
    CHECK_CODE(dorch_pipeline_run(p, &r), DORCH_ERR_BACKEND);
    CHECK(r == NULL && strstr(dorch_last_error(), "store is read-only") != NULL);
    dorch_pipeline_free(p);

    dorch_backend_free(b);
    CHECK(store->destroyed == 2);
    free(store);
    printf("custom backend (0.1.0 vtable, struct_size %zu): ok\n", sizeof(DorchBackendVTable));
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    check_basics();

    DorchBackend *b = NULL;
    CHECK_OK(dorch_backend_memory(&b));
    check_backend_ops(b, "memory");
    dorch_backend_free(b);

    char path[4096];
    snprintf(path, sizeof path, "%s/abi.db", argv[1]);
    CHECK_OK(dorch_backend_sqlite(path, &b));
    check_backend_ops(b, "sqlite");
    check_pipeline(b, "sqlite backend");

    CHECK_OK(dorch_backend_open("memory:", &b));
    check_pipeline(b, "memory backend by URL");
    CHECK_CODE(dorch_backend_open("nothing://x", &b), DORCH_ERR_CONFIG);

    check_custom_backend();
    printf("DorchTaskOptions struct_size %zu\n", sizeof(DorchTaskOptions));

    if (failures) {
        fprintf(stderr, "abi 0.1.0: %d check(s) failed\n", failures);
        return 1;
    }
    printf("abi 0.1.0: a host built against the 0.1.0 header works with library %s\n",
           dorch_version());
    return 0;
}
