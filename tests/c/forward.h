/* A custom backend whose vtable functions forward every call to another
 * backend. The vtable's user_data must point to a struct whose first member
 * is that backend (`DorchBackend *inner`). */
#ifndef DORCH_TEST_FORWARD_H
#define DORCH_TEST_FORWARD_H

#include "dremioorch.h"

static inline DorchBackend *fwd_inner(void *ud) { return *(DorchBackend **)ud; }

static inline DorchCode fwd_push_all(DorchRunList *l, DorchRunSink *sink) {
    for (size_t i = 0; i < dorch_run_list_len(l); i++) {
        DorchCode rc = dorch_run_sink_push(sink, dorch_run_list_get(l, i));
        if (rc != DORCH_OK) return rc;
    }
    return DORCH_OK;
}
static inline DorchCode fwd_save(void *ud, const DorchRunInfo *run) {
    return dorch_backend_save_run(fwd_inner(ud), run);
}
static inline DorchCode fwd_get(void *ud, const char *id, DorchRunSink *sink) {
    DorchRunList *l = NULL;
    DorchCode rc = dorch_backend_get_run(fwd_inner(ud), id, &l);
    if (rc == DORCH_OK) rc = fwd_push_all(l, sink);
    dorch_run_list_free(l);
    return rc;
}
static inline DorchCode fwd_update(void *ud, const char *id, const char *task, DorchTaskStatus st) {
    return dorch_backend_update_task_status(fwd_inner(ud), id, task, st);
}
static inline DorchCode fwd_list(void *ud, const char *pipeline, uint32_t limit, DorchRunSink *sink) {
    DorchRunList *l = NULL;
    DorchCode rc = dorch_backend_list_runs(fwd_inner(ud), pipeline, limit, &l);
    if (rc == DORCH_OK) rc = fwd_push_all(l, sink);
    dorch_run_list_free(l);
    return rc;
}

#endif
