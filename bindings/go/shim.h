// C shims between the Go package and libdremioorch (definitions in shim.c).
//
// Every dg_* function that wraps a fallible library call makes that one call
// and, when it fails, copies dorch_last_error() into *err (malloc'ed, freed
// by Go) within the same C call: the message is kept per OS thread and a
// goroutine may move to another thread between two cgo calls.
//
// runtime/cgo.Handle values cross as uintptr_t and become the library's
// void *user_data only in C: no Go pointer is ever stored by the library.
#ifndef DREMIOORCH_GO_SHIM_H
#define DREMIOORCH_GO_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "dremioorch.h"

DorchCode dg_backend_memory(DorchBackend **out, char **err);
DorchCode dg_backend_sqlite(const char *path, DorchBackend **out, char **err);
DorchCode dg_backend_postgres(const char *dsn, const char *table, DorchBackend **out, char **err);
DorchCode dg_backend_mysql(const char *url, const char *table, DorchBackend **out, char **err);
DorchCode dg_backend_open(const char *url, DorchBackend **out, char **err);
DorchCode dg_backend_custom(uintptr_t h, int thread_safe, int details, int durable,
		DorchBackend **out, char **err);
DorchCode dg_backend_save_run(DorchBackend *b, const DorchRunInfo *run, char **err);
DorchCode dg_backend_update_task_status(DorchBackend *b, const char *run_id,
		const char *task, int s, char **err);
DorchCode dg_backend_get_run(DorchBackend *b, const char *run_id, DorchRunList **out, char **err);
DorchCode dg_backend_list_runs(DorchBackend *b, const char *pipeline, uint32_t limit,
		DorchRunList **out, char **err);
DorchCode dg_run_sink_push(DorchRunSink *sink, const DorchRunInfo *run, char **err);

DorchCode dg_pipeline_new(const char *name, DorchBackend *b, DorchPipeline **out, char **err);
DorchCode dg_pipeline_set_max_workers(DorchPipeline *p, uint32_t n, char **err);
DorchCode dg_pipeline_add_task(DorchPipeline *p, const char *name, uintptr_t h,
		uint32_t retries, uint32_t retry_delay_ms, int rule, uint32_t timeout_ms, char **err);
DorchCode dg_pipeline_add_dependency(DorchPipeline *p, const char *up, const char *down, char **err);
DorchCode dg_pipeline_set_context(DorchPipeline *p, const char *key, const uint8_t *data,
		size_t len, char **err);
DorchCode dg_pipeline_run(DorchPipeline *p, DorchRunResult **out, char **err);
DorchCode dg_pipeline_to_mermaid(const DorchPipeline *p, char **out, char **err);

DorchCode dg_context_set_output(DorchTaskContext *ctx, const uint8_t *data, size_t len);

// A C copy of a run record built from Go values: one block holding the
// struct and ntasks entries; free it, and its strings, with dg_run_free.
DorchRunInfo *dg_run_alloc(size_t ntasks);
void dg_run_set_head(DorchRunInfo *r, char *pipeline_name, char *run_id, double start_time,
		bool has_end_time, double end_time, int status);
void dg_run_set_task(DorchRunInfo *r, size_t i, char *name, int status);
void dg_run_free(DorchRunInfo *r);

// Run control (runcontrol.go, listener.go, details.go).

// Runs p (or, with resume_id not NULL, resumes that run of p) with a cancel
// token (or NULL) and the run options (0: the library's defaults). run, a
// runtime/cgo.Handle of the Go run (0: none), is handed to goOnRun with the
// run's first event (on_run(RUNNING), which the library emits on this thread
// before any task starts), so that Go learns the run's id before its tasks run.
DorchCode dg_pipeline_run_with(DorchPipeline *p, const char *resume_id, DorchCancelToken *tok,
		uintptr_t run, uint32_t lease_ms, uint32_t max_output, DorchRunResult **out, char **err);
// Installs the pipeline's listener: user_data is the cgo.Handle h; on_run
// is always set, on_task only when with_task.
DorchCode dg_pipeline_set_listener(DorchPipeline *p, uintptr_t h, int with_task, char **err);
DorchCode dg_cancel_token_new(DorchCancelToken **out, char **err);
DorchCode dg_cancel_token_cancel(DorchCancelToken *t, const char *reason, char **err);
DorchCode dg_backend_get_task_details(DorchBackend *b, const char *run_id,
		DorchTaskDetailList **out, char **err);
DorchCode dg_detail_sink_push(DorchTaskDetailSink *sink, const char *name, int status,
		uint32_t attempts, bool has_start, double start, bool has_end, double end,
		const char *error);

// Durable history (durable.go).
DorchCode dg_backend_recover(DorchBackend *b, uint64_t stale_after_ms, uint64_t *n, char **err);
DorchCode dg_backend_purge(DorchBackend *b, double before, const char *pipeline, int dry_run,
		uint64_t *n, char **err);
DorchCode dg_backend_resumed_from(DorchBackend *b, const char *run_id, char **out, char **err);
DorchCode dg_output_sink_push(DorchOutputSink *sink, const char *task, const uint8_t *data,
		size_t len, int stored);
DorchCode dg_resume_sink_set(DorchResumeSink *sink, const char *original);

/* Scheduler (scheduler.go). */
DorchCode dg_scheduler_new(DorchBackend *claims, DorchScheduler **out, char **err);
DorchCode dg_scheduler_add(DorchScheduler *s, const char *name, DorchPipeline *p, const char *cron,
		uint64_t interval_ms, const char *tz, int overlap, uint32_t max_catchup, char **err);
DorchCode dg_scheduler_start(DorchScheduler *s, char **err);
DorchCode dg_scheduler_next_fire(DorchScheduler *s, const char *name, double *out, char **err);
DorchCode dg_scheduler_stop(DorchScheduler *s, int cancel_running, char **err);
// Remote workers (remote.go). The options are DorchRemoteOptions' fields.
DorchCode dg_executor_redis(const char *url, const char *queue, uint32_t visibility_ms,
		uint32_t dispatch_ms, uint32_t max_payload, DorchExecutor **out, char **err);
DorchCode dg_pipeline_add_remote_task(DorchPipeline *p, const char *name, DorchExecutor *e,
		uint32_t retries, uint32_t retry_delay_ms, int rule, uint32_t timeout_ms, char **err);
DorchCode dg_worker_new(const char *url, const char *queue, uint32_t visibility_ms,
		uint32_t dispatch_ms, uint32_t max_payload, DorchWorker **out, char **err);
DorchCode dg_worker_add_task(DorchWorker *w, const char *name, uintptr_t h, char **err);
DorchCode dg_worker_set_concurrency(DorchWorker *w, uint32_t n, char **err);
DorchCode dg_worker_run(DorchWorker *w, DorchCancelToken *stop, char **err);
DorchCode dg_ui_start(DorchBackend *b, const char *listen, const char *user, const char *password,
                      DorchUi **out, char **err);
DorchCode dg_ui_add_pipeline(DorchUi *ui, DorchPipeline *p, char **err);
DorchCode dg_ui_address(const DorchUi *ui, char **out, char **err);

#endif
