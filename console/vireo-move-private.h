/* vireo-move-private.h — what the two halves of a move share: the job as the worker thread sees it (all of
 * it copied from the main thread before the thread starts), progress, and the byte pump.  vireo-move.c
 * holds the Vireo destination, vireo-move-libvirt.c the libvirt one. */
#pragma once

#include "vireo-move.h"

#include <libvirt-gconfig/libvirt-gconfig.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

/* libvirt-gconfig 4.0 defines no cleanup functions of its own. */
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GVirConfigDomain, g_object_unref)

#define VIREO_MOVE_BUS_NAME       "org.vireo.Vireo1"
#define VIREO_MOVE_ROOT_PATH      "/org/vireo/Vireo1"
#define VIREO_MOVE_MANAGER_IFACE  "org.vireo.Vireo1.Manager"
#define VIREO_MOVE_MACHINE_IFACE  "org.vireo.Vireo1.Machine"
#define VIREO_MOVE_DEFAULT_SWITCH "Default Switch"

/* One end of a move on a Vireo host, as the thread needs it. */
typedef struct
{
  GDBusConnection *bus;
  char *uri;        /* ssh://… for a remote host, else NULL */
  char *title;      /* "user@host", "My Machines" */
  gboolean session; /* a remote host's session service */
} VireoMoveEnd;

/* A disk to copy, from the source's "disks" setting. */
typedef struct
{
  char *target, *path, *format, *bus, *cache;
  gboolean readonly;
  guint32 boot_order;
  guint64 size;    /* the image file's length, from the source's ChecksumDisk */
  char *sha256;    /* likewise */
  char *copied_to; /* the destination's path or volume */
} VireoMoveDisk;

typedef struct
{
  VireoMoveEnd source;
  char *machine_path;
  char *name, *uuid;
  GVariant *settings;
  guint checkpoints;
  GPtrArray *disks;  /* VireoMoveDisk */
  GPtrArray *cdroms; /* "sdc: /path/x.iso" for each drive with a medium */

  /* one of: */
  VireoMoveEnd dest;       /* a Vireo destination (dest.bus set) */
  virConnectPtr libvirt;   /* a libvirt destination */
  gboolean libvirt_system; /* qemu:///system-like: its NICs get the "default" network */
  char *dest_title;
  char **dest_switches; /* Vireo: the destination's switch names */

  gboolean delete_source;
  gboolean include_checkpoints; /* a Vireo destination: the images whole and the checkpoints' archive */
  GCancellable *cancellable;

  /* progress, written by the thread, read by the main loop */
  GMutex lock;
  char *stage;
  guint64 done, total;
  GPtrArray *report;
} VireoMoveJob;

void vireo_move_set_stage (VireoMoveJob *job, const char *format, ...) G_GNUC_PRINTF (2, 3);
void vireo_move_add_done (VireoMoveJob *job, guint64 bytes);

/* Reads @in until its end, hashing every byte (SHA-256 into @hash_out, lowercase hex) and handing it to
 * @sink; counts progress.  Fails when *@size bytes did not come; with *@size VIREO_MOVE_SIZE_UNKNOWN, sets
 * it to the count that came. */
#define VIREO_MOVE_SIZE_UNKNOWN G_MAXUINT64
typedef gboolean (*VireoMoveSink) (gpointer sink_data, const guint8 *buffer, gsize length, guint64 offset,
                                   GError **error);
gboolean vireo_move_pump (VireoMoveJob *job, int in, guint64 *size, VireoMoveSink sink, gpointer sink_data,
                          char **hash_out, GError **error);
/* The source's side of a copy: a stream of the disk's image (the service's fd, or ssh with vireo-tunnel),
 * and after the last byte, whether the far end ended well. */
int vireo_move_open_source_disk (VireoMoveJob *job, VireoMoveDisk *disk, GSubprocess **ssh, GError **error);
/* The three views of one disk agree: the source's file, the bytes that went through us, the copy (@where). */
gboolean vireo_move_check_copy (VireoMoveDisk *disk, const char *pumped, guint64 size, const char *sha256,
                                const char *where, GError **error);
gboolean vireo_move_wait_ssh (GSubprocess *ssh, GCancellable *cancellable, GError **error);

/* A call on one end's service, from the thread; a refusal's message without the D-Bus error name. */
GVariant *vireo_move_call (VireoMoveJob *job, VireoMoveEnd *end, const char *path, const char *iface,
                           const char *method, GVariant *parameters, const char *reply_type, GError **error);
/* A stream of a move on @end: the fd of the service's Open… method on a local host; on a remote one, our
 * end of `ssh HOST vireo-tunnel KIND MACHINE [TARGET]` and the ssh process in *out_ssh. */
typedef enum
{
  VIREO_MOVE_DISK_READ,         /* Machine.OpenDiskImage (@target) */
  VIREO_MOVE_DISK_WRITE,        /* Machine.OpenReceivedDisk (@target) */
  VIREO_MOVE_CHECKPOINTS_READ,  /* Machine.OpenCheckpointArchive */
  VIREO_MOVE_CHECKPOINTS_WRITE, /* Machine.ReceiveCheckpointArchive */
} VireoMoveStream;
int vireo_move_open_stream (VireoMoveJob *job, VireoMoveEnd *end, const char *machine_path,
                            VireoMoveStream kind, const char *target, GSubprocess **out_ssh, GError **error);
const char *vireo_move_lookup_string (GVariant *dict, const char *key, const char *fallback);
void vireo_move_close_fd (int *fd);

/* The Vireo destination (vireo-move-vireo.c): the notes on its switches, and the copy, which gives the new
 * machine's object path. */
void vireo_move_vireo_notes (VireoMoveJob *job, GPtrArray *notes);
char *vireo_move_vireo_run (VireoMoveJob *job, const char *xml, GError **error);

/* A copy of the CD-ROM drive @drive without its medium (a new reference). */
GVirConfigDomainDevice *vireo_move_empty_drive (GVirConfigDomainDisk *drive);

/* The libvirt destination (vireo-move-libvirt.c). */
char **vireo_move_libvirt_notes (VireoMoveJob *job, GError **error);
char *vireo_move_libvirt_run (VireoMoveJob *job, const char *xml, GError **error);
