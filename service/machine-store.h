/* machine-store.h — where machines live on disk: one folder per machine under the storage location,
 * holding its definition (machine.xml), its saved state (state/) and disks created for it. */
#pragma once

#include "machine-config.h"

G_BEGIN_DECLS

typedef struct _VireoMachineStore VireoMachineStore;

/* Opens (creating, mode 0700) the storage folder @root. */
VireoMachineStore *vireo_machine_store_new (const char *root, GError **error);
void vireo_machine_store_free (VireoMachineStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VireoMachineStore, vireo_machine_store_free)

const char *vireo_machine_store_get_root (VireoMachineStore *store);

/* Every machine found, as VireoMachineConfig.  A folder whose definition cannot be read or parsed is
 * skipped and its problem added to @problems (strings naming the file), so one broken file never hides
 * the others; nothing is deleted or rewritten. */
GPtrArray *vireo_machine_store_load_all (VireoMachineStore *store, GPtrArray **problems);

/* Writes @config's definition atomically (temporary file, fsync, rename; mode 0600). */
gboolean vireo_machine_store_save (VireoMachineStore *store, const VireoMachineConfig *config,
                                   GError **error);

/* Removes the machine's folder: its definition, saved state, and with @delete_disks the disk images
 * that lie inside the folder (images elsewhere are never touched).  Without @delete_disks, disk images
 * inside the folder are kept and the folder with them. */
gboolean vireo_machine_store_delete (VireoMachineStore *store, const char *uuid, gboolean delete_disks,
                                     GError **error);

/* <root>/<uuid> and <root>/<uuid>/state. */
char *vireo_machine_store_machine_dir (VireoMachineStore *store, const char *uuid);
char *vireo_machine_store_state_dir (VireoMachineStore *store, const char *uuid);
gboolean vireo_machine_store_has_saved_state (VireoMachineStore *store, const char *uuid);
gboolean vireo_machine_store_discard_saved_state (VireoMachineStore *store, const char *uuid, GError **error);

/* Removes @name in the folder @dir_fd and, when it is a folder, everything in it (@keep_top: only
 * what is in it), never following a symbolic link; a missing @name is no error. */
gboolean vireo_remove_tree_at (int dir_fd, const char *name, gboolean keep_top, GError **error);

G_END_DECLS
