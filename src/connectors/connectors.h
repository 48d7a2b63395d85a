/*
 * connectors.h: the built-in sources and sinks (Flink's fromSequence,
 * DataGeneratorSource, FileSource with TextLineInputFormat,
 * socketTextStream, PrintSink, DiscardingSink and a FileSink of text
 * lines).
 *
 * The connectors are written against the public plugin ABI only: the
 * runtime puts these constructors into the host function table
 * (env_from_sequence, env_datagen, env_read_text_file,
 * env_socket_text_stream, stream_print, stream_discard, stream_write_text),
 * and they build their operators with the public builder calls, as a
 * plugin would.
 *
 * Each constructor allocates a small read-only configuration that is used
 * as the operator's udata. It lives until cf_conn_free_all(), which the
 * runtime calls once at shutdown, after every job has ended.
 *
 * Checkpointing: fromSequence, the data generator and the file source
 * keep their read positions in operator list state (SPLIT mode, states
 * "sequence-positions", "datagen-positions", "file-positions"), written
 * by a snapshot hook they set on their stream with cf_stream_hooks (a job
 * must not replace the hooks of a built-in source), and rewind to them
 * when restored, also with another parallelism. The socket source is not
 * replayable: it keeps no state. The text file sink is a two-phase-commit
 * sink (exactly-once part files).
 *
 * Threads: the constructors run where a job's entry runs (any thread, one
 * environment at a time); cf_conn_free_all runs on any thread once no
 * operator of any job runs.
 */
#ifndef CF_CONNECTORS_H
#define CF_CONNECTORS_H

#include <cflink/cflink.h>

/* Flink's fromSequence: the int64 values from..to (inclusive), 8-byte
 * native-endian records without timestamps, named "Sequence Source".
 * Instance i of p reads the i-th of p contiguous, near-equal ranges.
 * from > to fails the environment. */
cf_stream_t *cf_conn_from_sequence(cf_env_t *env, int64_t from, int64_t to);

/* Flink's DataGeneratorSource: gen(ctx, index) for index 0..count-1
 * (count UINT64_MAX: unbounded), split over the instances in contiguous
 * ranges like fromSequence; named name, or "DataGeneratorSource". With
 * records_per_second > 0 each of p instances calls gen at most
 * records_per_second / p times a second. Inside gen, cf_ctx_udata()
 * returns udata and cf_ctx_local()/cf_ctx_set_local() give gen a slot of
 * its own (gen has no close hook: keep nothing there that needs freeing). */
cf_stream_t *cf_conn_datagen(cf_env_t *env, const char *name, cf_gen_fn gen,
                             void *udata, uint64_t count,
                             double records_per_second);

/* FileSource with TextLineInputFormat, named "file-input": one record per
 * line (without '\n' and a '\r' before it), no timestamps. path is a file
 * or a directory; a directory is read recursively, skipping names that
 * start with '.' or '_', and its files, sorted by path, are assigned to
 * the instances round-robin. A path that does not exist fails the
 * environment. */
cf_stream_t *cf_conn_read_text_file(cf_env_t *env, const char *path);

/* socketTextStream: lines ('\n'-delimited, a trailing '\r' stripped) read
 * from a TCP server, named "Socket Stream", parallelism 1 (should a job
 * raise it, only instance 0 connects). The source ends when the server
 * closes the connection. Not replayable: after a restore it reconnects
 * and reads what the server sends from then on. */
cf_stream_t *cf_conn_socket_text_stream(cf_env_t *env, const char *host,
                                        int port);

/* PrintSink, named "Print to Std. Out": each record's bytes and '\n' on
 * standard output, prefixed "N> " (N = instance index + 1) when the sink's
 * parallelism is above 1. A line is written with one stdio call, so lines
 * of different instances never mix. */
cf_stream_t *cf_conn_print(cf_stream_t *s);

/* DiscardingSink, named "Discard". */
cf_stream_t *cf_conn_discard(cf_stream_t *s);

/* A FileSink of text lines, named "File Sink", exactly-once through the
 * two-phase-commit sink API: instance i (with a uuid drawn at each open)
 * writes the records of a transaction to
 * dir/.part-<uuid>-<i>-<n>.inprogress; at a checkpoint barrier the file
 * is synced and renamed dir/.part-<uuid>-<i>-<n>.pending, and when the
 * checkpoint completes it becomes dir/part-<uuid>-<i>-<n>. Without
 * checkpointing the one transaction commits at the end of the input:
 * dir/part-<uuid>-<i>-0. An instance that received no record writes no
 * file. dir is created if needed. */
cf_stream_t *cf_conn_write_text(cf_stream_t *s, const char *dir);

/* Free every configuration the constructors above allocated. Call once no
 * operator built by them runs any more (the runtime calls it at shutdown). */
void cf_conn_free_all(void);

#endif /* CF_CONNECTORS_H */
