/* snapshot-file.h — the two files of a saved VM, "state" and "memory": written under temporary
 * names, renamed into place together, and read back with every check a file from disk needs.  The
 * layouts are described in snapshot-file.c. */
#pragma once

#include "memory.h"

#define HV_SNAPSHOT_ID_SIZE 16

/* A new id, written into both files so that restoring only pairs a state with its own memory. */
void hv_snapshot_new_id (uint8_t id[HV_SNAPSHOT_ID_SIZE]);

/* Write "memory.tmp" (the data of @mem, sparse; @written receives how many bytes of it) and
 * "state.tmp" in @dir_fd, readable by the owner only and synced to disk. */
gboolean hv_snapshot_write_memory (int dir_fd, const HvMemory *mem, const uint8_t id[HV_SNAPSHOT_ID_SIZE],
                                   uint64_t *written, GError **error);
gboolean hv_snapshot_write_state (int dir_fd, GVariant *state, GError **error);
/* Renames both into place and syncs the folder.  A saved file is never opened for writing again:
 * a later save writes new temporary files and renames them over the old names, so a VM (or a
 * checkpoint's hard link) that maps the old memory file keeps its inode unchanged. */
gboolean hv_snapshot_commit (int dir_fd, GError **error);
/* Removes the temporary files of a save that failed. */
void hv_snapshot_discard (int dir_fd);

/* Reads "state" and checks its magic, version (1 or 2, returned in @format_version), length and
 * checksum; returns its a{sv}, in normal form. A missing file is HV_ERROR_NOT_FOUND, a damaged or foreign one HV_ERROR_BAD_IMAGE. */
GVariant *hv_snapshot_read_state (int dir_fd, unsigned *format_version, GError **error);
/* Opens "memory" and checks that it holds @memory_size bytes of RAM saved with @id. */
int hv_snapshot_open_memory (int dir_fd, uint64_t memory_size, const uint8_t id[HV_SNAPSHOT_ID_SIZE],
                             GError **error);
/* Maps the memory file @fd (checked by hv_snapshot_open_memory) over @mem's RAM, privately: no page
 * is read until the guest touches it (hv_memory_map_file).  The file must stay as it is while the
 * VM lives; a saved memory file is never written again once it has its name (see
 * hv_snapshot_commit), and the next save writes a new file, sparse: the file's data plus the pages
 * written since. */
gboolean hv_snapshot_map_memory (int fd, HvMemory *mem, GError **error);
