/* checkpoint-archive.h — a machine's checkpoints folder as one stream, to move it to another host: written
 * from a tree (OpenCheckpointArchive) and read back into a new folder (ReceiveCheckpointArchive).
 *
 * The format (also in data/org.vireo.Vireo1.xml) is ours rather than tar, so that what arrives can name
 * nothing but the few files a checkpoints folder holds:
 *   magic "VIREOCKP1\n" (10 bytes);
 *   entries: u16 big-endian name length, the name (UTF-8, no NUL), u64 big-endian size, size bytes;
 *   the end: a name length of 0, and nothing after.
 * Names: "tree.ini" (first), "<id>/definition.xml", "<id>/state", "<id>/memory", each at most once;
 * tree.ini and definition.xml at most 1 MiB, state and memory any size (streamed, never held). */
#pragma once

#include "checkpoints.h"

G_BEGIN_DECLS

#define VIREO_CHECKPOINT_ARCHIVE_MAGIC     "VIREOCKP1\n"
#define VIREO_CHECKPOINT_ARCHIVE_MAGIC_LEN 10
#define VIREO_CHECKPOINT_ARCHIVE_SMALL_MAX (1024 * 1024)

/* Writes the archive of the checkpoints @tree lists (its journal left out) from tree->dir to @fd
 * (blocking; for a thread).  Failed or the errno's code, naming the file. */
gboolean vireo_checkpoint_archive_write (int fd, const VireoCheckpointTree *tree, GError **error);

/* Reads an archive from @fd (blocking; for a thread) up to its end marker into the new folder @dir (mode
 * 0700, which must not exist), each file flushed to disk; *@size and *@sha256 are the stream's length
 * and SHA-256.  A bad archive or a write error is Failed saying what was wrong; the caller removes @dir
 * then. */
gboolean vireo_checkpoint_archive_read (int fd, const char *dir, guint64 *size, char **sha256,
                                        GError **error);

G_END_DECLS
