/* The SQLite URL convention of dorch_backend_open, shared with dremioframe's
 * command line and SQLAlchemy: what follows sqlite:/// is the path, relative
 * to the current directory (sqlite:///rel.db) or absolute (sqlite:////abs.db);
 * a path with no scheme is a SQLite file; sqlite://rel.db stays relative.
 * Each URL is checked by where its file appears. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Opens `url`, records one run in it, and checks that `expected` now exists
 * while `unexpected` (if any) does not. */
static void opens(const char *url, const char *expected, const char *unexpected) {
    DorchBackend *b = NULL;
    CHECK_OK(dorch_backend_open(url, &b));
    if (!b) {
        fprintf(stderr, "  (url %s)\n", url);
        return;
    }
    DorchTaskEntry task = {"t", DORCH_TASK_PENDING};
    DorchRunInfo run = {"url", "url-run", 1.0, false, 0.0, DORCH_RUN_RUNNING, &task, 1};
    CHECK_OK(dorch_backend_save_run(b, &run));
    dorch_backend_free(b);
    if (!exists(expected)) {
        g_failures++;
        fprintf(stderr, "%s did not create %s\n", url, expected);
    }
    if (unexpected && exists(unexpected)) {
        g_failures++;
        fprintf(stderr, "%s created %s\n", url, unexpected);
    }
    g_checks += 2;
}

int main(void) {
    char base[] = "/tmp/dorch-url-XXXXXX";
    if (!mkdtemp(base)) return 2;
    char work[256], abs_dir[256], url[1024], path[1024], wrong[1024];
    snprintf(work, sizeof work, "%s/work", base);
    snprintf(abs_dir, sizeof abs_dir, "%s/abs", base);
    if (mkdir(work, 0700) != 0 || mkdir(abs_dir, 0700) != 0 || chdir(work) != 0) return 2;

    /* sqlite:///rel.db: ./rel.db, not /rel.db */
    opens("sqlite:///rel.db", "rel.db", "/rel.db");
    /* a relative path with directories */
    CHECK(mkdir("sub", 0700) == 0);
    opens("sqlite:///sub/nested.db", "sub/nested.db", NULL);

    /* sqlite:////abs/path.db: the absolute path; nothing under the cwd */
    snprintf(url, sizeof url, "sqlite:///%s/four.db", abs_dir); /* abs_dir starts with '/' */
    snprintf(path, sizeof path, "%s/four.db", abs_dir);
    snprintf(wrong, sizeof wrong, "%s%s/four.db", work, abs_dir);
    opens(url, path, wrong);

    /* a bare path, relative or absolute */
    opens("bare.db", "bare.db", NULL);
    snprintf(path, sizeof path, "%s/bare-abs.db", abs_dir);
    opens(path, path, NULL);

    /* two slashes: still a relative path */
    opens("sqlite://two.db", "two.db", NULL);

    /* URLs that name no file */
    DorchBackend *b = NULL;
    CHECK_CODE(dorch_backend_open("sqlite:///", &b), DORCH_ERR_CONFIG);
    CHECK_CODE(dorch_backend_open("sqlite://", &b), DORCH_ERR_CONFIG);
    CHECK_CODE(dorch_backend_open("sqlite:rel.db", &b), DORCH_ERR_CONFIG);
    CHECK_CODE(dorch_backend_open("ftp://host/x.db", &b), DORCH_ERR_CONFIG);
    CHECK(b == NULL);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (chdir("/") != 0 || system(cmd) != 0) return 2;
    return check_report("test_url");
}
