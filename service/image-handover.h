/* image-handover.h — an image that qemu-img, running as a user other than vireod's, writes for vireod:
 * made in a temporary folder of that user's and then adopted by vireod (the rule is told at the top of
 * machine-disk-import.c).  Used by ImportDisk and Checkpoint.Export. */
#pragma once

#include "open-as.h"

#include <glib.h>

G_BEGIN_DECLS

/* Makes <@folder>/<@prefix>XXXXXX (0700), given to @identity's user when it changes, and returns its
 * path, with *@fd a descriptor of it (O_DIRECTORY) for qemu-img to write in.  NULL with @error Failed. */
char *vireo_handover_folder_new (const char *folder, const char *prefix, const VireoIdentity *identity,
                                 int *fd, GError **error);

/* Removes @temp_folder and what is in it, one level deep (qemu-img makes one file), following no link. */
void vireo_handover_folder_remove (const char *temp_folder);

/* Removes the <@folder>/<@prefix>* a vireod that died halfway left behind (@what: "an import"...). */
void vireo_handover_remove_leftovers (const char *folder, const char *prefix, const char *what);

/* In a thread, once qemu-img has exited successfully: opens <@temp_folder>/<@name> without following
 * links, checks that it is a regular file with one link, of @identity's user (vireod's own when it does
 * not change), qcow2 when @qcow2 (else not), naming neither a backing file nor an external data file;
 * makes it vireod's (fchown, 0600), fsyncs it and renames it to <@folder>/<@name> without replacing
 * anything.  NULL on success, else what is wrong, in words. */
/* Whether a qcow2 image's header says its data lie in another file (incompatible feature bit 2 of a
 * version 3 header), which QEMU opens by name; unreadable counts as yes. */
gboolean vireo_qcow2_has_data_file (int fd);
const char *vireo_handover_adopt (const char *temp_folder, const char *name, const char *folder,
                                  const VireoIdentity *identity, gboolean qcow2);

G_END_DECLS
