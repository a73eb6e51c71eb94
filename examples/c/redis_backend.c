/* redis_backend: a dremioorch backend written in C over Redis (hiredis).
 *
 * Each run is stored as JSON under "run:<id>" (dremioframe's PipelineRun
 * fields); sorted sets "runs" and "runs:<pipeline>" index runs by start time
 * for list_runs. update_task_status is one Lua script, so it is atomic.
 * The hiredis connection is not thread-safe, so the vtable does not set
 * DORCH_BACKEND_THREAD_SAFE: the library serializes the calls.
 *
 * Build:  cc redis_backend.c $(pkg-config --cflags --libs dremioorch) -lhiredis
 * Run:    ./redis_backend [--host H] [--port P] [--check] [--cleanup]
 *   --check    verify what Redis holds against the run result (exit 1 if not)
 *   --cleanup  delete the keys of this program's runs at the end */
#define _GNU_SOURCE
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dremioorch.h"

/* ------------------------------------------------------------------ JSON */
typedef struct {
    char *buf;
    size_t len, cap;
} Str;

static void put(Str *s, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(s->buf ? s->buf + s->len : NULL, s->buf ? s->cap - s->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) abort();
        if (s->buf && s->len + (size_t)n < s->cap) {
            s->len += (size_t)n;
            return;
        }
        s->cap = (s->cap + (size_t)n + 1) * 2;
        s->buf = realloc(s->buf, s->cap);
        if (!s->buf) abort();
    }
}

static void put_json_string(Str *s, const char *v) {
    put(s, "\"");
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"' || *p == '\\') put(s, "\\%c", *p);
        else if (*p < 0x20) put(s, "\\u%04x", *p);
        else put(s, "%c", *p);
    }
    put(s, "\"");
}

static const char *RUN_STATUS[] = {"RUNNING", "SUCCESS", "FAILED"};
static const char *TASK_STATUS[] = {"PENDING", "RUNNING", "SUCCESS", "FAILED", "SKIPPED"};

static char *run_to_json(const DorchRunInfo *r) {
    Str s = {0};
    put(&s, "{\"pipeline_name\":");
    put_json_string(&s, r->pipeline_name);
    put(&s, ",\"run_id\":");
    put_json_string(&s, r->run_id);
    put(&s, ",\"start_time\":%.6f,\"end_time\":", r->start_time);
    if (r->has_end_time) put(&s, "%.6f", r->end_time);
    else put(&s, "null");
    put(&s, ",\"status\":\"%s\",\"tasks\":{", RUN_STATUS[r->status]);
    for (size_t i = 0; i < r->tasks_len; i++) {
        if (i) put(&s, ",");
        put_json_string(&s, r->tasks[i].name);
        put(&s, ":\"%s\"", TASK_STATUS[r->tasks[i].status]);
    }
    put(&s, "}}");
    return s.buf;
}

/* A small parser for the records above (as written by us or re-encoded by
 * Redis' cjson): an object of strings, numbers, null and one nested object. */
typedef struct {
    const char *p;
    int ok;
} Parser;

static void ws(Parser *ps) {
    while (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\t' || *ps->p == '\r') ps->p++;
}
static int eat(Parser *ps, char c) {
    ws(ps);
    if (*ps->p == c) {
        ps->p++;
        return 1;
    }
    return 0;
}
static char *parse_string(Parser *ps) {
    ws(ps);
    if (*ps->p != '"') {
        ps->ok = 0;
        return NULL;
    }
    ps->p++;
    Str s = {0};
    put(&s, "");
    while (*ps->p && *ps->p != '"') {
        char c = *ps->p++;
        if (c == '\\') {
            char e = *ps->p++;
            switch (e) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                unsigned v = 0;
                if (sscanf(ps->p, "%4x", &v) != 1 || v > 0x7f) { /* we only write ASCII escapes */
                    ps->ok = 0;
                    free(s.buf);
                    return NULL;
                }
                ps->p += 4;
                c = (char)v;
                break;
            }
            default: c = e; /* \" \\ \/ */
            }
        }
        put(&s, "%c", c);
    }
    if (*ps->p != '"') {
        ps->ok = 0;
        free(s.buf);
        return NULL;
    }
    ps->p++;
    return s.buf;
}

typedef struct {
    DorchRunInfo info;
    DorchTaskEntry *tasks;
    char *strings[256];
    size_t nstrings;
} ParsedRun;

static void parsed_free(ParsedRun *r) {
    for (size_t i = 0; i < r->nstrings; i++) free(r->strings[i]);
    free(r->tasks);
    memset(r, 0, sizeof *r);
}

static int status_index(const char *v, const char **names, int n) {
    for (int i = 0; i < n; i++)
        if (strcmp(v, names[i]) == 0) return i;
    return -1;
}

static int parse_run(const char *json, ParsedRun *out) {
    memset(out, 0, sizeof *out);
    Parser ps = {json, 1};
    size_t cap = 0;
    if (!eat(&ps, '{')) return 0;
    do {
        char *key = parse_string(&ps);
        if (!key || !eat(&ps, ':')) {
            free(key);
            return 0;
        }
        ws(&ps);
        if (strcmp(key, "tasks") == 0) {
            if (!eat(&ps, '{')) ps.ok = 0;
            if (ps.ok && !eat(&ps, '}')) {
                do {
                    char *name = parse_string(&ps);
                    char *st = (name && eat(&ps, ':')) ? parse_string(&ps) : NULL;
                    int idx = st ? status_index(st, TASK_STATUS, 5) : -1;
                    free(st);
                    if (idx < 0 || out->nstrings == 256) {
                        free(name);
                        ps.ok = 0;
                        break;
                    }
                    if (out->info.tasks_len == cap) {
                        cap = cap ? cap * 2 : 8;
                        out->tasks = realloc(out->tasks, cap * sizeof *out->tasks);
                    }
                    out->strings[out->nstrings++] = name;
                    out->tasks[out->info.tasks_len++] = (DorchTaskEntry){name, (DorchTaskStatus)idx};
                } while (eat(&ps, ','));
                if (ps.ok && !eat(&ps, '}')) ps.ok = 0;
            }
        } else if (*ps.p == '"') {
            char *v = parse_string(&ps);
            if (v && out->nstrings < 256) {
                out->strings[out->nstrings++] = v;
                if (strcmp(key, "pipeline_name") == 0) out->info.pipeline_name = v;
                else if (strcmp(key, "run_id") == 0) out->info.run_id = v;
                else if (strcmp(key, "status") == 0) {
                    int idx = status_index(v, RUN_STATUS, 3);
                    if (idx < 0) ps.ok = 0;
                    else out->info.status = (DorchRunStatus)idx;
                }
            } else {
                free(v);
                ps.ok = 0;
            }
        } else if (strncmp(ps.p, "null", 4) == 0) {
            ps.p += 4;
            if (strcmp(key, "end_time") == 0) out->info.has_end_time = false;
        } else {
            char *end;
            double d = strtod(ps.p, &end);
            if (end == ps.p) ps.ok = 0;
            ps.p = end;
            if (strcmp(key, "start_time") == 0) out->info.start_time = d;
            else if (strcmp(key, "end_time") == 0) {
                out->info.end_time = d;
                out->info.has_end_time = true;
            }
        }
        free(key);
    } while (ps.ok && eat(&ps, ','));
    out->info.tasks = out->tasks;
    if (!ps.ok || !eat(&ps, '}') || !out->info.run_id || !out->info.pipeline_name) {
        parsed_free(out);
        return 0;
    }
    return 1;
}

/* --------------------------------------------------------------- backend */
typedef struct {
    redisContext *c;
} RedisStore;

/* Reports a Redis failure through dorch_set_error and returns the code. */
static DorchCode fail(const char *what, redisContext *c, redisReply *reply) {
    char msg[512];
    if (reply && reply->type == REDIS_REPLY_ERROR)
        snprintf(msg, sizeof msg, "redis %s: %s", what, reply->str);
    else
        snprintf(msg, sizeof msg, "redis %s: %s", what, c->err ? c->errstr : "unexpected reply");
    dorch_set_error(msg);
    if (reply) freeReplyObject(reply);
    return DORCH_ERR_BACKEND;
}

static DorchCode rs_save_run(void *ud, const DorchRunInfo *run) {
    RedisStore *s = ud;
    char *json = run_to_json(run);
    char score[64];
    snprintf(score, sizeof score, "%.6f", run->start_time);
    /* one transaction: the record and both indexes */
    redisAppendCommand(s->c, "MULTI");
    redisAppendCommand(s->c, "SET run:%s %s", run->run_id, json);
    redisAppendCommand(s->c, "ZADD runs %s %s", score, run->run_id);
    redisAppendCommand(s->c, "ZADD runs:%s %s %s", run->pipeline_name, score, run->run_id);
    redisAppendCommand(s->c, "EXEC");
    free(json);
    DorchCode rc = DORCH_OK;
    for (int i = 0; i < 5; i++) {
        redisReply *r = NULL;
        if (redisGetReply(s->c, (void **)&r) != REDIS_OK) return fail("save_run", s->c, NULL);
        if (rc == DORCH_OK && (r->type == REDIS_REPLY_ERROR || (i == 4 && r->type != REDIS_REPLY_ARRAY))) {
            rc = fail("save_run", s->c, r);
            continue;
        }
        freeReplyObject(r);
    }
    return rc;
}

static DorchCode push_json(DorchRunSink *sink, const char *json) {
    ParsedRun pr;
    if (!parse_run(json, &pr)) {
        dorch_set_error("redis: a stored run is not valid JSON of a run");
        return DORCH_ERR_BACKEND;
    }
    DorchCode rc = dorch_run_sink_push(sink, &pr.info); /* copied */
    if (rc != DORCH_OK) dorch_set_error(dorch_last_error());
    parsed_free(&pr);
    return rc;
}

static DorchCode rs_get_run(void *ud, const char *run_id, DorchRunSink *sink) {
    RedisStore *s = ud;
    redisReply *r = redisCommand(s->c, "GET run:%s", run_id);
    if (!r || r->type == REDIS_REPLY_ERROR) return fail("get_run", s->c, r);
    DorchCode rc = DORCH_OK;
    if (r->type == REDIS_REPLY_STRING) rc = push_json(sink, r->str);
    freeReplyObject(r); /* nil: no such run, nothing pushed */
    return rc;
}

static const char *UPDATE_LUA =
    "local raw = redis.call('GET', KEYS[1]) "
    "if not raw then return redis.error_reply('NOT_FOUND no such run') end "
    "local run = cjson.decode(raw) "
    "if type(run.tasks) ~= 'table' then run.tasks = {} end "
    "run.tasks[ARGV[1]] = ARGV[2] "
    "redis.call('SET', KEYS[1], cjson.encode(run)) "
    "return 1";

static DorchCode rs_update_task_status(void *ud, const char *run_id, const char *task,
                                       DorchTaskStatus status) {
    RedisStore *s = ud;
    if ((unsigned)status > DORCH_TASK_SKIPPED) return DORCH_ERR_INVALID_ARGUMENT;
    char key[512];
    snprintf(key, sizeof key, "run:%s", run_id);
    redisReply *r = redisCommand(s->c, "EVAL %s 1 %s %s %s", UPDATE_LUA, key, task,
                                 TASK_STATUS[status]);
    if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOT_FOUND", 9) == 0) {
        char msg[600];
        snprintf(msg, sizeof msg, "redis: no run %s to update", run_id);
        dorch_set_error(msg);
        freeReplyObject(r);
        return DORCH_ERR_NOT_FOUND;
    }
    if (!r || r->type == REDIS_REPLY_ERROR) return fail("update_task_status", s->c, r);
    freeReplyObject(r);
    return DORCH_OK;
}

static DorchCode rs_list_runs(void *ud, const char *pipeline, uint32_t limit, DorchRunSink *sink) {
    RedisStore *s = ud;
    if (limit == 0) return DORCH_OK;
    redisReply *ids = pipeline ? redisCommand(s->c, "ZREVRANGE runs:%s 0 %u", pipeline, limit - 1)
                               : redisCommand(s->c, "ZREVRANGE runs 0 %u", limit - 1);
    if (!ids || ids->type != REDIS_REPLY_ARRAY) return fail("list_runs", s->c, ids);
    DorchCode rc = DORCH_OK;
    for (size_t i = 0; i < ids->elements && rc == DORCH_OK; i++) {
        redisReply *r = redisCommand(s->c, "GET run:%s", ids->element[i]->str);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            rc = fail("list_runs", s->c, r);
            break;
        }
        if (r->type == REDIS_REPLY_STRING) rc = push_json(sink, r->str);
        freeReplyObject(r);
    }
    freeReplyObject(ids);
    return rc;
}

static void rs_destroy(void *ud) {
    RedisStore *s = ud;
    redisFree(s->c);
    free(s);
}

/* Creates the backend; on failure returns NULL with the reason printed. */
static DorchBackend *redis_backend(const char *host, int port) {
    redisContext *c = redisConnect(host, port);
    if (!c || c->err) {
        fprintf(stderr, "cannot connect to Redis at %s:%d: %s\n", host, port,
                c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        return NULL;
    }
    RedisStore *s = malloc(sizeof *s);
    if (!s) return NULL;
    s->c = c;
    DorchBackendVTable vt = {.struct_size = sizeof vt,
                             .flags = 0 /* not thread-safe */,
                             .save_run = rs_save_run,
                             .get_run = rs_get_run,
                             .update_task_status = rs_update_task_status,
                             .list_runs = rs_list_runs,
                             .destroy = rs_destroy};
    DorchBackend *b = NULL;
    if (dorch_backend_custom(&vt, s, &b) != DORCH_OK) {
        fprintf(stderr, "dorch_backend_custom: %s\n", dorch_last_error());
        rs_destroy(s);
        return NULL;
    }
    return b;
}

/* ------------------------------------------------------------ the demo */
static DorchCode step(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    usleep(1000);
    const char *name = dorch_context_task_name(ctx);
    return dorch_context_set_output(ctx, (const uint8_t *)name, strlen(name));
}
static DorchCode flaky(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    if (dorch_context_attempt(ctx) < 2) {
        dorch_context_set_error(ctx, "transient error");
        return DORCH_ERR_TASK_FAILED;
    }
    return DORCH_OK;
}

static int failures = 0;
#define EXPECT(cond)                                                                        \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            failures++;                                                                     \
            fprintf(stderr, "check failed line %d: %s (last error: %s)\n", __LINE__, #cond, \
                    dorch_last_error());                                                    \
        }                                                                                   \
    } while (0)

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    int port = 6379, check = 0, cleanup = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) host = argv[++i];
        else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--check") == 0) check = 1;
        else if (strcmp(argv[i], "--cleanup") == 0) cleanup = 1;
        else {
            fprintf(stderr, "usage: %s [--host H] [--port P] [--check] [--cleanup]\n", argv[0]);
            return 2;
        }
    }
    DorchBackend *b = redis_backend(host, port);
    if (!b) return 1;

    char pipeline_name[64];
    snprintf(pipeline_name, sizeof pipeline_name, "redis_example_%d", (int)getpid());
    DorchPipeline *p = NULL;
    if (dorch_pipeline_new(pipeline_name, b, &p) != DORCH_OK) {
        fprintf(stderr, "%s\n", dorch_last_error());
        return 1;
    }
    dorch_pipeline_set_max_workers(p, 4);
    const char *names[] = {"extract", "clean", "enrich", "score", "load"};
    for (int i = 0; i < 5; i++) dorch_pipeline_add_task(p, names[i], step, NULL, NULL, NULL);
    DorchTaskOptions retry = {.struct_size = sizeof retry, .retries = 1};
    DorchTaskOptions on_fail = {.struct_size = sizeof on_fail, .trigger_rule = DORCH_TRIGGER_ONE_FAILED};
    dorch_pipeline_add_task(p, "flaky_upload", flaky, NULL, NULL, &retry);
    dorch_pipeline_add_task(p, "alert", step, NULL, NULL, &on_fail);
    for (int i = 1; i < 4; i++) dorch_pipeline_add_dependency(p, "extract", names[i]);
    for (int i = 1; i < 4; i++) dorch_pipeline_add_dependency(p, names[i], "load");
    dorch_pipeline_add_dependency(p, "load", "flaky_upload");
    dorch_pipeline_add_dependency(p, "flaky_upload", "alert");

    char run_ids[2][64];
    for (int n = 0; n < 2; n++) {
        DorchRunResult *r = NULL;
        DorchCode rc = dorch_pipeline_run(p, &r);
        if (rc != DORCH_OK) {
            fprintf(stderr, "run: %s\n", dorch_last_error());
            return 1;
        }
        snprintf(run_ids[n], sizeof run_ids[n], "%s", dorch_run_result_run_id(r));
        printf("run %s: %s\n", run_ids[n],
               dorch_run_result_status(r) == DORCH_RUN_SUCCESS ? "SUCCESS" : "FAILED");
        dorch_run_result_free(r);
    }

    DorchRunList *l = NULL;
    if (dorch_backend_list_runs(b, pipeline_name, 10, &l) == DORCH_OK) {
        printf("history of %s in Redis:\n", pipeline_name);
        for (size_t i = 0; i < dorch_run_list_len(l); i++) {
            const DorchRunInfo *ri = dorch_run_list_get(l, i);
            printf("  %s %s, %zu tasks\n", ri->run_id, RUN_STATUS[ri->status], ri->tasks_len);
        }
    }

    if (check) {
        EXPECT(dorch_run_list_len(l) == 2);
        if (dorch_run_list_len(l) == 2) {
            /* newest first */
            EXPECT(strcmp(dorch_run_list_get(l, 0)->run_id, run_ids[1]) == 0);
            EXPECT(strcmp(dorch_run_list_get(l, 1)->run_id, run_ids[0]) == 0);
        }
        DorchRunList *one = NULL;
        EXPECT(dorch_backend_get_run(b, run_ids[0], &one) == DORCH_OK);
        const DorchRunInfo *ri = dorch_run_list_get(one, 0);
        EXPECT(ri && ri->status == DORCH_RUN_SUCCESS && ri->has_end_time && ri->tasks_len == 7 &&
               strcmp(ri->pipeline_name, pipeline_name) == 0);
        for (size_t i = 0; ri && i < ri->tasks_len; i++) {
            DorchTaskStatus want = strcmp(ri->tasks[i].name, "alert") == 0 ? DORCH_TASK_SKIPPED
                                                                           : DORCH_TASK_SUCCESS;
            EXPECT(ri->tasks[i].status == want);
        }
        dorch_run_list_free(one);
        EXPECT(dorch_backend_get_run(b, "no-such-run", &one) == DORCH_ERR_NOT_FOUND);
        EXPECT(dorch_backend_update_task_status(b, "no-such-run", "x", DORCH_TASK_FAILED) ==
               DORCH_ERR_NOT_FOUND);
        EXPECT(strstr(dorch_last_error(), "redis: no run no-such-run") != NULL);
        /* what Redis itself holds */
        redisContext *c = redisConnect(host, port);
        redisReply *r = redisCommand(c, "GET run:%s", run_ids[0]);
        EXPECT(r && r->type == REDIS_REPLY_STRING && strstr(r->str, "\"SUCCESS\"") &&
               strstr(r->str, pipeline_name) && strstr(r->str, "\"flaky_upload\""));
        freeReplyObject(r);
        r = redisCommand(c, "ZSCORE runs:%s %s", pipeline_name, run_ids[1]);
        EXPECT(r && r->type == REDIS_REPLY_STRING && atof(r->str) > 1.6e9);
        freeReplyObject(r);
        redisFree(c);
    }
    dorch_run_list_free(l);

    if (cleanup) {
        redisContext *c = redisConnect(host, port);
        for (int n = 0; n < 2; n++) {
            freeReplyObject(redisCommand(c, "DEL run:%s", run_ids[n]));
            freeReplyObject(redisCommand(c, "ZREM runs %s", run_ids[n]));
        }
        freeReplyObject(redisCommand(c, "DEL runs:%s", pipeline_name));
        redisFree(c);
    }
    dorch_pipeline_free(p);
    dorch_backend_free(b); /* the last reference: rs_destroy closes the connection */
    if (check) printf("redis example: %s\n", failures ? "checks FAILED" : "all checks passed");
    return failures ? 1 : 0;
}
