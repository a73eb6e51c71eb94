// The header from C++: it compiles (extern "C", enums, opaque types) and a
// pipeline runs with C++ callbacks, RAII wrappers and lambdas.
#include "dremioorch.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

static int failures = 0, checks = 0;
#define EXPECT(cond)                                                                        \
    do {                                                                                    \
        ++checks;                                                                           \
        if (!(cond)) {                                                                      \
            ++failures;                                                                     \
            std::fprintf(stderr, "%s:%d: EXPECT failed: %s (last error: %s)\n", __FILE__, \
                         __LINE__, #cond, dorch_last_error());                              \
        }                                                                                   \
    } while (0)

struct PipelineDeleter {
    void operator()(DorchPipeline *p) const { dorch_pipeline_free(p); }
};
struct ResultDeleter {
    void operator()(DorchRunResult *r) const { dorch_run_result_free(r); }
};

struct Step {
    std::string text;
    std::atomic<int> *calls;
};

extern "C" DorchCode step(DorchTaskContext *ctx, void *ud) {
    auto *s = static_cast<Step *>(ud);
    s->calls->fetch_add(1);
    std::string out = s->text;
    const uint8_t *d = nullptr;
    size_t n = 0;
    if (dorch_context_get(ctx, "hello", &d, &n) == DORCH_OK)
        out = std::string(reinterpret_cast<const char *>(d), n) + " " + out;
    return dorch_context_set_output(ctx, reinterpret_cast<const uint8_t *>(out.data()), out.size());
}

int main() {
    std::atomic<int> calls{0};
    DorchPipeline *raw = nullptr;
    EXPECT(dorch_pipeline_new("cpp", nullptr, &raw) == DORCH_OK);
    std::unique_ptr<DorchPipeline, PipelineDeleter> p(raw);
    EXPECT(dorch_pipeline_set_max_workers(p.get(), 2) == DORCH_OK);
    auto del = [](void *ud) { delete static_cast<Step *>(ud); };
    DorchTaskOptions opts{sizeof(DorchTaskOptions), 0, 0, DORCH_TRIGGER_ALL_SUCCESS, 0};
    EXPECT(dorch_pipeline_add_task(p.get(), "hello", step, new Step{"hello", &calls}, del,
                                   &opts) == DORCH_OK);
    EXPECT(dorch_pipeline_add_task(p.get(), "world", step, new Step{"world", &calls}, del,
                                   nullptr) == DORCH_OK);
    EXPECT(dorch_pipeline_add_dependency(p.get(), "hello", "world") == DORCH_OK);
    EXPECT(dorch_pipeline_add_dependency(p.get(), "world", "hello") == DORCH_OK);
    DorchRunResult *r = nullptr;
    EXPECT(dorch_pipeline_run(p.get(), &r) == DORCH_ERR_CYCLE && r == nullptr);
    EXPECT(std::strstr(dorch_last_error(), "hello -> world -> hello") ||
           std::strstr(dorch_last_error(), "world -> hello -> world"));

    // Same graph without the cycle.
    raw = nullptr;
    EXPECT(dorch_pipeline_new("cpp", nullptr, &raw) == DORCH_OK);
    p.reset(raw);
    EXPECT(dorch_pipeline_add_task(p.get(), "hello", step, new Step{"hello", &calls}, del,
                                   nullptr) == DORCH_OK);
    EXPECT(dorch_pipeline_add_task(p.get(), "world", step, new Step{"world", &calls}, del,
                                   nullptr) == DORCH_OK);
    EXPECT(dorch_pipeline_add_dependency(p.get(), "hello", "world") == DORCH_OK);
    EXPECT(dorch_pipeline_run(p.get(), &r) == DORCH_OK);
    std::unique_ptr<DorchRunResult, ResultDeleter> res(r);
    EXPECT(dorch_run_result_status(res.get()) == DORCH_RUN_SUCCESS);
    const uint8_t *d = nullptr;
    size_t n = 0;
    EXPECT(dorch_run_result_output(res.get(), "world", &d, &n) == DORCH_OK);
    EXPECT(std::string(reinterpret_cast<const char *>(d), n) == "hello world");
    EXPECT(calls.load() == 2);
    char *m = nullptr;
    EXPECT(dorch_pipeline_to_mermaid(p.get(), &m) == DORCH_OK);
    EXPECT(m && std::string(m).find("t0 --> t1") != std::string::npos);
    dorch_string_free(m);
    EXPECT(std::string(dorch_version()) == "0.1.0");
    res.reset();
    p.reset();
    std::printf("test_cpp: %d checks, %d failed\n", checks, failures);
    return failures == 0 && checks > 0 ? 0 : 1;
}
