/*
 * bench_tcp_raw.c: the raw loopback TCP baseline of the cluster benchmark
 * (tests/bench/bench_cluster.sh). For each flow a writer thread send()s
 * a 32 KiB buffer over a 127.0.0.1 TCP connection (TCP_NODELAY) for the
 * given time while a reader thread recv()s into a 64 KiB buffer; the
 * figure is the bytes received over the time from the first to the last
 * byte, summed over the flows. Same method as the raw part of
 * bench_net_remote.c. Built as tests/bench/tcp_raw (not bench_*: it is a
 * helper, scripts/bench.sh does not run it on its own).
 *
 * Usage: tcp_raw [-s seconds (default 1)] [-f flows (default 1)]
 *                [-w write size in bytes (default 32768)]
 * Prints one line: "raw_tcp_mbps <MB/s>" (1 MB = 1e6 bytes).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FLOWS 8

typedef struct flow_s {
    int rfd, wfd;
    size_t wsize;
    double seconds;
    uint64_t bytes;
    int64_t t0, t1;
    pthread_t reader, writer;
} flow_t;

static int64_t
mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *
reader_main(void *arg)
{
    flow_t *f = arg;
    static __thread uint8_t buf[64 * 1024];
    ssize_t n;

    while ((n = recv(f->rfd, buf, sizeof buf, 0)) > 0) {
        if (f->bytes == 0)
            f->t0 = mono_ns();
        f->bytes += (uint64_t)n;
    }
    f->t1 = mono_ns();
    return NULL;
}

static void *
writer_main(void *arg)
{
    flow_t *f = arg;
    uint8_t *buf = malloc(f->wsize);
    int64_t end;

    if (buf == NULL) {
        fprintf(stderr, "tcp_raw: out of memory\n");
        exit(1);
    }
    memset(buf, 'y', f->wsize);
    end = mono_ns() + (int64_t)(f->seconds * 1e9);
    while (mono_ns() < end) {
        size_t off = 0;
        while (off < f->wsize) {
            ssize_t n = send(f->wfd, buf + off, f->wsize - off, MSG_NOSIGNAL);
            if (n <= 0) {
                perror("tcp_raw: send");
                exit(1);
            }
            off += (size_t)n;
        }
    }
    close(f->wfd);
    free(buf);
    return NULL;
}

/* A connected pair of sockets over 127.0.0.1. */
static void
flow_connect(flow_t *f)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    int lfd, one = 1;

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof sin) != 0 ||
        listen(lfd, 1) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sin, &sl) != 0) {
        perror("tcp_raw: listen on 127.0.0.1");
        exit(1);
    }
    f->wfd = socket(AF_INET, SOCK_STREAM, 0);
    if (f->wfd < 0 ||
        connect(f->wfd, (struct sockaddr *)&sin, sizeof sin) != 0) {
        perror("tcp_raw: connect to 127.0.0.1");
        exit(1);
    }
    setsockopt(f->wfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    f->rfd = accept(lfd, NULL, NULL);
    if (f->rfd < 0) {
        perror("tcp_raw: accept");
        exit(1);
    }
    close(lfd);
}

int
main(int argc, char **argv)
{
    flow_t flows[MAX_FLOWS];
    double seconds = 1.0, mbps = 0;
    long wsize = 32 * 1024;
    int nflows = 1, opt;

    while ((opt = getopt(argc, argv, "s:f:w:")) != -1) {
        switch (opt) {
        case 's':
            seconds = atof(optarg);
            break;
        case 'f':
            nflows = atoi(optarg);
            break;
        case 'w':
            wsize = atol(optarg);
            break;
        default:
            fprintf(stderr, "usage: %s [-s seconds] [-f flows] [-w bytes]\n",
                    argv[0]);
            return 2;
        }
    }
    if (seconds <= 0 || seconds > 60 || nflows < 1 || nflows > MAX_FLOWS ||
        wsize < 1 || wsize > (1L << 24)) {
        fprintf(stderr, "tcp_raw: -s must be in (0, 60], -f in [1, %d], "
                        "-w in [1, 16777216]\n",
                MAX_FLOWS);
        return 2;
    }
    memset(flows, 0, sizeof flows);
    for (int i = 0; i < nflows; i++) {
        flows[i].wsize = (size_t)wsize;
        flows[i].seconds = seconds;
        flow_connect(&flows[i]);
    }
    for (int i = 0; i < nflows; i++) {
        pthread_create(&flows[i].reader, NULL, reader_main, &flows[i]);
        pthread_create(&flows[i].writer, NULL, writer_main, &flows[i]);
    }
    for (int i = 0; i < nflows; i++) {
        pthread_join(flows[i].writer, NULL);
        pthread_join(flows[i].reader, NULL);
        close(flows[i].rfd);
        if (flows[i].t1 > flows[i].t0)
            mbps += (double)flows[i].bytes /
                    ((double)(flows[i].t1 - flows[i].t0) / 1e9) / 1e6;
    }
    printf("raw_tcp_mbps %.1f\n", mbps);
    return 0;
}
