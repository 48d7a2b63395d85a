/*
 * snap_writer.h: the snapshot writers, a small process-wide pool of
 * threads that run the asynchronous part of checkpoints (writing state
 * files) while the tasks keep processing records.
 */
#ifndef CF_SNAP_WRITER_H
#define CF_SNAP_WRITER_H

/* Run fn(arg) on a writer thread. The pool (CF_SNAP_WRITERS threads) is
 * created on first use; its queue is bounded (CF_SNAP_QUEUE jobs): a
 * submitter waits while it is full, so snapshots cannot pile up without
 * limit. Returns 0, or CF_EIO when no writer thread could be started
 * (fn is not called). Thread: any but a writer. */
#define CF_SNAP_WRITERS 2
#define CF_SNAP_QUEUE 64
int cf_snap_writer_submit(void (*fn)(void *), void *arg);

#endif /* CF_SNAP_WRITER_H */
