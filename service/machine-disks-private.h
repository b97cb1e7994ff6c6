/* machine-disks-private.h — what machine-disks.c (the disk methods), machine-disk-import.c (ImportDisk)
 * and machine-disk-send.c / machine-disk-receive.c (a disk moved between hosts) share: a disk operation
 * in flight and the checks and steps they use. */
#pragma once

#include "machine-private.h"
#include "open-as.h"
#include "qemu-img.h"

G_BEGIN_DECLS

/* Options of CreateDisk and ImportDisk: "format", "bus", "name". */
typedef struct
{
  const char *format;
  const char *bus;
  const char *name; /* NULL: from the target */
} NewDiskOptions;

typedef struct _DiskOperation DiskOperation;
typedef void (*OperationDone) (DiskOperation *op, GError *error);

struct _DiskOperation
{
  VireoMachine *machine;
  GDBusMethodInvocation *invocation;
  VireoMachineConfig *config; /* the definition to store when done */
  char *target;
  char *path;        /* the image */
  char *folder;      /* the machine's folder */
  char *temp_folder; /* ImportDisk: <folder>/.import-XXXXXX */
  char *name;        /* the image's file name */
  char *format;
  guint64 size;
  int fd;
  gint64 caller_uid;
  VireoIdentity identity;
  OperationDone done;         /* what comes after qemu-img */
  gboolean remove_on_failure; /* CreateDisk: the image is new */
  gboolean handed_on;         /* the next step took the operation over (set by a step's @done) */
  gboolean lent;              /* ResizeDisk: vireod's image is the caller's until qemu-img is done */
  char *sha256;               /* ChecksumDisk, FinishReceivedDisk: the image's hash (size: its length) */
  char *qemu_img;             /* FinishReceivedDisk with drop-snapshots: qemu-img's path */
  char **snapshots;           /* ... the names of the snapshots to delete */
  guint next_snapshot;        /* ... the one being deleted */
};

/* The disk with target @target, or NULL with NotFound returned on @invocation. */
VireoDiskConfig *vireo_disks_require_disk (VireoMachine *machine, GDBusMethodInvocation *invocation,
                                           const char *target);
/* The machine's folder, <storage>/<uuid>. */
char *vireo_machine_folder (VireoMachine *machine);
/* Disks change only while the machine is off, one operation at a time; else InvalidState on @invocation. */
/* A disk entry of the "disks" setting (AttachDisk, ReceiveDisk) parsed for @config, whose target no disk of
 * it has (Exists); NULL with the error returned on @invocation. */
VireoDiskConfig *vireo_disks_parse_new_disk (VireoMachine *machine, VireoMachineConfig *config,
                                             GVariant *entry, GDBusMethodInvocation *invocation);
gboolean vireo_disks_require_off (VireoMachine *machine, GDBusMethodInvocation *invocation);
/* "format", "bus" and "name" of CreateDisk and ImportDisk; InvalidArgument on @invocation. */
gboolean vireo_disks_parse_new_options (GVariant *options, NewDiskOptions *out,
                                        GDBusMethodInvocation *invocation);
/* A copy of the definition with a new last disk on @bus, its target assigned (*@new_disk points at it). */
VireoMachineConfig *vireo_disks_config_with_new_disk (VireoMachine *machine,
                                                      GDBusMethodInvocation *invocation, const char *bus,
                                                      const char *format, VireoDiskConfig **new_disk);
/* <folder>/<options' name, or the disk's target and the format's extension>. */
char *vireo_disks_new_image_path (VireoMachine *machine, const NewDiskOptions *options,
                                  const VireoDiskConfig *disk);
/* qemu-img's path, or NULL with NotSupported returned on @invocation. */
char *vireo_disks_qemu_img_path (GDBusMethodInvocation *invocation);
/* vireo_error_code_for_errno(), and Exists for EEXIST. */
VireoError vireo_disks_error_code (int errsv);
/* The new disk (the last of @planned, taken) joins the definition as it is now; replies the target. */
void vireo_disks_finish_with_new_disk (VireoMachine *machine, GDBusMethodInvocation *invocation,
                                       VireoMachineConfig *planned);

/* Marks the machine busy with @what until the operation is freed. */
DiskOperation *vireo_disk_operation_new (VireoMachine *machine, GDBusMethodInvocation *invocation,
                                         const char *what);
void vireo_disk_operation_free (DiskOperation *op);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DiskOperation, vireo_disk_operation_free)
/* Runs @func on @op in a thread, then @done on the main loop (taking @op unless @done hands it on). */
void vireo_disk_operation_in_thread (DiskOperation *op, GTaskThreadFunc func, OperationDone done);
/* Runs qemu-img (qemu-img.h) as op->identity, with @fd (taken; -1: none) as its fd 3, then @done
 * (taking @op unless @done hands it on). */
void vireo_disk_operation_run_qemu_img (DiskOperation *op, const char *const *argv, int fd,
                                        VireoQemuImgProgress progress, OperationDone done);

/* machine-disk-import.c: connects ImportDisk and removes what interrupted imports left. */
void vireo_machine_disk_import_init (VireoMachine *machine);

/* machine-disk-send.c: connects ChecksumDisk and OpenDiskImage. */
void vireo_machine_disk_send_init (VireoMachine *machine);
/* In a thread: the length and SHA-256 (into op->size and op->sha256) of op->fd read from its start,
 * with DiskProgress(@operation, op->target) about once per percent (not 0.0 or 1.0). */
gboolean vireo_disks_hash_in_thread (DiskOperation *op, const char *operation, GError **error);

/* machine-disk-receive.c: connects ReceiveDisk, OpenReceivedDisk and FinishReceivedDisk. */
void vireo_machine_disk_receive_init (VireoMachine *machine);
/* Whether disk @target is being received: ReceiveDisk made it and FinishReceivedDisk has not yet
 * succeeded. */
/* @disk's image opened with @flags and made blocking: vireod's own in the machine's folder (received disks
 * are always there), else with the caller's rights; not a regular file is @not_regular.  -1 with the error
 * returned on @invocation. */
int vireo_disks_open_image (VireoMachine *machine, GDBusMethodInvocation *invocation,
                            const VireoDiskConfig *disk, int flags, VireoError not_regular);
gboolean vireo_disks_is_receiving (VireoMachine *machine, const char *target);

G_END_DECLS
