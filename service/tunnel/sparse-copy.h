/* sparse-copy.h — writing a disk image that arrives as a byte stream into a file that stays sparse:
 * blocks of zeros become holes.  vireo-tunnel's disk-write, and the app for a destination on its own host. */
#pragma once

#include <glib.h>

/* Zeros are looked for in blocks of this size, aligned to the file's offsets: a hole is at least one
 * whole block. */
#define VIREO_SPARSE_BLOCK_SIZE (64 * 1024)

/* Writes @buf (@len bytes) at @offset of @fd (pwrite: the file position is left alone), except the
 * blocks that are all zeros, which are left as holes: beyond the file's end nothing is written, and
 * within it (a file written before, as by a retry) the old bytes are punched out, or zeros written
 * where the file system cannot punch holes.  FALSE with @error (G_IO_ERROR) on a failed write. */
gboolean vireo_sparse_write (int fd, guint64 offset, const void *buf, gsize len, GError **error);

/* Gives @fd its final @length (ftruncate): the holes at its end count, and whatever an earlier, longer
 * write left beyond it goes. */
gboolean vireo_sparse_finish (int fd, guint64 length, GError **error);
