// C shims between the Go package and libdremioorch; see shim.h.
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <stdbool.h>
#include "shim.h"
#include "_cgo_export.h"


// C-side trampolines: user_data is a runtime/cgo.Handle carried as an
// integer, never a Go pointer.
static DorchCode dg_task_fn(DorchTaskContext *ctx, void *ud) {
	return goTaskCall(ctx, (uintptr_t)ud);
}
static void dg_free_ud(void *ud) { goReleaseHandle((uintptr_t)ud); }
static DorchCode dg_vt_save(void *ud, const DorchRunInfo *run) {
	return goStoreSaveRun((uintptr_t)ud, (DorchRunInfo *)run);
}
static DorchCode dg_vt_get(void *ud, const char *run_id, DorchRunSink *sink) {
	return goStoreGetRun((uintptr_t)ud, (char *)run_id, sink);
}
static DorchCode dg_vt_update(void *ud, const char *run_id, const char *task, DorchTaskStatus s) {
	return goStoreUpdateTaskStatus((uintptr_t)ud, (char *)run_id, (char *)task, (int)s);
}
static DorchCode dg_vt_list(void *ud, const char *pipeline, uint32_t limit, DorchRunSink *sink) {
	return goStoreListRuns((uintptr_t)ud, (char *)pipeline, limit, sink);
}
static DorchCode dg_vt_update_detail(void *ud, const char *run_id, const DorchTaskDetail *d) {
	return goStoreUpdateTaskDetail((uintptr_t)ud, (char *)run_id, (DorchTaskDetail *)d);
}
static DorchCode dg_vt_get_details(void *ud, const char *run_id, DorchTaskDetailSink *sink) {
	return goStoreGetTaskDetails((uintptr_t)ud, (char *)run_id, sink);
}
static DorchCode dg_vt_renew_lease(void *ud, const char *run_id, double at, uint64_t interval_ms) {
	return goStoreRenewLease((uintptr_t)ud, (char *)run_id, at, interval_ms);
}
static DorchCode dg_vt_recover(void *ud, uint64_t stale_after_ms, uint64_t *n) {
	return goStoreRecover((uintptr_t)ud, stale_after_ms, n);
}
static DorchCode dg_vt_purge(void *ud, double before, const char *pipeline, bool dry_run, uint64_t *n) {
	return goStorePurge((uintptr_t)ud, before, (char *)pipeline, dry_run ? 1 : 0, n);
}
static DorchCode dg_vt_store_output(void *ud, const char *run_id, const char *task,
		const uint8_t *data, size_t len, bool stored) {
	return goStoreStoreOutput((uintptr_t)ud, (char *)run_id, (char *)task, (uint8_t *)data, len,
		stored ? 1 : 0);
}
static DorchCode dg_vt_get_outputs(void *ud, const char *run_id, DorchOutputSink *sink) {
	return goStoreGetOutputs((uintptr_t)ud, (char *)run_id, sink);
}
static DorchCode dg_vt_link_resume(void *ud, const char *run_id, const char *original) {
	return goStoreLinkResume((uintptr_t)ud, (char *)run_id, (char *)original);
}
static DorchCode dg_vt_resumed_from(void *ud, const char *run_id, DorchResumeSink *sink) {
	return goStoreResumedFrom((uintptr_t)ud, (char *)run_id, sink);
}

// Each shim below makes one library call and, when it fails, copies
// dorch_last_error() in that same C call: the message is per OS thread, and
// the goroutine may be on another thread by the time Go runs again.
static char *dg_err(DorchCode c) {
	if (c == DORCH_OK) return NULL;
	const char *m = dorch_last_error();
	return strdup(m ? m : "");
}
#define DG_RET(errp, call) do { DorchCode c_ = (call); *(errp) = dg_err(c_); return c_; } while (0)

DorchCode dg_backend_memory(DorchBackend **out, char **err) {
	DG_RET(err, dorch_backend_memory(out));
}
DorchCode dg_backend_sqlite(const char *path, DorchBackend **out, char **err) {
	DG_RET(err, dorch_backend_sqlite(path, out));
}
DorchCode dg_backend_postgres(const char *dsn, const char *table, DorchBackend **out, char **err) {
	DG_RET(err, dorch_backend_postgres(dsn, table, out));
}
DorchCode dg_backend_mysql(const char *url, const char *table, DorchBackend **out, char **err) {
	DG_RET(err, dorch_backend_mysql(url, table, out));
}
DorchCode dg_backend_open(const char *url, DorchBackend **out, char **err) {
	DG_RET(err, dorch_backend_open(url, out));
}
DorchCode dg_backend_custom(uintptr_t h, int thread_safe, int details, int durable,
		DorchBackend **out, char **err) {
	DorchBackendVTable vt;
	memset(&vt, 0, sizeof vt);
	vt.struct_size = sizeof vt;
	vt.flags = thread_safe ? DORCH_BACKEND_THREAD_SAFE : 0;
	vt.save_run = dg_vt_save;
	vt.get_run = dg_vt_get;
	vt.update_task_status = dg_vt_update;
	vt.list_runs = dg_vt_list;
	vt.destroy = dg_free_ud;
	if (details) {
		vt.update_task_detail = dg_vt_update_detail;
		vt.get_task_details = dg_vt_get_details;
	}
	if (durable) {
		vt.renew_lease = dg_vt_renew_lease;
		vt.recover = dg_vt_recover;
		vt.purge = dg_vt_purge;
		vt.store_output = dg_vt_store_output;
		vt.get_outputs = dg_vt_get_outputs;
		vt.link_resume = dg_vt_link_resume;
		vt.resumed_from = dg_vt_resumed_from;
	}
	DG_RET(err, dorch_backend_custom(&vt, (void *)h, out));
}
DorchCode dg_backend_save_run(DorchBackend *b, const DorchRunInfo *run, char **err) {
	DG_RET(err, dorch_backend_save_run(b, run));
}
DorchCode dg_backend_update_task_status(DorchBackend *b, const char *run_id,
		const char *task, int s, char **err) {
	DG_RET(err, dorch_backend_update_task_status(b, run_id, task, (DorchTaskStatus)s));
}
DorchCode dg_backend_get_run(DorchBackend *b, const char *run_id, DorchRunList **out, char **err) {
	DG_RET(err, dorch_backend_get_run(b, run_id, out));
}
DorchCode dg_backend_list_runs(DorchBackend *b, const char *pipeline, uint32_t limit,
		DorchRunList **out, char **err) {
	DG_RET(err, dorch_backend_list_runs(b, pipeline, limit, out));
}
DorchCode dg_run_sink_push(DorchRunSink *sink, const DorchRunInfo *run, char **err) {
	DG_RET(err, dorch_run_sink_push(sink, run));
}

DorchCode dg_pipeline_new(const char *name, DorchBackend *b, DorchPipeline **out, char **err) {
	DG_RET(err, dorch_pipeline_new(name, b, out));
}
DorchCode dg_pipeline_set_max_workers(DorchPipeline *p, uint32_t n, char **err) {
	DG_RET(err, dorch_pipeline_set_max_workers(p, n));
}
DorchCode dg_pipeline_add_task(DorchPipeline *p, const char *name, uintptr_t h,
		uint32_t retries, uint32_t retry_delay_ms, int rule, uint32_t timeout_ms, char **err) {
	DorchTaskOptions o;
	memset(&o, 0, sizeof o);
	o.struct_size = sizeof o;
	o.retries = retries;
	o.retry_delay_ms = retry_delay_ms;
	o.trigger_rule = (DorchTriggerRule)rule;
	o.timeout_ms = timeout_ms;
	DG_RET(err, dorch_pipeline_add_task(p, name, dg_task_fn, (void *)h, dg_free_ud, &o));
}
DorchCode dg_pipeline_add_dependency(DorchPipeline *p, const char *up, const char *down, char **err) {
	DG_RET(err, dorch_pipeline_add_dependency(p, up, down));
}
DorchCode dg_pipeline_set_context(DorchPipeline *p, const char *key, const uint8_t *data,
		size_t len, char **err) {
	static const uint8_t empty = 0;
	DG_RET(err, dorch_pipeline_set_context(p, key, len ? data : &empty, len));
}
DorchCode dg_pipeline_run(DorchPipeline *p, DorchRunResult **out, char **err) {
	DG_RET(err, dorch_pipeline_run(p, out));
}
DorchCode dg_pipeline_to_mermaid(const DorchPipeline *p, char **out, char **err) {
	DG_RET(err, dorch_pipeline_to_mermaid(p, out));
}

DorchCode dg_context_set_output(DorchTaskContext *ctx, const uint8_t *data, size_t len) {
	static const uint8_t empty = 0;
	return dorch_context_set_output(ctx, len ? data : &empty, len);
}

// A C copy of a run record, built from Go values: one block for the struct
// and the task entries; the strings are malloc'ed one by one.
DorchRunInfo *dg_run_alloc(size_t ntasks) {
	DorchRunInfo *r = calloc(1, sizeof(DorchRunInfo) + ntasks * sizeof(DorchTaskEntry));
	if (r && ntasks) r->tasks = (const DorchTaskEntry *)(r + 1);
	return r;
}
void dg_run_set_head(DorchRunInfo *r, char *pipeline_name, char *run_id, double start_time,
		bool has_end_time, double end_time, int status) {
	r->pipeline_name = pipeline_name;
	r->run_id = run_id;
	r->start_time = start_time;
	r->has_end_time = has_end_time;
	r->end_time = has_end_time ? end_time : 0.0;
	r->status = (DorchRunStatus)status;
}
void dg_run_set_task(DorchRunInfo *r, size_t i, char *name, int status) {
	DorchTaskEntry *e = (DorchTaskEntry *)r->tasks + i;
	e->name = name;
	e->status = (DorchTaskStatus)status;
}
void dg_run_free(DorchRunInfo *r) {
	if (!r) return;
	free((char *)r->pipeline_name);
	free((char *)r->run_id);
	for (size_t i = 0; i < r->tasks_len; i++) free((char *)r->tasks[i].name);
	free(r);
}

// Run control.

// The Go run being started on this thread (a cgo.Handle; 0: none), read by
// the listener's on_run(RUNNING). Saved and restored around each run, so a
// run started from a task running on this thread does not disturb it.
static _Thread_local uintptr_t dg_cur_run;

static void dg_on_run(void *ud, const char *pipeline, const char *run_id, DorchRunStatus st) {
	uintptr_t run = st == DORCH_RUN_RUNNING ? dg_cur_run : 0;
	goOnRun((uintptr_t)ud, run, (char *)pipeline, (char *)run_id, (int)st);
}
static void dg_on_task(void *ud, const char *run_id, const DorchTaskDetail *d) {
	goOnTask((uintptr_t)ud, (char *)run_id, (DorchTaskDetail *)d);
}

DorchCode dg_pipeline_run_with(DorchPipeline *p, const char *resume_id, DorchCancelToken *tok,
		uintptr_t run, uint32_t lease_ms, uint32_t max_output, DorchRunResult **out, char **err) {
	DorchRunOptions o;
	memset(&o, 0, sizeof o);
	o.struct_size = sizeof o;
	o.cancel = tok;
	o.lease_interval_ms = lease_ms;
	o.max_stored_output_bytes = max_output;
	uintptr_t saved = dg_cur_run;
	dg_cur_run = run;
	DorchCode c = resume_id ? dorch_pipeline_resume(p, resume_id, &o, out)
		: dorch_pipeline_run_with(p, &o, out);
	dg_cur_run = saved;
	*err = dg_err(c);
	return c;
}
DorchCode dg_pipeline_set_listener(DorchPipeline *p, uintptr_t h, int with_task, char **err) {
	DorchListener l;
	memset(&l, 0, sizeof l);
	l.struct_size = sizeof l;
	l.user_data = (void *)h;
	l.on_run = dg_on_run;
	l.on_task = with_task ? dg_on_task : NULL;
	DG_RET(err, dorch_pipeline_set_listener(p, &l));
}
DorchCode dg_cancel_token_new(DorchCancelToken **out, char **err) {
	DG_RET(err, dorch_cancel_token_new(out));
}
DorchCode dg_cancel_token_cancel(DorchCancelToken *t, const char *reason, char **err) {
	DG_RET(err, dorch_cancel_token_cancel(t, reason));
}
DorchCode dg_backend_get_task_details(DorchBackend *b, const char *run_id,
		DorchTaskDetailList **out, char **err) {
	DG_RET(err, dorch_backend_get_task_details(b, run_id, out));
}
DorchCode dg_detail_sink_push(DorchTaskDetailSink *sink, const char *name, int status,
		uint32_t attempts, bool has_start, double start, bool has_end, double end,
		const char *error) {
	DorchTaskDetail d;
	memset(&d, 0, sizeof d);
	d.name = name;
	d.status = (DorchTaskStatus)status;
	d.attempts = attempts;
	d.has_start_time = has_start;
	d.start_time = has_start ? start : 0.0;
	d.has_end_time = has_end;
	d.end_time = has_end ? end : 0.0;
	d.error = error;
	return dorch_task_detail_sink_push(sink, &d);
}

// Durable history.
DorchCode dg_backend_recover(DorchBackend *b, uint64_t stale_after_ms, uint64_t *n, char **err) {
	DG_RET(err, dorch_backend_recover(b, stale_after_ms, n));
}
DorchCode dg_backend_purge(DorchBackend *b, double before, const char *pipeline, int dry_run,
		uint64_t *n, char **err) {
	DG_RET(err, dorch_backend_purge(b, before, pipeline, dry_run != 0, n));
}
DorchCode dg_backend_resumed_from(DorchBackend *b, const char *run_id, char **out, char **err) {
	DG_RET(err, dorch_backend_resumed_from(b, run_id, out));
}
DorchCode dg_output_sink_push(DorchOutputSink *sink, const char *task, const uint8_t *data,
		size_t len, int stored) {
	return dorch_output_sink_push(sink, task, data, len, stored != 0);
}
DorchCode dg_resume_sink_set(DorchResumeSink *sink, const char *original) {
	return dorch_resume_sink_set(sink, original);
}

DorchCode dg_scheduler_new(DorchBackend *claims, DorchScheduler **out, char **err) {
	DG_RET(err, dorch_scheduler_new(claims, out));
}
DorchCode dg_scheduler_add(DorchScheduler *s, const char *name, DorchPipeline *p, const char *cron,
		uint64_t interval_ms, const char *tz, int overlap, uint32_t max_catchup, char **err) {
	DorchSchedule spec;
	memset(&spec, 0, sizeof spec);
	spec.struct_size = sizeof spec;
	spec.cron = cron;
	spec.interval_ms = interval_ms;
	spec.timezone = tz;
	*(uint32_t *)&spec.overlap = (uint32_t)overlap;
	spec.max_catchup = max_catchup;
	DG_RET(err, dorch_scheduler_add(s, name, p, &spec));
}
DorchCode dg_scheduler_start(DorchScheduler *s, char **err) {
	DG_RET(err, dorch_scheduler_start(s));
}
DorchCode dg_scheduler_next_fire(DorchScheduler *s, const char *name, double *out, char **err) {
	DG_RET(err, dorch_scheduler_next_fire(s, name, out));
}
DorchCode dg_scheduler_stop(DorchScheduler *s, int cancel_running, char **err) {
	DG_RET(err, dorch_scheduler_stop(s, cancel_running != 0));
}

// Remote workers.
static DorchRemoteOptions dg_remote_options(uint32_t visibility_ms, uint32_t dispatch_ms,
		uint32_t max_payload) {
	DorchRemoteOptions o;
	memset(&o, 0, sizeof o);
	o.struct_size = sizeof o;
	o.visibility_timeout_ms = visibility_ms;
	o.dispatch_timeout_ms = dispatch_ms;
	o.max_payload_bytes = max_payload;
	return o;
}
DorchCode dg_executor_redis(const char *url, const char *queue, uint32_t visibility_ms,
		uint32_t dispatch_ms, uint32_t max_payload, DorchExecutor **out, char **err) {
	DorchRemoteOptions o = dg_remote_options(visibility_ms, dispatch_ms, max_payload);
	DG_RET(err, dorch_executor_redis(url, queue, &o, out));
}
DorchCode dg_pipeline_add_remote_task(DorchPipeline *p, const char *name, DorchExecutor *e,
		uint32_t retries, uint32_t retry_delay_ms, int rule, uint32_t timeout_ms, char **err) {
	DorchTaskOptions o;
	memset(&o, 0, sizeof o);
	o.struct_size = sizeof o;
	o.retries = retries;
	o.retry_delay_ms = retry_delay_ms;
	o.trigger_rule = (DorchTriggerRule)rule;
	o.timeout_ms = timeout_ms;
	DG_RET(err, dorch_pipeline_add_remote_task(p, name, e, &o));
}
DorchCode dg_worker_new(const char *url, const char *queue, uint32_t visibility_ms,
		uint32_t dispatch_ms, uint32_t max_payload, DorchWorker **out, char **err) {
	DorchRemoteOptions o = dg_remote_options(visibility_ms, dispatch_ms, max_payload);
	DG_RET(err, dorch_worker_new(url, queue, &o, out));
}
DorchCode dg_worker_add_task(DorchWorker *w, const char *name, uintptr_t h, char **err) {
	DG_RET(err, dorch_worker_add_task(w, name, dg_task_fn, (void *)h, dg_free_ud));
}
DorchCode dg_worker_set_concurrency(DorchWorker *w, uint32_t n, char **err) {
	DG_RET(err, dorch_worker_set_concurrency(w, n));
}
DorchCode dg_worker_run(DorchWorker *w, DorchCancelToken *stop, char **err) {
	DG_RET(err, dorch_worker_run(w, stop));
}

// Web UI.
DorchCode dg_ui_start(DorchBackend *b, const char *listen, const char *user, const char *password,
                      DorchUi **out, char **err) {
	DorchUiOptions o = {sizeof(DorchUiOptions), listen, user, password};
	DG_RET(err, dorch_ui_start(b, &o, out));
}
DorchCode dg_ui_add_pipeline(DorchUi *ui, DorchPipeline *p, char **err) {
	DG_RET(err, dorch_ui_add_pipeline(ui, p));
}
DorchCode dg_ui_address(const DorchUi *ui, char **out, char **err) {
	DG_RET(err, dorch_ui_address(ui, out));
}
