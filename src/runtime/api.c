/*
 * api.c: the host function table given to plugins (cf_host_api_t), and
 * job building: running a plugin's entry against a fresh environment.
 *
 * The table only grows at its end (append-only ABI): a new entry goes
 * last, CF_ABI_MINOR is bumped, and plugins test CF_API_HAS before using
 * it.
 */
#include <string.h>

#include "connectors.h"
#include "eventtime.h"
#include "op_ckpt.h"
#include "runtime_int.h"
#include "window.h"

const cf_host_api_t cf_host_api = {
    .size = sizeof(cf_host_api_t),
    .major = CF_ABI_MAJOR,
    .minor = CF_ABI_MINOR,

    .env_set_parallelism = cf_b_env_set_parallelism,
    .env_set_max_parallelism = cf_b_env_set_max_parallelism,
    .env_set_job_name = cf_b_env_set_job_name,
    .env_disable_chaining = cf_b_env_disable_chaining,
    .env_parallelism = cf_b_env_parallelism,
    .env_config = cf_b_env_config,
    .env_fail = cf_b_env_fail,

    .env_add_source = cf_b_env_add_source,
    .env_from_sequence = cf_conn_from_sequence,
    .env_datagen = cf_conn_datagen,
    .env_read_text_file = cf_conn_read_text_file,
    .env_socket_text_stream = cf_conn_socket_text_stream,

    .stream_map = cf_b_map,
    .stream_filter = cf_b_filter,
    .stream_flat_map = cf_b_flat_map,
    .stream_process = cf_b_process,
    .stream_key_by = cf_b_key_by,
    .stream_reduce = cf_b_reduce,
    .stream_union = cf_b_union,
    .stream_partition = cf_b_partition,
    .stream_sink = cf_b_sink,
    .stream_print = cf_conn_print,
    .stream_discard = cf_conn_discard,
    .stream_write_text = cf_conn_write_text,

    .stream_set_parallelism = cf_b_set_parallelism,
    .stream_set_max_parallelism = cf_b_set_max_parallelism,
    .stream_set_name = cf_b_set_name,
    .stream_set_uid = cf_b_set_uid,
    .stream_set_hooks = cf_b_set_hooks,
    .stream_start_new_chain = cf_b_start_new_chain,
    .stream_disable_chaining = cf_b_disable_chaining,

    .emit = cf_task_emit,
    .ctx_fail = cf_task_fail,
    .log = cf_task_log,
    .udata = cf_task_udata,
    .local = cf_task_local,
    .set_local = cf_task_set_local,
    .subtask_index = cf_task_subtask_index,
    .parallelism = cf_task_parallelism,
    .max_parallelism = cf_task_max_parallelism,
    .task_name = cf_task_name,
    .scratch = cf_task_scratch,
    .current_key = cf_task_current_key,
    .config = cf_task_config,
    .buf_reserve = cf_task_buf_reserve,

    .state_value = cf_task_state_value,
    .state_list = cf_task_state_list,
    .state_map = cf_task_state_map,
    .state_reducing = cf_task_state_reducing,

    .value_get = cf_kstate_value_get,
    .value_put = cf_kstate_value_put,
    .value_update = cf_kstate_value_update,
    .state_clear = cf_kstate_clear,

    .list_add = cf_kstate_list_add,
    .list_iter = cf_kstate_list_iter,
    .list_next = cf_kstate_list_next,

    .map_get = cf_kstate_map_get,
    .map_put = cf_kstate_map_put,
    .map_remove = cf_kstate_map_remove,
    .map_iter = cf_kstate_map_iter,
    .map_next = cf_kstate_map_next,
    .map_size = cf_kstate_map_size,

    .reducing_add = cf_kstate_reducing_add,
    .reducing_get = cf_kstate_reducing_get,

    /* ABI 1.1 (op_ckpt.c) */
    .stream_sink_2pc = cf_b_sink_2pc,
    .is_restored = cf_task_is_restored,
    .op_state_list = cf_task_op_state_list,
    .op_state_broadcast = cf_task_op_state_broadcast,
    .state_aggregating = cf_task_state_aggregating,
    .aggregating_add = cf_kstate_aggregating_add,
    .aggregating_get = cf_kstate_aggregating_get,
    .state_ttl = cf_task_state_ttl,

    /* ABI 1.2: event time (eventtime.c, timer_rt.c, window.c) */
    .stream_assign_watermarks = cf_b_assign_watermarks,
    .emit_watermark = cf_et_emit_watermark,
    .current_watermark = cf_rt_current_watermark,
    .timestamp = cf_rt_timestamp,
    .processing_time = cf_rt_processing_time,
    .timer_register = cf_rt_timer_register,
    .timer_delete = cf_rt_timer_delete,
    .emit_side = cf_task_emit_side,
    .stream_side_output = cf_b_side_output,
    .stream_window = cf_b_window,
    .window_trigger = cf_b_window_trigger,
    .window_evictor = cf_b_window_evictor,
    .window_allowed_lateness = cf_b_window_allowed_lateness,
    .window_side_output_late_data = cf_b_window_side_output_late_data,
    .window_reduce = cf_b_window_reduce,
    .window_aggregate = cf_b_window_aggregate,
    .window_process = cf_b_window_process,
    .stream_connect_process = cf_b_connect_process,
    .stream_window_join = cf_b_window_join,
    .stream_interval_join = cf_b_interval_join,
};

int
cf_job_build(cf_plugin_lib_t *lib, const cf_config_t *cfg,
             const cf_job_opts_t *opts, cf_job_t **out, cf_error_t **errp)
{
    cf_job_t *job = CF_NEW(cf_job_t);
    int p = opts && opts->parallelism > 0
                ? opts->parallelism
                : cf_config_get_int(cfg, "parallelism.default", 1);
    char *argv0[2] = {(char *)cf_plugin_path(lib), NULL};
    int argc = opts && opts->argc > 0 ? opts->argc : 1;
    char **argv = opts && opts->argc > 0 ? opts->argv : argv0;
    const char *pname;
    int rc;

    *out = NULL;
    job->lib = lib;
    job->cfg = cfg;
    job->env = cf_env_new(cfg, p);
    if (opts && opts->job_id_hex) {
        if (cf_id_from_hex(&job->job_id, opts->job_id_hex) < 0) {
            rc = cf_error_set(errp, CF_EINVAL, "invalid job id '%s'",
                              opts->job_id_hex);
            goto fail;
        }
    } else {
        cf_id_random(&job->job_id);
    }
    cf_id_to_hex(&job->job_id, job->job_id_hex);
    pname = cf_config_get(cfg, "pipeline.name");
    if (pname && *pname)
        job->env->job_name = cf_strdup(pname);

    rc = cf_plugin_entry(lib)(job->env, argc, argv);
    if (job->env->error) {
        rc = cf_error_set(errp, CF_EGRAPH, "%s", job->env->error);
        goto fail;
    }
    if (rc < 0) {
        rc = cf_error_set(errp, CF_EUSER,
                          "The program's entry point failed (code %d).", rc);
        goto fail;
    }
    if ((rc = cf_jobgraph_build(job, errp)) < 0)
        goto fail;
    *out = job;
    return 0;
fail:
    cf_job_destroy(job);
    return rc < 0 ? rc : CF_EGRAPH;
}

void
cf_job_destroy(cf_job_t *job)
{
    if (job == NULL)
        return;
    cf_jobgraph_free(job);
    cf_env_destroy(job->env);
    cf_free(job);
}

const char *
cf_job_name(const cf_job_t *job)
{
    if (job->env->job_name && *job->env->job_name)
        return job->env->job_name;
    if (job->lib && *cf_plugin_name(job->lib))
        return cf_plugin_name(job->lib);
    return "Flink Streaming Job";
}

const char *
cf_job_id_hex(const cf_job_t *job)
{
    return job->job_id_hex;
}
