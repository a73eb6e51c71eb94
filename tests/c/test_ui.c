/* The web UI from C: started on port 0, /healthz, /api/runs and a trigger
 * over a raw socket; NULL and bad input. */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "check.h"

static DorchCode ok_task(DorchTaskContext *ctx, void *user_data) {
    (void)ctx;
    (void)user_data;
    return DORCH_OK;
}

/* Sends one request to 127.0.0.1:port and reads the whole answer into buf. */
static int http(int port, const char *method, const char *path, char *buf, size_t cap) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    char req[512];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                     "Content-Length: 0\r\n\r\n",
                     method, path, port);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    size_t got = 0;
    ssize_t r;
    while (got + 1 < cap && (r = read(fd, buf + got, cap - 1 - got)) > 0) got += (size_t)r;
    buf[got] = 0;
    close(fd);
    return (int)got;
}

int main(void) {
    DorchBackend *b = NULL;
    CHECK_OK(dorch_backend_memory(&b));
    DorchUi *ui = NULL;

    /* Bad input. */
    CHECK(dorch_ui_start(NULL, NULL, &ui) != DORCH_OK);
    CHECK(dorch_ui_start(b, NULL, NULL) != DORCH_OK);
    DorchUiOptions bad = {sizeof(DorchUiOptions), "not an address", NULL, NULL};
    CHECK_CODE(dorch_ui_start(b, &bad, &ui), DORCH_ERR_CONFIG);
    DorchUiOptions half = {sizeof(DorchUiOptions), "127.0.0.1:0", "user", NULL};
    CHECK_CODE(dorch_ui_start(b, &half, &ui), DORCH_ERR_INVALID_ARGUMENT);
    CHECK_ERR_HAS("username and password");
    DorchUiOptions utf8 = {sizeof(DorchUiOptions), "127.0.0.1:\xff", NULL, NULL};
    CHECK_CODE(dorch_ui_start(b, &utf8, &ui), DORCH_ERR_INVALID_ARGUMENT);
    DorchUiOptions tiny = {2, NULL, NULL, NULL};
    CHECK_CODE(dorch_ui_start(b, &tiny, &ui), DORCH_ERR_INVALID_ARGUMENT);
    CHECK(ui == NULL);

    DorchUiOptions opts = {sizeof(DorchUiOptions), "127.0.0.1:0", NULL, NULL};
    CHECK_OK(dorch_ui_start(b, &opts, &ui));
    char *addr = NULL;
    CHECK(dorch_ui_address(NULL, &addr) != DORCH_OK);
    CHECK(dorch_ui_address(ui, NULL) != DORCH_OK);
    CHECK_OK(dorch_ui_address(ui, &addr));
    CHECK(addr != NULL && strncmp(addr, "127.0.0.1:", 10) == 0);
    int port = addr ? atoi(strchr(addr, ':') + 1) : 0;
    CHECK(port > 0);
    dorch_string_free(addr);

    DorchPipeline *p = NULL;
    CHECK_OK(dorch_pipeline_new("c_ui", b, &p));
    CHECK_OK(dorch_pipeline_add_task(p, "only", ok_task, NULL, NULL, NULL));
    CHECK(dorch_ui_add_pipeline(NULL, p) != DORCH_OK);
    CHECK(dorch_ui_add_pipeline(ui, NULL) != DORCH_OK);
    CHECK_OK(dorch_ui_add_pipeline(ui, p));
    dorch_pipeline_free(p); /* the UI keeps its own reference */

    static char buf[65536];
    CHECK(http(port, "GET", "/healthz", buf, sizeof buf) > 0);
    CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0);
    CHECK(strstr(buf, "\r\n\r\nok") != NULL);
    CHECK(http(port, "GET", "/api/runs", buf, sizeof buf) > 0);
    CHECK(strstr(buf, "\r\n\r\n[]") != NULL);
    CHECK(http(port, "GET", "/api/pipelines", buf, sizeof buf) > 0);
    CHECK(strstr(buf, "[\"c_ui\"]") != NULL);
    CHECK(http(port, "POST", "/api/pipelines/c_ui/trigger", buf, sizeof buf) > 0);
    CHECK(strncmp(buf, "HTTP/1.1 202", 12) == 0);
    CHECK(http(port, "POST", "/api/pipelines/nobody/trigger", buf, sizeof buf) > 0);
    CHECK(strncmp(buf, "HTTP/1.1 404", 12) == 0);
    /* The triggered run appears (generous wait: loaded CI). */
    int seen = 0;
    for (int i = 0; i < 600 && !seen; i++) {
        if (http(port, "GET", "/api/runs?status=SUCCESS", buf, sizeof buf) > 0 &&
            strstr(buf, "\"pipeline_name\":\"c_ui\"") != NULL)
            seen = 1;
        else {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    CHECK(seen);

    dorch_ui_free(ui);
    dorch_ui_free(NULL);
    CHECK(http(port, "GET", "/healthz", buf, sizeof buf) < 0);
    dorch_backend_free(b);
    return check_report("test_ui");
}
