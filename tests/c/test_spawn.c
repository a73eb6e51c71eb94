/* A run whose worker threads cannot be made (the system refuses them) runs
 * on the threads it could make, at least the caller's, and ends with its
 * real outcome: never DORCH_ERR_PANIC, never a run left RUNNING.
 *
 * The refusal is provoked by asking for an impossible stack size for every
 * thread the Rust standard library makes (RUST_MIN_STACK, read once per
 * process): this program must be a process of its own. */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdlib.h>
#include "check.h"

static atomic_int g_calls;
static DorchCode t_count(DorchTaskContext *ctx, void *ud) {
    (void)ctx;
    (void)ud;
    atomic_fetch_add(&g_calls, 1);
    return DORCH_OK;
}

int main(void) {
    setenv("RUST_MIN_STACK", "1099511627776", 1); /* 1 TiB per thread */
    DorchBackend *b = NULL;
    CHECK_OK(dorch_backend_memory(&b));
    DorchPipeline *p = NULL;
    CHECK_OK(dorch_pipeline_new("spawn", b, &p));
    CHECK_OK(dorch_pipeline_set_max_workers(p, 64));
    for (int i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", i);
        CHECK_OK(dorch_pipeline_add_task(p, name, t_count, NULL, NULL, NULL));
    }
    DorchRunResult *res = NULL;
    CHECK_OK(dorch_pipeline_run(p, &res));
    CHECK(atomic_load(&g_calls) == 20);
    CHECK(dorch_run_result_status(res) == DORCH_RUN_SUCCESS);
    DorchRunList *l = NULL;
    CHECK_OK(dorch_backend_get_run(b, dorch_run_result_run_id(res), &l));
    CHECK(dorch_run_list_len(l) == 1);
    if (dorch_run_list_len(l) == 1) CHECK(dorch_run_list_get(l, 0)->status == DORCH_RUN_SUCCESS);
    dorch_run_list_free(l);
    dorch_run_result_free(res);
    dorch_pipeline_free(p);
    dorch_backend_free(b);
    return check_report("test_spawn");
}
