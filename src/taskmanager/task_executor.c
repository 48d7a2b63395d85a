/*
 * task_executor.c: the TaskManager's control plane (Flink's TaskExecutor
 * and TaskSlotTable): start-up of the network stack, the connection to
 * the JobManager, registration, heartbeats, slots and shutdown.
 *
 * Connection: one RPC client connection to jobmanager.rpc.address:port
 * that retries until the JobManager appears and reconnects after a loss.
 * Each time it opens, the TaskManager registers (RegisterTaskExecutor);
 * a refusal is retried after a delay. The JobManager drives heartbeats
 * (HeartbeatRequest every heartbeat.interval, answered with the slot
 * report and the IO counters of the running tasks, which the JobMaster
 * shows in the REST API); when none arrives for heartbeat.timeout, the
 * JobManager is considered gone: the connection is closed and opened
 * anew.
 *
 * Losing the JobManager (connection closed, heartbeat timeout,
 * Disconnect) cancels every task and frees every slot (a slot with tasks
 * is RELEASING until they have ended), then the TaskManager registers
 * again under a new registration id.
 *
 * Slots: RequestSlot allocates a free slot to (job, allocation) and
 * offers it to the job's JobMaster (OfferSlots); a declined or failed
 * offer frees it. FreeSlot cancels the slot's tasks and frees it once
 * they have ended.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "taskmanager_int.h"

#define CF_TM_REFUSED_RETRY_MS 2000

static void cf_tm_register(cf_tm_t *tm);
static void cf_tm_connect(cf_tm_t *tm);

/* ------------------------------------------------------------------ */
/* Start-up                                                            */
/* ------------------------------------------------------------------ */

/* The local address that routes to host (a UDP socket "connected" to it
 * sends nothing; getsockname gives the source address the kernel would
 * use). NULL when host does not resolve or has no route. */
static char *
cf_tm_local_ip_towards(const char *host, int port)
{
    struct addrinfo hints, *res = NULL;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char portstr[16], out[INET6_ADDRSTRLEN];
    char *ip = NULL;
    int fd;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    snprintf(portstr, sizeof portstr, "%d", port > 0 ? port : 6123);
    if (getaddrinfo(host, portstr, &hints, &res) != 0 || res == NULL)
        return NULL;
    fd = socket(res->ai_family, SOCK_DGRAM, 0);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0 &&
        getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        const void *a =
            ss.ss_family == AF_INET6
                ? (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
                : (const void *)&((struct sockaddr_in *)&ss)->sin_addr;
        if (inet_ntop(ss.ss_family, a, out, sizeof out) != NULL)
            ip = cf_strdup(out);
    }
    if (fd >= 0)
        close(fd);
    freeaddrinfo(res);
    return ip;
}

cf_tm_t *
cf_tm_new(cf_loop_t *loop, const cf_config_t *cfg, cf_error_t **errp)
{
    cf_tm_t *tm = CF_NEW(cf_tm_t);
    const char *s, *bind_host;
    int64_t seg, hb_interval;
    long pages, psize;

    tm->loop = loop;
    tm->cfg = cfg;
    tm->start_ms = cf_now_ms();
    s = cf_config_get(cfg, "jobmanager.rpc.address");
    tm->jm_host = cf_strdup(s && *s ? s : "localhost");
    tm->jm_port = cf_config_get_int(cfg, "jobmanager.rpc.port", 6123);
    s = cf_config_get(cfg, "taskmanager.host");
    if (s && *s)
        tm->host = cf_strdup(s);
    else if ((tm->host = cf_tm_local_ip_towards(tm->jm_host, tm->jm_port)) ==
             NULL)
        tm->host = cf_strdup("localhost");
    tm->rpc_timeout_ms =
        cf_config_get_duration_ms(cfg, "pekko.ask.timeout", 10000);
    tm->hb_timeout_ms =
        cf_config_get_duration_ms(cfg, "heartbeat.timeout", 50000);
    hb_interval = cf_config_get_duration_ms(cfg, "heartbeat.interval", 10000);
    tm->report_ms =
        cf_config_get_duration_ms(cfg, "cflink.metrics.report-interval", 1000);
    /* Every report carries the slot report the ResourceManager
     * reconciles: not more often than 10 a second. */
    if (tm->report_ms > 0 && tm->report_ms < 100) {
        cf_log_warn("cflink.metrics.report-interval (%lld ms) is below "
                    "100 ms; using 100 ms.",
                    (long long)tm->report_ms);
        tm->report_ms = 100;
    }
    if (tm->hb_timeout_ms < hb_interval)
        cf_log_warn("heartbeat.timeout (%lld ms) is shorter than "
                    "heartbeat.interval (%lld ms).",
                    (long long)tm->hb_timeout_ms, (long long)hb_interval);
    tm->retry_ms = 500;
    tm->buffers_per_channel = cf_config_get_int(
        cfg, "taskmanager.network.memory.buffers-per-channel", 2);
    if (tm->buffers_per_channel < 1)
        tm->buffers_per_channel = 1;
    tm->floating_per_gate = cf_config_get_int(
        cfg, "taskmanager.network.memory.floating-buffers-per-gate", 8);
    if (tm->floating_per_gate < 0)
        tm->floating_per_gate = 0;
    tm->cpu_cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    pages = sysconf(_SC_PHYS_PAGES);
    psize = sysconf(_SC_PAGESIZE);
    tm->physical_memory = pages > 0 && psize > 0 ? (int64_t)pages * psize : -1;

    tm->nslots = cf_config_get_int(cfg, "taskmanager.numberOfTaskSlots", 1);
    if (tm->nslots < 1 || tm->nslots > 4096) {
        cf_error_set(errp, CF_ECONFIG,
                     "taskmanager.numberOfTaskSlots must be between 1 and "
                     "4096, not %d",
                     tm->nslots);
        goto fail;
    }
    tm->slots = cf_calloc((size_t)tm->nslots, sizeof *tm->slots);
    for (int i = 0; i < tm->nslots; i++)
        tm->slots[i].index = i;

    tm->network_bytes = cf_runtime_network_bytes(cfg);
    seg =
        cf_config_get_memory(cfg, "taskmanager.memory.segment-size", 32 * 1024);
    if (seg < 4096 || seg > (1 << 30)) {
        cf_error_set(errp, CF_ECONFIG,
                     "taskmanager.memory.segment-size must be between 4 kb "
                     "and 1 gb, not %lld bytes",
                     (long long)seg);
        goto fail;
    }
    tm->env = cf_net_env_new(tm->network_bytes, (uint32_t)seg);
    bind_host = cf_config_get(cfg, "taskmanager.bind-host");
    if (bind_host == NULL || !*bind_host)
        bind_host = "0.0.0.0";
    tm->net = cf_netmgr_new(tm->env, bind_host,
                            cf_config_get_int(cfg, "taskmanager.data.port", 0),
                            tm->host, errp);
    if (tm->net == NULL) {
        cf_error_prefix(errp, "cannot start the network manager");
        goto fail;
    }
    tm->data_port = cf_netmgr_port(tm->net);

    s = cf_config_get(cfg, "taskmanager.resource-id");
    if (s && *s) {
        tm->resource_id = cf_strdup(s);
    } else {
        char hex[7];
        cf_random_hex(hex, 6);
        hex[6] = '\0';
        tm->resource_id = cf_asprintf("%s:%d-%s", tm->host, tm->data_port, hex);
    }
    if ((tm->blob_dir = cf_tm_blob_dir(cfg, tm->resource_id, errp)) == NULL)
        goto fail;
    cf_log_info("Starting TaskManager with ResourceID: %s", tm->resource_id);
    cf_log_info("TaskManager %s: %d task slots, network memory %lld bytes "
                "(%lld segments of %lld bytes), data port %d, blob cache "
                "%s.",
                tm->host, tm->nslots, (long long)tm->network_bytes,
                (long long)cf_net_env_total_segments(tm->env), (long long)seg,
                tm->data_port, tm->blob_dir);
    return tm;

fail:
    cf_tm_destroy(tm);
    return NULL;
}

void
cf_tm_destroy(cf_tm_t *tm)
{
    if (tm == NULL)
        return;
    if (tm->hb_check != NULL)
        cf_timer_cancel(tm->hb_check);
    if (tm->report_timer != NULL)
        cf_timer_cancel(tm->report_timer);
    if (tm->reg_retry != NULL)
        cf_timer_cancel(tm->reg_retry);
    if (tm->shutdown_timer != NULL)
        cf_timer_cancel(tm->shutdown_timer);
    if (tm->conn != NULL) {
        cf_rpc_conn_t *c = tm->conn;
        tm->conn = NULL;
        cf_rpc_conn_close(c, "TaskManager shut down");
    }
    if (tm->ntasks == 0 && tm->npreparing == 0) {
        cf_tm_jobs_destroy(tm);
        if (tm->net != NULL)
            cf_netmgr_destroy(tm->net);
        if (tm->env != NULL)
            cf_net_env_destroy(tm->env);
        /* Like Flink's BlobCache on close: the cache directory goes (it
         * is always this TaskManager's own cflink-tm-blobs-<id>, never
         * blob.storage.directory itself). */
        if (tm->blob_dir != NULL && cf_rmtree(tm->blob_dir) == 0)
            cf_log_info("Removed the blob cache directory %s.",
                        tm->blob_dir);
    } else {
        /* Tasks still running: their threads use the network stack and
         * the plugins. The process exits without freeing them. */
        cf_log_warn("%d tasks did not end; leaving them behind.", tm->ntasks);
    }
    cf_free(tm->slots);
    cf_free(tm->resource_id);
    cf_free(tm->host);
    cf_free(tm->jm_host);
    cf_free(tm->jm_id);
    cf_free(tm->blob_dir);
    cf_free(tm);
}

/* ------------------------------------------------------------------ */
/* Slots                                                               */
/* ------------------------------------------------------------------ */

cf_tm_slot_t *
cf_tm_slot_by_allocation(cf_tm_t *tm, const cf_id_t *alloc)
{
    for (int i = 0; i < tm->nslots; i++)
        if (tm->slots[i].state != CF_TM_SLOT_FREE &&
            cf_id_equal(&tm->slots[i].allocation_id, alloc))
            return &tm->slots[i];
    return NULL;
}

int
cf_tm_job_has_slots(cf_tm_t *tm, const cf_id_t *job_id)
{
    for (int i = 0; i < tm->nslots; i++)
        if (tm->slots[i].state != CF_TM_SLOT_FREE &&
            cf_id_equal(&tm->slots[i].job_id, job_id))
            return 1;
    return 0;
}

static void cf_tm_notify_slots(cf_tm_t *tm);

static void
cf_tm_slot_set_free(cf_tm_t *tm, cf_tm_slot_t *s)
{
    cf_id_t job = s->job_id;
    int was_releasing = s->state == CF_TM_SLOT_RELEASING;
    char ah[CF_ID_HEX_LEN + 1];
    cf_id_to_hex(&s->allocation_id, ah);
    cf_log_debug("Slot %d (allocation %s) is free.", s->index, ah);
    s->state = CF_TM_SLOT_FREE;
    memset(&s->job_id, 0, sizeof s->job_id);
    memset(&s->allocation_id, 0, sizeof s->allocation_id);
    cf_tm_job_gc(tm, &job);
    /* Flink's notifySlotAvailable: a slot whose tasks just ended is free
     * now, not at the next heartbeat. */
    if (was_releasing)
        cf_tm_notify_slots(tm);
}

/* Free a slot: at once without tasks, else once they have ended. */
static void
cf_tm_slot_free(cf_tm_t *tm, cf_tm_slot_t *s)
{
    if (s->state == CF_TM_SLOT_FREE)
        return;
    if (s->ntasks == 0) {
        cf_tm_slot_set_free(tm, s);
        return;
    }
    s->state = CF_TM_SLOT_RELEASING;
    cf_tm_cancel_tasks(tm, s->index);
}

void
cf_tm_task_gone(cf_tm_t *tm, int slot)
{
    cf_tm_slot_t *s;
    if (slot < 0 || slot >= tm->nslots)
        return;
    s = &tm->slots[slot];
    if (s->ntasks > 0)
        s->ntasks--;
    if (s->state == CF_TM_SLOT_RELEASING && s->ntasks == 0)
        cf_tm_slot_set_free(tm, s);
}

/* The slot report: statuses point into the slot table (encode before
 * the table changes). */
typedef struct cf_tm_report_s {
    Cflink__SlotReport report;
    Cflink__SlotStatus *st;
    Cflink__SlotStatus **ptrs;
} cf_tm_report_t;

static void
cf_tm_report_init(cf_tm_t *tm, cf_tm_report_t *r)
{
    cflink__slot_report__init(&r->report);
    r->st = cf_calloc((size_t)tm->nslots, sizeof *r->st);
    r->ptrs = cf_calloc((size_t)tm->nslots, sizeof *r->ptrs);
    for (int i = 0; i < tm->nslots; i++) {
        cf_tm_slot_t *s = &tm->slots[i];
        cflink__slot_status__init(&r->st[i]);
        r->st[i].slot_index = i;
        if (s->state != CF_TM_SLOT_FREE) {
            r->st[i].allocation_id = cf_rpc_id_bytes(&s->allocation_id);
            r->st[i].job_id = cf_rpc_id_bytes(&s->job_id);
        }
        r->ptrs[i] = &r->st[i];
    }
    r->report.n_slots = (size_t)tm->nslots;
    r->report.slots = r->ptrs;
}

static void
cf_tm_report_deinit(cf_tm_report_t *r)
{
    cf_free(r->st);
    cf_free(r->ptrs);
}

typedef struct cf_tm_offer_s {
    cf_tm_t *tm;
    int slot;
    cf_id_t allocation_id;
} cf_tm_offer_t;

static void
cf_tm_offer_reply(cf_rpc_conn_t *c, int status, const char *error,
                  const Cflink__Envelope *reply, void *arg)
{
    cf_tm_offer_t *o = arg;
    cf_tm_t *tm = o->tm;
    cf_tm_slot_t *s = &tm->slots[o->slot];
    char ah[CF_ID_HEX_LEN + 1];
    int accepted = 0;

    (void)c;
    cf_id_to_hex(&o->allocation_id, ah);
    if (s->state != CF_TM_SLOT_ALLOCATED ||
        !cf_id_equal(&s->allocation_id, &o->allocation_id)) {
        cf_free(o);
        return; /* freed meanwhile */
    }
    if (status < 0) {
        cf_log_warn("Offering slot %d (allocation %s) failed: %s", o->slot, ah,
                    error ? error : cf_strerror(status));
    } else if (reply->body_case !=
                   CFLINK__ENVELOPE__BODY_OFFER_SLOTS_RESPONSE ||
               reply->offer_slots_response == NULL) {
        cf_log_warn("Unexpected reply %s to OfferSlots.",
                    cf_rpc_body_name((int)reply->body_case));
    } else {
        const Cflink__OfferSlotsResponse *r = reply->offer_slots_response;
        for (size_t i = 0; i < r->n_accepted; i++) {
            cf_id_t id;
            if (cf_rpc_id_get(&r->accepted[i], &id) == 0 &&
                cf_id_equal(&id, &o->allocation_id))
                accepted = 1;
        }
        if (!accepted)
            cf_log_info("The JobManager declined slot %d (allocation %s).",
                        o->slot, ah);
    }
    if (!accepted)
        cf_tm_slot_free(tm, s);
    cf_free(o);
}

static void
cf_tm_offer(cf_tm_t *tm, cf_tm_slot_t *s)
{
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__OfferSlots os = CFLINK__OFFER_SLOTS__INIT;
    Cflink__SlotOffer so = CFLINK__SLOT_OFFER__INIT;
    Cflink__SlotOffer *sop = &so;
    cf_tm_offer_t *o = CF_NEW(cf_tm_offer_t);

    o->tm = tm;
    o->slot = s->index;
    o->allocation_id = s->allocation_id;
    so.allocation_id = cf_rpc_id_bytes(&s->allocation_id);
    so.slot_index = s->index;
    os.job_id = cf_rpc_id_bytes(&s->job_id);
    os.resource_id = tm->resource_id;
    os.n_offers = 1;
    os.offers = &sop;
    env.body_case = CFLINK__ENVELOPE__BODY_OFFER_SLOTS;
    env.offer_slots = &os;
    if (cf_rpc_call(tm->conn, &env, tm->rpc_timeout_ms, cf_tm_offer_reply, o) <
        0) {
        cf_log_warn("Cannot offer slot %d to the JobManager.", s->index);
        cf_free(o);
        cf_tm_slot_free(tm, s);
    }
}

static void
cf_tm_on_request_slot(cf_tm_t *tm, uint64_t req_id,
                      const Cflink__RequestSlot *rs)
{
    cf_id_t job, alloc;
    char jh[CF_ID_HEX_LEN + 1], ah[CF_ID_HEX_LEN + 1];
    cf_tm_slot_t *s, *other;

    if (cf_rpc_id_get(&rs->job_id, &job) < 0 ||
        cf_rpc_id_get(&rs->allocation_id, &alloc) < 0) {
        cf_rpc_reply_error(tm->conn, req_id,
                           "RequestSlot: job_id and allocation_id must be "
                           "16 bytes");
        return;
    }
    cf_id_to_hex(&job, jh);
    cf_id_to_hex(&alloc, ah);
    if (rs->slot_index < 0 || rs->slot_index >= tm->nslots) {
        cf_rpc_reply_error(tm->conn, req_id,
                           "Slot index %d is out of range: TaskManager %s "
                           "has %d slots",
                           rs->slot_index, tm->resource_id, tm->nslots);
        return;
    }
    if (tm->shutting_down) {
        cf_rpc_reply_error(tm->conn, req_id,
                           "The TaskExecutor %s is shutting down.",
                           tm->resource_id);
        return;
    }
    s = &tm->slots[rs->slot_index];
    cf_log_info("Receive slot request %s for job %s from resource manager "
                "with leader id %s.",
                ah, jh, tm->jm_id ? tm->jm_id : "?");
    if (s->state == CF_TM_SLOT_ALLOCATED &&
        cf_id_equal(&s->allocation_id, &alloc) &&
        cf_id_equal(&s->job_id, &job)) {
        cf_rpc_reply_ack(tm->conn, req_id); /* a repeated request */
        cf_tm_offer(tm, s);
        return;
    }
    if (s->state != CF_TM_SLOT_FREE) {
        char oh[CF_ID_HEX_LEN + 1];
        cf_id_to_hex(&s->job_id, oh);
        cf_rpc_reply_error(tm->conn, req_id,
                           "Slot %d is already allocated to job %s", s->index,
                           oh);
        return;
    }
    if ((other = cf_tm_slot_by_allocation(tm, &alloc)) != NULL) {
        cf_rpc_reply_error(tm->conn, req_id,
                           "Allocation %s is already used by slot %d", ah,
                           other->index);
        return;
    }
    s->state = CF_TM_SLOT_ALLOCATED;
    s->job_id = job;
    s->allocation_id = alloc;
    cf_log_info("Allocated slot %d for %s.", s->index, ah);
    cf_rpc_reply_ack(tm->conn, req_id);
    cf_log_info("Offer reserved slots to the leader of job %s.", jh);
    cf_tm_offer(tm, s);
}

static void
cf_tm_on_free_slot(cf_tm_t *tm, uint64_t req_id, const Cflink__FreeSlot *fs)
{
    cf_id_t alloc;
    char ah[CF_ID_HEX_LEN + 1], jh[CF_ID_HEX_LEN + 1];
    cf_tm_slot_t *s;

    if (cf_rpc_id_get(&fs->allocation_id, &alloc) < 0) {
        if (req_id)
            cf_rpc_reply_error(tm->conn, req_id,
                               "FreeSlot: allocation_id must be 16 bytes");
        return;
    }
    cf_id_to_hex(&alloc, ah);
    s = cf_tm_slot_by_allocation(tm, &alloc);
    if (s == NULL) {
        cf_log_debug("FreeSlot: no slot with allocation %s.", ah);
    } else {
        cf_id_to_hex(&s->job_id, jh);
        cf_log_info("Free slot TaskSlot(index:%d, state:%s, allocationId: "
                    "%s, jobId: %s). Cause: %s",
                    s->index,
                    s->state == CF_TM_SLOT_ALLOCATED ? "ALLOCATED"
                                                     : "RELEASING",
                    ah, jh, fs->cause && *fs->cause ? fs->cause : "(none)");
        cf_tm_slot_free(tm, s);
    }
    if (req_id)
        cf_rpc_reply_ack(tm->conn, req_id);
}

/* ------------------------------------------------------------------ */
/* JobManager connection                                               */
/* ------------------------------------------------------------------ */

int
cf_tm_conn_current(cf_tm_t *tm, uint32_t epoch)
{
    return tm->conn != NULL && tm->epoch == epoch &&
           cf_rpc_conn_is_open(tm->conn);
}

/* The JobManager is gone (or forgot us): cancel everything, free the
 * slots, forget the registration. */
static void
cf_tm_jm_lost(cf_tm_t *tm, const char *reason)
{
    int n;
    if (tm->registered)
        cf_log_info("Close ResourceManager connection %s: %s",
                    tm->jm_id ? tm->jm_id : "?", reason);
    tm->registered = 0;
    tm->registering = 0;
    tm->epoch++;
    if (tm->reg_retry != NULL) {
        cf_timer_cancel(tm->reg_retry);
        tm->reg_retry = NULL;
    }
    cf_tm_drop_pending(tm);
    n = cf_tm_cancel_tasks(tm, -1);
    if (n > 0)
        cf_log_info("Cancelling %d tasks: the JobManager is gone.", n);
    for (int i = 0; i < tm->nslots; i++)
        cf_tm_slot_free(tm, &tm->slots[i]);
}

static void
cf_tm_reg_retry_fire(void *arg)
{
    cf_tm_t *tm = arg;
    tm->reg_retry = NULL;
    if (!tm->registered && !tm->registering && !tm->shutting_down &&
        tm->conn != NULL && cf_rpc_conn_is_open(tm->conn))
        cf_tm_register(tm);
}

static void
cf_tm_reg_retry(cf_tm_t *tm, int64_t delay_ms)
{
    if (tm->reg_retry == NULL)
        tm->reg_retry =
            cf_loop_timer(tm->loop, delay_ms, 0, cf_tm_reg_retry_fire, tm);
}

static void
cf_tm_reg_reply(cf_rpc_conn_t *c, int status, const char *error,
                const Cflink__Envelope *reply, void *arg)
{
    cf_tm_t *tm = arg;
    const Cflink__RegistrationResponse *r;
    char idhex[CF_ID_HEX_LEN + 1];
    cf_id_t id;

    if (c != tm->conn || tm->shutting_down)
        return;
    tm->registering = 0;
    if (status < 0) {
        if (cf_rpc_conn_is_open(c)) {
            cf_log_warn("Registration at ResourceManager %s failed: %s. "
                        "Retrying in %lld ms.",
                        cf_rpc_conn_peer(c),
                        error ? error : cf_strerror(status),
                        (long long)tm->retry_ms);
            cf_tm_reg_retry(tm, tm->retry_ms);
        }
        return;
    }
    if (reply->body_case != CFLINK__ENVELOPE__BODY_REGISTRATION_RESPONSE ||
        reply->registration_response == NULL) {
        cf_log_error("Unexpected reply %s to RegisterTaskExecutor.",
                     cf_rpc_body_name((int)reply->body_case));
        cf_tm_reg_retry(tm, CF_TM_REFUSED_RETRY_MS);
        return;
    }
    r = reply->registration_response;
    if (!r->success) {
        cf_log_error("Registration at ResourceManager %s was refused: %s. "
                     "Retrying in %d ms.",
                     cf_rpc_conn_peer(c),
                     r->reason && *r->reason ? r->reason : "(no reason)",
                     CF_TM_REFUSED_RETRY_MS);
        cf_tm_reg_retry(tm, CF_TM_REFUSED_RETRY_MS);
        return;
    }
    if (cf_rpc_id_get(&r->registration_id, &id) < 0)
        memset(&id, 0, sizeof id);
    tm->registration_id = id;
    cf_free(tm->jm_id);
    tm->jm_id = cf_strdup(r->jobmanager_id ? r->jobmanager_id : "");
    tm->registered = 1;
    tm->last_hb_ms = cf_mono_ms();
    cf_id_to_hex(&id, idhex);
    cf_log_info("Successful registration at resource manager "
                "cflink-rpc://%s under registration id %s.",
                cf_rpc_conn_peer(c), idhex);
}

static void
cf_tm_register(cf_tm_t *tm)
{
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__RegisterTaskExecutor reg = CFLINK__REGISTER_TASK_EXECUTOR__INIT;
    cf_tm_report_t rep;

    if (tm->registering || tm->conn == NULL)
        return;
    cf_tm_report_init(tm, &rep);
    reg.resource_id = tm->resource_id;
    reg.host = tm->host;
    reg.data_port = tm->data_port;
    reg.num_slots = tm->nslots;
    reg.cpu_cores = tm->cpu_cores;
    reg.physical_memory = tm->physical_memory;
    reg.network_memory = tm->network_bytes;
    reg.managed_memory = 0;
    reg.slot_report = &rep.report;
    reg.version = (char *)CF_VERSION;
    reg.start_time = tm->start_ms;
    reg.pid = (int32_t)getpid();
    env.body_case = CFLINK__ENVELOPE__BODY_REGISTER_TASK_EXECUTOR;
    env.register_task_executor = &reg;
    cf_log_info("Registering TaskManager with ResourceID %s at "
                "ResourceManager cflink-rpc://%s.",
                tm->resource_id, cf_rpc_conn_peer(tm->conn));
    if (cf_rpc_call(tm->conn, &env, tm->rpc_timeout_ms, cf_tm_reg_reply, tm) ==
        0)
        tm->registering = 1;
    else
        cf_tm_reg_retry(tm, tm->retry_ms);
    cf_tm_report_deinit(&rep);
}

/* A HeartbeatResponse with the slot report and the running tasks'
 * counters: the answer to a heartbeat request (req_id != 0), or one-way
 * between heartbeats (the metric reports, cflink.metrics.report-interval),
 * which the ResourceManager handles like an answer. */
static void
cf_tm_send_report(cf_tm_t *tm, uint64_t req_id, int64_t timestamp)
{
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__HeartbeatResponse r = CFLINK__HEARTBEAT_RESPONSE__INIT;
    Cflink__UpdateTaskExecutionState **reports = NULL;
    cf_tm_report_t rep;

    cf_tm_report_init(tm, &rep);
    r.resource_id = tm->resource_id;
    r.slot_report = &rep.report;
    r.timestamp = timestamp;
    /* Flink's heartbeat payload: the running tasks' counters. */
    r.n_task_reports = cf_tm_task_reports(tm, &reports);
    r.task_reports = reports;
    env.body_case = CFLINK__ENVELOPE__BODY_HEARTBEAT_RESPONSE;
    env.heartbeat_response = &r;
    if (req_id != 0)
        cf_rpc_reply(tm->conn, req_id, &env);
    else
        cf_rpc_send(tm->conn, &env);
    cf_tm_report_deinit(&rep);
    cf_free(reports);
}

static void
cf_tm_on_heartbeat(cf_tm_t *tm, uint64_t req_id,
                   const Cflink__HeartbeatRequest *hb)
{
    tm->last_hb_ms = cf_mono_ms();
    cf_tm_send_report(tm, req_id, hb->timestamp);
}

/* Between heartbeats (10 s by default), so the REST API's counters and
 * rates, and the web UI, move every second while tasks run. */
static void
cf_tm_report_fire(void *arg)
{
    cf_tm_t *tm = arg;

    if (!tm->registered || tm->shutting_down || tm->ntasks == 0 ||
        tm->conn == NULL || !cf_rpc_conn_is_open(tm->conn))
        return;
    cf_tm_send_report(tm, 0, 0);
}

/* Tell the ResourceManager our slot report at once (a one-way
 * HeartbeatResponse: the RM reconciles it like a heartbeat's). */
static void
cf_tm_notify_slots(cf_tm_t *tm)
{
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__HeartbeatResponse r = CFLINK__HEARTBEAT_RESPONSE__INIT;
    cf_tm_report_t rep;

    if (!tm->registered || tm->conn == NULL || !cf_rpc_conn_is_open(tm->conn))
        return;
    cf_tm_report_init(tm, &rep);
    r.resource_id = tm->resource_id;
    r.slot_report = &rep.report;
    env.body_case = CFLINK__ENVELOPE__BODY_HEARTBEAT_RESPONSE;
    env.heartbeat_response = &r;
    cf_rpc_send(tm->conn, &env);
    cf_tm_report_deinit(&rep);
}

static void
cf_tm_on_open(cf_rpc_conn_t *c, const Cflink__Hello *hello, void *arg)
{
    cf_tm_t *tm = arg;
    if (c != tm->conn)
        return;
    tm->epoch++;
    cf_log_info("Connected to JobManager %s at %s.",
                hello && hello->id ? hello->id : "?", cf_rpc_conn_peer(c));
    if (tm->shutting_down)
        return;
    cf_tm_register(tm);
}

static void
cf_tm_on_close(cf_rpc_conn_t *c, const char *reason, void *arg)
{
    cf_tm_t *tm = arg;
    if (c != tm->conn)
        return;
    if (tm->registered)
        cf_log_warn("Connection to the JobManager at %s closed: %s",
                    cf_rpc_conn_peer(c), reason ? reason : "?");
    else
        cf_log_debug("Connection to the JobManager at %s closed: %s",
                     cf_rpc_conn_peer(c), reason ? reason : "?");
    cf_tm_jm_lost(tm, reason ? reason : "connection closed");
}

#define CF_TM_NEED(field)                                                      \
    do {                                                                       \
        if (msg->field == NULL)                                                \
            goto bad;                                                          \
    } while (0)

static void
cf_tm_on_message(cf_rpc_conn_t *c, uint64_t req_id, const Cflink__Envelope *msg,
                 void *arg)
{
    cf_tm_t *tm = arg;
    if (c != tm->conn)
        return;
    switch (msg->body_case) {
    case CFLINK__ENVELOPE__BODY_HEARTBEAT_REQUEST:
        CF_TM_NEED(heartbeat_request);
        cf_tm_on_heartbeat(tm, req_id, msg->heartbeat_request);
        return;
    case CFLINK__ENVELOPE__BODY_REQUEST_SLOT:
        CF_TM_NEED(request_slot);
        if (req_id == 0)
            goto bad;
        cf_tm_on_request_slot(tm, req_id, msg->request_slot);
        return;
    case CFLINK__ENVELOPE__BODY_SUBMIT_TASK:
        CF_TM_NEED(submit_task);
        cf_tm_on_submit(tm, req_id, msg->submit_task);
        return;
    case CFLINK__ENVELOPE__BODY_CANCEL_TASK:
        CF_TM_NEED(cancel_task);
        cf_tm_on_cancel(tm, req_id, msg->cancel_task);
        return;
    case CFLINK__ENVELOPE__BODY_FREE_SLOT:
        CF_TM_NEED(free_slot);
        cf_tm_on_free_slot(tm, req_id, msg->free_slot);
        return;
    case CFLINK__ENVELOPE__BODY_TRIGGER_CHECKPOINT:
        CF_TM_NEED(trigger_checkpoint);
        cf_tm_on_trigger_checkpoint(tm, msg->trigger_checkpoint);
        if (req_id) /* one-way; a call still gets an answer */
            cf_rpc_reply_ack(c, req_id);
        return;
    case CFLINK__ENVELOPE__BODY_NOTIFY_CHECKPOINT:
        CF_TM_NEED(notify_checkpoint);
        cf_tm_on_notify_checkpoint(tm, msg->notify_checkpoint);
        if (req_id)
            cf_rpc_reply_ack(c, req_id);
        return;
    case CFLINK__ENVELOPE__BODY_TM_INFO_REQUEST:
        CF_TM_NEED(tm_info_request);
        cf_tm_on_info_request(tm, req_id, msg->tm_info_request);
        return;
    case CFLINK__ENVELOPE__BODY_DISCONNECT:
        cf_log_info("The JobManager disconnected us: %s",
                    msg->disconnect && msg->disconnect->reason
                        ? msg->disconnect->reason
                        : "(no reason)");
        if (req_id)
            cf_rpc_reply_ack(c, req_id);
        cf_tm_jm_lost(tm, "disconnected by the JobManager");
        /* Same connection, new registration (and a new epoch: replies
         * to earlier requests are dropped). */
        if (!tm->shutting_down)
            cf_tm_reg_retry(tm, tm->retry_ms);
        return;
    default: break;
    }
bad:
    cf_log_warn("Unexpected message %s from the JobManager at %s.",
                cf_rpc_body_name((int)msg->body_case), cf_rpc_conn_peer(c));
    if (req_id)
        cf_rpc_reply_error(c, req_id, "TaskManager %s cannot handle %s",
                           tm->resource_id,
                           cf_rpc_body_name((int)msg->body_case));
}

static const cf_rpc_handler_t cf_tm_handler = {
    .on_open = cf_tm_on_open,
    .on_message = cf_tm_on_message,
    .on_close = cf_tm_on_close,
};

static void
cf_tm_connect(cf_tm_t *tm)
{
    cf_rpc_ident_t ident;
    ident.role = "taskmanager";
    ident.id = tm->resource_id;
    ident.version = CF_VERSION;
    cf_log_info("Connecting to ResourceManager "
                "cflink-rpc://%s:%d.",
                tm->jm_host, tm->jm_port);
    tm->conn = cf_rpc_connect(tm->loop, tm->jm_host, tm->jm_port, &ident,
                              &cf_tm_handler, tm, tm->retry_ms, 1);
}

static void
cf_tm_hb_check(void *arg)
{
    cf_tm_t *tm = arg;
    cf_rpc_conn_t *c;

    if (!tm->registered || tm->shutting_down ||
        cf_mono_ms() - tm->last_hb_ms <= tm->hb_timeout_ms)
        return;
    cf_log_info("The heartbeat of JobManager with id %s timed out.",
                tm->jm_id ? tm->jm_id : "?");
    c = tm->conn;
    tm->conn = NULL;
    cf_tm_jm_lost(tm, "heartbeat timed out");
    cf_rpc_conn_close(c, "heartbeat of the JobManager timed out");
    cf_tm_connect(tm);
}

int
cf_tm_start(cf_tm_t *tm)
{
    int64_t every = tm->hb_timeout_ms / 5;
    if (every > 1000)
        every = 1000;
    if (every < 50)
        every = 50;
    cf_tm_connect(tm);
    if (tm->conn == NULL)
        return CF_EIO;
    tm->hb_check = cf_loop_timer(tm->loop, every, every, cf_tm_hb_check, tm);
    if (tm->report_ms > 0)
        tm->report_timer = cf_loop_timer(tm->loop, tm->report_ms,
                                         tm->report_ms, cf_tm_report_fire, tm);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Shutdown                                                            */
/* ------------------------------------------------------------------ */

static void
cf_tm_stop_loop(void *arg)
{
    cf_tm_t *tm = arg;
    tm->shutdown_timer = NULL;
    cf_loop_stop(tm->loop);
}

static void
cf_tm_stop_fire(void *arg)
{
    cf_tm_t *tm = arg;
    cf_rpc_conn_t *c = tm->conn;
    tm->conn = NULL;
    if (c != NULL)
        cf_rpc_conn_close(c, "TaskManager shut down");
    /* A few more iterations let the socket close cleanly. */
    tm->shutdown_timer = cf_loop_timer(tm->loop, 20, 0, cf_tm_stop_loop, tm);
}

static void
cf_tm_finish(cf_tm_t *tm)
{
    if (tm->shutting_down == 2)
        return;
    tm->shutting_down = 2;
    if (tm->shutdown_timer != NULL) {
        cf_timer_cancel(tm->shutdown_timer);
        tm->shutdown_timer = NULL;
    }
    if (tm->hb_check != NULL) {
        cf_timer_cancel(tm->hb_check);
        tm->hb_check = NULL;
    }
    if (tm->report_timer != NULL) {
        cf_timer_cancel(tm->report_timer);
        tm->report_timer = NULL;
    }
    if (tm->reg_retry != NULL) {
        cf_timer_cancel(tm->reg_retry);
        tm->reg_retry = NULL;
    }
    if (tm->registered && tm->conn != NULL && cf_rpc_conn_is_open(tm->conn)) {
        Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
        Cflink__Disconnect d = CFLINK__DISCONNECT__INIT;
        char *why =
            cf_asprintf("TaskExecutor %s is shutting down.", tm->resource_id);
        d.reason = why;
        env.body_case = CFLINK__ENVELOPE__BODY_DISCONNECT;
        env.disconnect = &d;
        cf_rpc_send(tm->conn, &env);
        cf_free(why);
    }
    tm->registered = 0;
    /* Let the goodbye reach the socket before closing. */
    tm->shutdown_timer = cf_loop_timer(tm->loop, 50, 0, cf_tm_stop_fire, tm);
}

void
cf_tm_check_shutdown(cf_tm_t *tm)
{
    if (tm->shutting_down == 1 && tm->ntasks == 0 && tm->npreparing == 0)
        cf_tm_finish(tm);
}

static void
cf_tm_shutdown_timeout(void *arg)
{
    cf_tm_t *tm = arg;
    tm->shutdown_timer = NULL;
    cf_log_warn("%d tasks did not end within the shutdown timeout.",
                tm->ntasks);
    cf_tm_finish(tm);
}

void
cf_tm_shutdown(cf_tm_t *tm, int64_t timeout_ms)
{
    int n;
    if (tm->shutting_down)
        return;
    tm->shutting_down = 1;
    cf_log_info("Stopping TaskExecutor %s.", tm->resource_id);
    n = cf_tm_cancel_tasks(tm, -1);
    if (n > 0)
        cf_log_info("Waiting for %d tasks to end.", n);
    for (int i = 0; i < tm->nslots; i++)
        cf_tm_slot_free(tm, &tm->slots[i]);
    tm->shutdown_timer =
        cf_loop_timer(tm->loop, timeout_ms, 0, cf_tm_shutdown_timeout, tm);
    cf_tm_check_shutdown(tm);
}
