/* Prints the ABI facts a 0.1.0 host relies on: every enum value, the offset
 * of every 0.1.0 struct field, and the size of the structs that have no
 * struct_size (they can never grow). tests/abi/run.sh compiles it once with
 * the 0.1.0 header and once with include/dremioorch.h: the two outputs must
 * be identical. */
#include <dremioorch.h>
#include <stddef.h>
#include <stdio.h>

#define VALUE(name) printf("%s = %ld\n", #name, (long)(name))
#define OFFSET(type, field) printf("offsetof(%s, %s) = %zu\n", #type, #field, offsetof(type, field))
#define SIZE(type) printf("sizeof(%s) = %zu\n", #type, sizeof(type))

int main(void) {
    VALUE(DORCH_OK);
    VALUE(DORCH_ERR_INVALID_ARGUMENT);
    VALUE(DORCH_ERR_NOT_FOUND);
    VALUE(DORCH_ERR_DUPLICATE);
    VALUE(DORCH_ERR_CYCLE);
    VALUE(DORCH_ERR_CONFIG);
    VALUE(DORCH_ERR_BACKEND);
    VALUE(DORCH_ERR_TASK_FAILED);
    VALUE(DORCH_ERR_PANIC);
    VALUE(DORCH_RUN_RUNNING);
    VALUE(DORCH_RUN_SUCCESS);
    VALUE(DORCH_RUN_FAILED);
    VALUE(DORCH_TASK_PENDING);
    VALUE(DORCH_TASK_RUNNING);
    VALUE(DORCH_TASK_SUCCESS);
    VALUE(DORCH_TASK_FAILED);
    VALUE(DORCH_TASK_SKIPPED);
    VALUE(DORCH_TRIGGER_ALL_SUCCESS);
    VALUE(DORCH_TRIGGER_ONE_FAILED);
    VALUE(DORCH_TRIGGER_ALL_DONE);
    VALUE(DORCH_BACKEND_THREAD_SAFE);
    SIZE(DorchCode);
    SIZE(DorchRunStatus);
    SIZE(DorchTaskStatus);
    SIZE(DorchTriggerRule);

    /* Borrowed views, passed in arrays: fixed for the major version. */
    SIZE(DorchTaskEntry);
    OFFSET(DorchTaskEntry, name);
    OFFSET(DorchTaskEntry, status);
    SIZE(DorchRunInfo);
    OFFSET(DorchRunInfo, pipeline_name);
    OFFSET(DorchRunInfo, run_id);
    OFFSET(DorchRunInfo, start_time);
    OFFSET(DorchRunInfo, has_end_time);
    OFFSET(DorchRunInfo, end_time);
    OFFSET(DorchRunInfo, status);
    OFFSET(DorchRunInfo, tasks);
    OFFSET(DorchRunInfo, tasks_len);

    /* Structs with struct_size: may grow at their end only. */
    OFFSET(DorchTaskOptions, struct_size);
    OFFSET(DorchTaskOptions, retries);
    OFFSET(DorchTaskOptions, retry_delay_ms);
    OFFSET(DorchTaskOptions, trigger_rule);
    OFFSET(DorchBackendVTable, struct_size);
    OFFSET(DorchBackendVTable, flags);
    OFFSET(DorchBackendVTable, save_run);
    OFFSET(DorchBackendVTable, get_run);
    OFFSET(DorchBackendVTable, update_task_status);
    OFFSET(DorchBackendVTable, list_runs);
    OFFSET(DorchBackendVTable, destroy);
    return 0;
}
