/* A remote worker in C: serves tasks of a Redis queue until its standard
 * input is closed.
 *
 *   cc remote_worker.c -o remote_worker -ldremioorch -lpthread
 *   ./remote_worker redis://127.0.0.1:6379 demo
 *
 * Tasks it serves:
 *   noop     does nothing;
 *   upper    outputs its input `src` (an upstream output or the initial
 *            context entry) in upper case, followed by " by C";
 *   who_c    outputs "c:<pid>" (which worker ran it). */
#define _GNU_SOURCE
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dremioorch.h"

static DorchCode noop(DorchTaskContext *ctx, void *ud) {
    (void)ctx;
    (void)ud;
    return DORCH_OK;
}

static DorchCode upper(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    const uint8_t *src;
    size_t len;
    if (dorch_context_get(ctx, "src", &src, &len) != DORCH_OK) {
        dorch_context_set_error(ctx, "no input named src");
        return DORCH_ERR_NOT_FOUND;
    }
    char *out = malloc(len + 6);
    if (!out) return DORCH_ERR_PANIC;
    for (size_t i = 0; i < len; i++) out[i] = (char)toupper(src[i]);
    memcpy(out + len, " by C", 5);
    DorchCode rc = dorch_context_set_output(ctx, (const uint8_t *)out, len + 5);
    free(out);
    return rc;
}

static DorchCode who_c(DorchTaskContext *ctx, void *ud) {
    (void)ud;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "c:%d", (int)getpid());
    return dorch_context_set_output(ctx, (const uint8_t *)buf, (size_t)n);
}

/* Cancels the token when standard input closes. */
static void *watch_stdin(void *token) {
    char buf[256];
    while (read(0, buf, sizeof buf) > 0) {
    }
    dorch_cancel_token_cancel(token, "standard input closed");
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s REDIS_URL QUEUE\n", argv[0]);
        return 2;
    }
    DorchWorker *w = NULL;
    DorchCancelToken *stop = NULL;
    if (dorch_worker_new(argv[1], argv[2], NULL, &w) != DORCH_OK ||
        dorch_worker_add_task(w, "noop", noop, NULL, NULL) != DORCH_OK ||
        dorch_worker_add_task(w, "upper", upper, NULL, NULL) != DORCH_OK ||
        dorch_worker_add_task(w, "who_c", who_c, NULL, NULL) != DORCH_OK ||
        dorch_worker_set_concurrency(w, 2) != DORCH_OK || dorch_cancel_token_new(&stop) != DORCH_OK) {
        fprintf(stderr, "remote_worker: %s\n", dorch_last_error());
        dorch_worker_free(w);
        return 1;
    }
    pthread_t th;
    pthread_create(&th, NULL, watch_stdin, stop);
    pthread_detach(th);
    printf("ready\n");
    fflush(stdout);
    DorchCode rc = dorch_worker_run(w, stop);
    if (rc != DORCH_OK) fprintf(stderr, "remote_worker: %s\n", dorch_last_error());
    dorch_worker_free(w);
    /* The stdin thread may still use the token: leave it to the exit. */
    return rc == DORCH_OK ? 0 : 1;
}
