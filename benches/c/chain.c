/* Benchmark: a 10,000-task chain of no-op C callbacks on the memory
 * backend. Prints the best per-task time over several runs, as
 * "c: <ns> ns/task". Run by benches/c/run.sh next to the Rust figure. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "dremioorch.h"

static DorchCode noop(DorchTaskContext *ctx, void *ud) {
    (void)ctx;
    (void)ud;
    return DORCH_OK;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define CHECK(call)                                                              \
    do {                                                                         \
        if ((call) != DORCH_OK) {                                                \
            fprintf(stderr, "%s: %s\n", #call, dorch_last_error());              \
            return 1;                                                            \
        }                                                                        \
    } while (0)

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 10000;
    int rounds = argc > 2 ? atoi(argv[2]) : 7;
    DorchBackend *b = NULL;
    DorchPipeline *p = NULL;
    CHECK(dorch_backend_memory(&b));
    CHECK(dorch_pipeline_new("chain", b, &p));
    char name[32], prev[32];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "t%05d", i);
        CHECK(dorch_pipeline_add_task(p, name, noop, NULL, NULL, NULL));
        if (i > 0) CHECK(dorch_pipeline_add_dependency(p, prev, name));
        snprintf(prev, sizeof prev, "%s", name);
    }
    double best = 1e30;
    for (int r = 0; r < rounds; r++) {
        DorchRunResult *res = NULL;
        double t0 = now_s();
        CHECK(dorch_pipeline_run(p, &res));
        double dt = now_s() - t0;
        if (dorch_run_result_status(res) != DORCH_RUN_SUCCESS) return 1;
        dorch_run_result_free(res);
        if (dt < best) best = dt;
    }
    printf("c: %.1f ns/task (%d tasks, best of %d runs)\n", best * 1e9 / n, n, rounds);
    dorch_pipeline_free(p);
    dorch_backend_free(b);
    return 0;
}
