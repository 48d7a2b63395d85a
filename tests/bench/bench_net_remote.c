/*
 * bench_net_remote.c: throughput of one remote channel between two
 * network managers on loopback (records/s and MB/s for 64-byte and
 * 1 KiB records), and, in the same run, raw loopback TCP throughput with
 * 32 KiB writes; prints the ratio of the channel's MB/s to the raw
 * figure.
 *
 * Usage: bench_net_remote [-s seconds per measurement (default 2)]
 *                         [-c exclusive buffers per channel (default 2)]
 *                         [-f floating buffers of the gate (default 8)]
 *                         [-p producer pool buffers (default 10)]
 *
 * The defaults are Flink's (buffers-per-channel 2, floating-buffers-per-
 * gate 8); -f 0 measures a channel with its exclusive buffers only.
 *
 * MB/s counts record bytes with their 12-byte header (what the channel
 * carries); 1 MB = 1e6 bytes. "CPU s/GB" is the CPU time of the whole
 * process (user + system, every thread: producer, consumer, both net
 * threads) per GB carried: a figure less sensitive than MB/s to other
 * load on the machine.
 */
#include "netmgr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define SEG (32u * 1024u)

static double g_seconds = 2.0;
static int g_credits = 2;
static int g_floating = 8;
static int g_pool = 10;

/* ------------------------------------------------------------------ */
/* One remote channel                                                  */
/* ------------------------------------------------------------------ */

typedef struct run_s {
    uint32_t len;
    cf_net_pool_t *pool;
    cf_net_partition_t part;
    cf_signal_t psig;
    atomic_int connected;
    cf_net_gate_t *gate;
    cf_signal_t csig;
    uint64_t records;
    uint64_t bytes;
    int64_t t0, t1;
    int error;
} run_t;

static void *
producer(void *arg)
{
    run_t *r = arg;
    uint8_t rec[1024];
    int64_t end;
    uint64_t i = 0;

    memset(rec, 'x', sizeof rec);
    while (atomic_load_explicit(&r->connected, memory_order_acquire) < 1) {
        uint64_t seen = cf_signal_count(&r->psig);
        if (atomic_load(&r->connected) >= 1)
            break;
        cf_signal_wait(&r->psig, &seen, cf_mono_ns() + 10000000);
    }
    end = cf_mono_ns() + (int64_t)(g_seconds * 1e9);
    for (;;) {
        /* Check the clock every 4096 records only. */
        if ((i & 4095) == 0 && cf_mono_ns() >= end)
            break;
        cf_net_partition_write(&r->part, 0, rec, r->len, (int64_t)i);
        i++;
    }
    cf_net_partition_broadcast_event(&r->part, CF_NET_EV_END_OF_PARTITION, NULL,
                                     0);
    return NULL;
}

static void *
consumer(void *arg)
{
    run_t *r = arg;
    cf_net_reader_t rd;
    cf_record_t rec;

    cf_net_reader_init(&rd);
    for (;;) {
        uint64_t seen = cf_signal_count(&r->csig);
        int ch;
        cf_net_buf_t *b = cf_net_gate_poll(r->gate, &ch);
        if (b == NULL) {
            cf_signal_wait(&r->csig, &seen, cf_mono_ns() + 100000000);
            continue;
        }
        if (b->kind == CF_NET_EVENT) {
            int ev = b->event;
            cf_net_buf_recycle(b);
            if (ev == CF_NET_EV_ERROR)
                r->error = 1;
            break;
        }
        if (r->records == 0)
            r->t0 = cf_mono_ns();
        cf_net_reader_set(&rd, b);
        while (cf_net_reader_next(&rd, &rec)) {
            r->records++;
            r->bytes += CF_NET_REC_HDR + rec.len;
        }
    }
    r->t1 = cf_mono_ns();
    cf_net_reader_deinit(&rd);
    return NULL;
}

static void
done_cb(void *arg)
{
    atomic_int *n = arg;

    atomic_fetch_add(n, 1);
}

static double
cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static double
bench_channel(cf_netmgr_t *a, cf_netmgr_t *b, cf_net_env_t *ea, uint32_t len,
              double *mbps, double *cpu_per_gb)
{
    run_t r;
    cf_net_pid_t pid;
    pthread_t tp, tc;
    atomic_int done;
    double secs, cpu0;

    memset(&r, 0, sizeof r);
    r.len = len;
    atomic_init(&r.connected, 0);
    atomic_init(&done, 0);
    cf_signal_init(&r.psig);
    cf_signal_init(&r.csig);
    r.pool = cf_net_pool_new(ea, (uint32_t)g_pool, &r.psig, NULL);
    cf_net_partition_init(&r.part, r.pool, 1, &r.psig, NULL);
    r.gate = cf_net_gate_new(1, &r.csig);
    cf_id_random(&pid.attempt);
    pid.output = 0;
    cf_netmgr_publish(a, &pid, &r.part, &r.connected, &r.psig);
    if (g_floating > 0)
        cf_netmgr_gate_floating(b, r.gate, g_floating);
    cf_netmgr_subscribe(b, &pid, 0, "127.0.0.1", cf_netmgr_port(a), r.gate, 0,
                        g_credits);
    cpu0 = cpu_seconds();
    pthread_create(&tc, NULL, consumer, &r);
    pthread_create(&tp, NULL, producer, &r);
    pthread_join(tp, NULL);
    pthread_join(tc, NULL);
    *cpu_per_gb = (cpu_seconds() - cpu0) / ((double)r.bytes / 1e9);
    cf_netmgr_release_partition(a, &pid, 0, done_cb, &done);
    cf_netmgr_release_gate(b, r.gate, done_cb, &done);
    while (atomic_load(&done) < 2)
        cf_sleep_ms(1);
    cf_net_partition_deinit(&r.part);
    cf_net_pool_release(r.pool);
    cf_net_gate_destroy(r.gate);
    cf_signal_deinit(&r.psig);
    cf_signal_deinit(&r.csig);
    if (r.error) {
        fprintf(stderr, "bench_net_remote: the channel failed\n");
        exit(1);
    }
    secs = (double)(r.t1 - r.t0) / 1e9;
    *mbps = (double)r.bytes / secs / 1e6;
    return (double)r.records / secs;
}

/* ------------------------------------------------------------------ */
/* Raw loopback TCP                                                    */
/* ------------------------------------------------------------------ */

typedef struct raw_s {
    int fd;
    uint64_t bytes;
    int64_t t0, t1;
} raw_t;

static void *
raw_reader(void *arg)
{
    raw_t *r = arg;
    static uint8_t buf[64 * 1024];
    ssize_t n;

    r->t0 = cf_mono_ns();
    while ((n = recv(r->fd, buf, sizeof buf, 0)) > 0)
        r->bytes += (uint64_t)n;
    r->t1 = cf_mono_ns();
    return NULL;
}

static double
bench_raw(void)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    static uint8_t buf[32 * 1024];
    int lfd, wfd, one = 1;
    raw_t r;
    pthread_t th;
    int64_t end;

    memset(&r, 0, sizeof r);
    memset(buf, 'y', sizeof buf);
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) != 0 ||
        listen(lfd, 1) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sin, &sl) != 0) {
        perror("bench_net_remote: raw socket");
        exit(1);
    }
    wfd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(wfd, (struct sockaddr *)&sin, sizeof sin) != 0) {
        perror("bench_net_remote: connect");
        exit(1);
    }
    setsockopt(wfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    r.fd = accept(lfd, NULL, NULL);
    pthread_create(&th, NULL, raw_reader, &r);
    end = cf_mono_ns() + (int64_t)(g_seconds * 1e9);
    while (cf_mono_ns() < end) {
        size_t off = 0;
        while (off < sizeof buf) {
            ssize_t n = send(wfd, buf + off, sizeof buf - off, MSG_NOSIGNAL);
            if (n <= 0) {
                perror("bench_net_remote: send");
                exit(1);
            }
            off += (size_t)n;
        }
    }
    close(wfd);
    pthread_join(th, NULL);
    close(r.fd);
    close(lfd);
    return (double)r.bytes / ((double)(r.t1 - r.t0) / 1e9) / 1e6;
}

int
main(int argc, char **argv)
{
    cf_net_env_t *ea, *eb;
    cf_netmgr_t *a, *b;
    cf_error_t *err = NULL;
    double rps64, mb64, rps1k, mb1k, raw, cpu64, cpu1k;
    int opt;

    while ((opt = getopt(argc, argv, "s:c:f:p:")) != -1) {
        switch (opt) {
        case 's': g_seconds = atof(optarg); break;
        case 'c': g_credits = atoi(optarg); break;
        case 'f': g_floating = atoi(optarg); break;
        case 'p': g_pool = atoi(optarg); break;
        default:
            fprintf(stderr,
                    "usage: %s [-s seconds] [-c credits] "
                    "[-f floating] [-p pool]\n",
                    argv[0]);
            return 2;
        }
    }
    if (g_seconds <= 0 || g_credits < 1 || g_floating < 0 || g_pool < 2) {
        fprintf(stderr, "bench_net_remote: bad option\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    cf_log_set_level(CF_LOGL_WARN);
    ea = cf_net_env_new((int64_t)(g_pool + 4) * SEG, SEG);
    eb = cf_net_env_new((int64_t)(g_credits + g_floating + 4) * SEG, SEG);
    a = cf_netmgr_new(ea, "127.0.0.1", 0, "127.0.0.1", &err);
    b = a != NULL ? cf_netmgr_new(eb, "127.0.0.1", 0, "127.0.0.1", &err) : NULL;
    if (b == NULL) {
        fprintf(stderr, "bench_net_remote: %s\n", cf_error_msg(err));
        return 1;
    }

    printf("remote channel over loopback: segment %u B, credits %d, "
           "floating %d, producer pool %d, %.1f s per measurement\n",
           SEG, g_credits, g_floating, g_pool, g_seconds);
    rps64 = bench_channel(a, b, ea, 64, &mb64, &cpu64);
    printf("  64 B records:   %12.0f records/s  %9.1f MB/s  %5.2f CPU s/GB\n",
           rps64, mb64, cpu64);
    rps1k = bench_channel(a, b, ea, 1024, &mb1k, &cpu1k);
    printf("  1 KiB records:  %12.0f records/s  %9.1f MB/s  %5.2f CPU s/GB\n",
           rps1k, mb1k, cpu1k);
    cf_netmgr_destroy(a);
    cf_netmgr_destroy(b);
    cf_net_env_destroy(ea);
    cf_net_env_destroy(eb);

    raw = bench_raw();
    printf("raw loopback TCP, 32 KiB writes:            %9.1f MB/s\n", raw);
    printf("ratio channel/raw: 64 B %.2f, 1 KiB %.2f\n", mb64 / raw,
           mb1k / raw);
    return 0;
}
