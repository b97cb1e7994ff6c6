/* vireo-checkpoint-tree.h — a machine's checkpoints as the details pane shows them: an indented tree, oldest
 * first, with "Now" under the checkpoint the current state derives from, each checkpoint's time and kind, its
 * menu (Apply, Rename, Export, Delete, Delete Subtree), and the progress of what the app is doing to them. */
#pragma once

#include <adwaita.h>

#include "vireo-host.h"

G_BEGIN_DECLS

#define VIREO_TYPE_CHECKPOINT_TREE (vireo_checkpoint_tree_get_type ())
G_DECLARE_FINAL_TYPE (VireoCheckpointTree, vireo_checkpoint_tree, VIREO, CHECKPOINT_TREE, AdwBin)

/* Shows the checkpoints of @machine (NULL: none) as @host lists them, and follows them. */
void vireo_checkpoint_tree_set_machine (VireoCheckpointTree *self, VireoHost *host,
                                        VireoDBusMachine *machine);

/* For the tests: the list's rows (checkpoints and "Now", in the order shown) and the menu of the checkpoint
 * at @object_path (its items' actions are the window's "win.checkpoint-…"). */
GtkListBox *vireo_checkpoint_tree_get_list (VireoCheckpointTree *self);
GMenuModel *vireo_checkpoint_tree_get_menu (VireoCheckpointTree *self, const char *object_path);

G_END_DECLS
