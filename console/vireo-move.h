/* vireo-move.h — "Move to…": copies a machine that is off from one Vireo host to another Vireo host or to a
 * libvirt host, disk by disk, checking each copy by its size and SHA-256 at both ends and over the bytes in
 * between, and only then (when asked) deletes the machine at the source.  The app drives the move; the
 * services only hand out streams of the images (Machine.OpenDiskImage, ReceiveDisk, OpenReceivedDisk) and
 * check them (ChecksumDisk, FinishReceivedDisk).  Nothing here blocks the main loop: the work runs on a
 * thread, with synchronous calls. */
#pragma once

#include <gio/gio.h>

#include "vireo-host.h"

G_BEGIN_DECLS

#define VIREO_TYPE_MOVE (vireo_move_get_type ())
G_DECLARE_FINAL_TYPE (VireoMove, vireo_move, VIREO, MOVE, GObject)

/* @destination: a VireoHost other than @source, or a VireoLibvirtHost. */
VireoMove *vireo_move_new (VireoHost *source, VireoDBusMachine *machine, GObject *destination);

/* With @include (Vireo destinations only), the checkpoints move too: the images whole, with the snapshots
 * inside them, and the checkpoints' tree, definitions and saved states as one archive checked like a disk.
 * Without (the default), the copy starts from the machine as it is now.  Set before checking. */
void vireo_move_set_include_checkpoints (VireoMove *self, gboolean include);
/* How many checkpoints @machine of @host has (what the dialog offers to include). */
guint vireo_move_count_checkpoints (VireoHost *host, VireoDBusMachine *machine);

/* What will not arrive as it is, one sentence each, for the user to read before the move starts: CD-ROM
 * media and kernel files that stay behind, checkpoints, switches the destination lacks, the parts libvirt has
 * no counterpart for.  Fails, with a sentence for the user, when the machine cannot move now: it is not off,
 * the destination is not connected or already has a machine of that name or UUID. */
void vireo_move_check_async (VireoMove *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer data);
char **vireo_move_check_finish (VireoMove *self, GAsyncResult *result, GError **error);

/* Copies the machine; with @delete_source, deletes it (and the images in its folder) at the source once
 * every disk's copy is verified.  On failure or cancellation the half-made copy is deleted at the
 * destination and the source is left as it was.  While it runs, "fraction" (0 to 1) and "stage" (a
 * sentence: "Copying vda…") change on the main loop.  Finish gives the new machine's object path (a Vireo
 * host) or its domain's UUID (libvirt). */
void vireo_move_run_async (VireoMove *self, gboolean delete_source, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer data);
char *vireo_move_run_finish (VireoMove *self, GAsyncResult *result, GError **error);

double vireo_move_get_fraction (VireoMove *self);
const char *vireo_move_get_stage (VireoMove *self);
/* After a successful run, one line per disk: "vda: 67108864 bytes, SHA-256 …", the same at both ends. */
char **vireo_move_get_report (VireoMove *self);

G_END_DECLS
