/*
 * ckpt.h: checkpoint storage on the filesystem (Flink's
 * FsCheckpointStorageAccess) and the _metadata file.
 *
 * Layout (as Flink's):
 *   <execution.checkpointing.dir>/<jobid>/chk-<n>/_metadata
 *                                        /chk-<n>/<state files>
 *                                        /shared/  /taskowned/
 *   <savepoint dir>/savepoint-<first 6 hex of jobid>-<12 random hex>/
 *       _metadata and the state files (self-contained: paths relative)
 *
 * Every file is written to a temporary name, fsynced, renamed, and its
 * directory fsynced; a checkpoint exists once its _metadata does.
 * _metadata: [magic "CFLKMETA"][u32 BE version][u32 BE CRC-32 of the
 * body][u64 BE body length][body: cflink.CheckpointMetadata protobuf],
 * documented in docs/internals/checkpoint-format.md.
 *
 * Thread: any; the functions block on the filesystem (the JobManager
 * calls them on its worker pool, except the cheap path helpers).
 */
#ifndef CF_CKPT_H
#define CF_CKPT_H

#include <stdint.h>

#include "checkpoint.pb-c.h"
#include "core.h"

#define CF_CKPT_META_VERSION 1
#define CF_CKPT_META_FILE "_metadata"

/* "<base>/<jobid>" (free()). */
char *cf_ckpt_job_dir(const char *base, const char *job_id_hex);
/* "<base>/<jobid>/chk-<id>" (free()). */
char *cf_ckpt_chk_dir(const char *base, const char *job_id_hex, int64_t id);
/* Create <base>/<jobid>/{shared,taskowned}. Errors name the path. */
int cf_ckpt_job_dirs_create(const char *base, const char *job_id_hex,
                            cf_error_t **errp);
/* Create the directory of one checkpoint (or savepoint). Errors name
 * the path and the reason (missing parent, not writable, ...). */
int cf_ckpt_dir_create(const char *dir, cf_error_t **errp);
/* "<target>/savepoint-<6 hex of job id>-<12 random hex>" (free()). */
char *cf_ckpt_savepoint_dir_new(const char *target, const char *job_id_hex);

/* Write m as dir/_metadata atomically (temporary name, fsync, rename,
 * fsync of dir). Handle paths are written as they are in m (the caller
 * relativizes with cf_ckpt_relativize first). */
int cf_ckpt_meta_write(const char *dir, const Cflink__CheckpointMetadata *m,
                       cf_error_t **errp);
/* Read a checkpoint or savepoint: path is its directory or its _metadata
 * file (as Flink's -s accepts both). Checks magic, version, length and
 * CRC; relative handle paths are made absolute against the directory;
 * every referenced state file must exist with its recorded size. Errors
 * name the file at fault ("... does not exist", "... is truncated", "...
 * checksum mismatch"). *out: free with
 * cflink__checkpoint_metadata__free_unpacked(m, NULL). *dir_out (may be
 * NULL) gets the directory (free()). */
int cf_ckpt_meta_read(const char *path, Cflink__CheckpointMetadata **out,
                      char **dir_out, cf_error_t **errp);

/* Rewrite every handle path of m under dir as relative to dir. */
void cf_ckpt_relativize(Cflink__CheckpointMetadata *m, const char *dir);

/* Delete a checkpoint directory and its files, except the files listed
 * in keep (absolute paths still referenced by retained checkpoints); the
 * directory itself is removed once empty. Missing files are fine. */
int cf_ckpt_discard(const char *dir, const char *const *keep, size_t nkeep,
                    cf_error_t **errp);
/* Dispose of a savepoint (POST /savepoint-disposal, cflink savepoint
 * -d): path is the directory or its _metadata; refuses a directory
 * without a valid _metadata (naming it), then removes it whole. */
int cf_ckpt_dispose_savepoint(const char *path, cf_error_t **errp);

/* Write data to path atomically (temporary name, fsync, rename, fsync
 * of the directory). */
int cf_ckpt_write_file(const char *path, const void *data, size_t len,
                       cf_error_t **errp);
/* Copy a file (for savepoints that must hold a state file written for
 * an older checkpoint), atomically as above. */
int cf_ckpt_copy_file(const char *from, const char *to, cf_error_t **errp);

#endif /* CF_CKPT_H */
