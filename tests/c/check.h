/* Tiny test helpers shared by the C and C++ test programs. */
#ifndef DORCH_TEST_CHECK_H
#define DORCH_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dremioorch.h"

static int g_checks = 0;
static int g_failures = 0;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        g_checks++;                                                                  \
        if (!(cond)) {                                                               \
            g_failures++;                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__, \
                    __LINE__, #cond, dorch_last_error());                            \
        }                                                                            \
    } while (0)

/* A call must return `code`. */
#define CHECK_CODE(call, code)                                                            \
    do {                                                                                  \
        DorchCode rc_ = (call);                                                           \
        g_checks++;                                                                       \
        if (rc_ != (code)) {                                                              \
            g_failures++;                                                                 \
            fprintf(stderr, "%s:%d: %s returned %d, expected %s=%d (last error: %s)\n", \
                    __FILE__, __LINE__, #call, (int)rc_, #code, (int)(code),              \
                    dorch_last_error());                                                  \
        }                                                                                 \
    } while (0)

#define CHECK_OK(call) CHECK_CODE(call, DORCH_OK)

/* The last error message must contain `needle`. */
#define CHECK_ERR_HAS(needle)                                                      \
    do {                                                                           \
        g_checks++;                                                                \
        if (strstr(dorch_last_error(), (needle)) == NULL) {                        \
            g_failures++;                                                          \
            fprintf(stderr, "%s:%d: last error %s lacks \"%s\"\n", __FILE__,       \
                    __LINE__, dorch_last_error(), (needle));                        \
        }                                                                          \
    } while (0)

static int check_report(const char *name) {
    if (g_checks == 0) {
        fprintf(stderr, "%s: no checks ran\n", name);
        return 1;
    }
    printf("%s: %d checks, %d failed\n", name, g_checks, g_failures);
    return g_failures == 0 ? 0 : 1;
}

#endif
