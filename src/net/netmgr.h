/*
 * netmgr.h: the network manager of a TaskManager (Flink's
 * NettyShuffleEnvironment): connects result partitions to the input
 * gates that consume them, locally by pointer or remotely over TCP, with
 * credit-based flow control. It runs its own libuv loop on its own thread
 * ("net"), so record traffic never delays the control loop.
 *
 * Identity: a result partition is (producer ExecutionAttemptID, output
 * index) (cf_net_pid_t); its subpartitions are numbered 0..n-1 (the
 * consumers the producer's writer addresses, cf_net_partition_t.sub[]).
 *
 * Producer side: a task publishes each output partition before it
 * starts. Each subpartition is attached when its consumer subscribes: a
 * local consumer's gate is connected directly (cf_net_partition_connect,
 * buffers handed over by pointer); for a remote consumer the subpartition
 * is connected to an outbound queue of the network manager, which sends a
 * queued buffer only while the consumer has granted credit. Buffers are
 * recycled into the producer's pool once written to the socket, so a
 * slow consumer fills the producer's pool and the producer waits:
 * backpressure with bounded memory. A task must not write before all its
 * subpartitions are attached (*connected == n), so nothing is lost.
 *
 * Consumer side: each remote input channel gets `credits` exclusive
 * buffers from the TaskManager's budget; their number is the initial
 * credit, and each buffer the task recycles is announced back to the
 * producer as one more credit. Received buffers are copied into those
 * buffers and pushed to the task's gate. Events (end of partition) need
 * no credit.
 *
 * Connections: one TCP connection per pair of TaskManagers, opened by the
 * first side that needs it (the consumer, to the producer's data port),
 * and multiplexed over every channel between them. A subscription to a
 * partition not yet published waits (Flink's partition request retry)
 * until it is published or unsubscribed. When a connection is lost, every
 * consumer channel on it receives an error event (CF_NET_EV_ERROR, payload
 * "Connection unexpectedly closed by remote task manager '<host:port>'...")
 * so its task fails with that message, and buffers queued towards it are
 * recycled (discarded), so producers never block on a dead peer.
 *
 * Threads: cf_netmgr_* may be called from any thread. Callbacks run on
 * the net thread and must not block.
 */
#ifndef CF_NETMGR_H
#define CF_NETMGR_H

#include <stdatomic.h>
#include <stdint.h>

#include "core.h"
#include "net.h"

/* In-band error event: the payload is the message (no terminating NUL
 * needed). A task that reads it fails with that message. */
#define CF_NET_EV_ERROR 2

typedef struct cf_netmgr_s cf_netmgr_t;

typedef struct cf_net_pid_s {
    cf_id_t attempt; /* producer ExecutionAttemptID */
    int32_t output;  /* index of the producer vertex's output */
} cf_net_pid_t;

typedef void (*cf_netmgr_done_cb)(void *arg);

/* Start the net thread and listen on bind_host:port (port 0:
 * ephemeral). advertised_host is what peers use to reach us (it names us
 * in errors). Buffers for remote input channels come from env. */
cf_netmgr_t *cf_netmgr_new(cf_net_env_t *env, const char *bind_host,
                           int port, const char *advertised_host,
                           cf_error_t **errp);
/* Closes every connection and stops the thread. Every partition and
 * subscription must have been released (their buffers returned). */
void cf_netmgr_destroy(cf_netmgr_t *m);
int cf_netmgr_port(const cf_netmgr_t *m);

/* Publish a partition of part->n subpartitions. As each subpartition is
 * attached, atomic_fetch_add(connected, 1) and owner is notified. part,
 * connected and owner must stay valid until the release's done callback. */
void cf_netmgr_publish(cf_netmgr_t *m, const cf_net_pid_t *pid,
                       cf_net_partition_t *part, atomic_int *connected,
                       cf_signal_t *owner);
/* The producer is done with the partition (it flushed it and sent its
 * end-of-partition event, or it was cancelled). With discard, queued
 * buffers are recycled now; otherwise they are sent first (while the
 * peer is alive). done(arg) runs on the net thread when the network
 * manager holds no buffer of the partition any more. */
void cf_netmgr_release_partition(cf_netmgr_t *m, const cf_net_pid_t *pid,
                                 int discard, cf_netmgr_done_cb done,
                                 void *arg);

/* Input channel ch of gate reads subpartition sub of pid, produced by the
 * TaskManager whose network manager listens on host:port (the local one
 * when host:port is ours). credits: exclusive buffers for a remote channel
 * (buffers-per-channel; at least 1). */
void cf_netmgr_subscribe(cf_netmgr_t *m, const cf_net_pid_t *pid, int sub,
                         const char *host, int port, cf_net_gate_t *gate,
                         int ch, int credits);
/* Give gate n floating buffers (Flink's
 * taskmanager.network.memory.floating-buffers-per-gate), shared by its
 * remote channels: each data buffer a producer sends announces its
 * backlog (buffers queued behind it), and a channel with backlog is
 * granted floating buffers as extra credit, up to backlog + its
 * exclusive buffers. They are reserved from env when the gate's first
 * remote channel subscribes (none for a gate with local channels only);
 * when the budget cannot cover them, the channels go without (a
 * warning). Call it before or after subscribing the gate's channels;
 * cf_netmgr_release_gate returns them. Optional: without it a channel
 * has its exclusive buffers only. */
void cf_netmgr_gate_floating(cf_netmgr_t *m, cf_net_gate_t *gate, int n);
/* Drop every subscription of gate (cancelling pending requests and
 * telling remote producers), then done(arg) on the net thread once no
 * buffer will be pushed to gate any more and the channels' exclusive
 * buffers are back in the budget. Buffers already queued in the gate are
 * the gate's (cf_net_gate_destroy recycles them). */
void cf_netmgr_release_gate(cf_netmgr_t *m, cf_net_gate_t *gate,
                            cf_netmgr_done_cb done, void *arg);

/* Counters for metrics and tests (snapshots). */
typedef struct cf_netmgr_stats_s {
    int connections;
    int published;
    int subscriptions;
    uint64_t bytes_sent;
    uint64_t bytes_received;
    uint64_t buffers_sent;
} cf_netmgr_stats_t;
void cf_netmgr_stats(cf_netmgr_t *m, cf_netmgr_stats_t *out);

#endif /* CF_NETMGR_H */
