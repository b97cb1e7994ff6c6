/* checkpoints.h — one machine's tree of checkpoints as stored in <machine dir>/checkpoints/: the tree
 * itself (tree.ini, the truth after any crash), each checkpoint's folder, and the journal keys that let
 * an interrupted create, apply or delete be finished or undone when the tree is next loaded.
 *
 * The tree is plain data: what is done to disks and workers is machine-checkpoint*.c's.  Saving is
 * atomic (temporary file, fsync, rename, fsync of the folder); files are small, so the main loop may
 * load and save it. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* A checkpoint id: 16 lowercase hex digits, also the last element of its D-Bus path and the name of
 * its disk snapshots ("vireo-<id>"). */
#define VIREO_CHECKPOINT_ID_LEN          16
#define VIREO_CHECKPOINT_NAME_MAX        100 /* characters */
#define VIREO_CHECKPOINT_SNAPSHOT_PREFIX "vireo-"

typedef struct
{
  char *id;
  char *name;
  char *parent;   /* the parent's id; "" for a root */
  gint64 created; /* µs since the epoch */
  char *kind;     /* "standard" or "production" */
  gboolean has_state;
  char *consistency; /* "application" or "crash" */
} VireoCheckpoint;

VireoCheckpoint *vireo_checkpoint_new (const char *id, const char *name, const char *kind);
VireoCheckpoint *vireo_checkpoint_copy (const VireoCheckpoint *checkpoint);
void vireo_checkpoint_free (VireoCheckpoint *checkpoint);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VireoCheckpoint, vireo_checkpoint_free)

typedef struct
{
  char *dir;         /* <machine dir>/checkpoints */
  GPtrArray *nodes;  /* VireoCheckpoint, oldest first */
  char *current;     /* the checkpoint "Now" hangs below; "" for none */
  char *applying;    /* journal of Apply: the checkpoint being applied, or "" */
  GPtrArray *doomed; /* journal of create and delete: ids whose disk snapshots and folder must go */
} VireoCheckpointTree;

/* Reads <@machine_dir>/checkpoints/tree.ini; a missing file is an empty tree.  Damaged entries are
 * repaired as far as they can be (an unknown parent makes a root, an unknown current is none) rather
 * than losing the rest; an unreadable file is an error. */
VireoCheckpointTree *vireo_checkpoint_tree_load (const char *machine_dir, GError **error);
/* The same from the folder @dir itself (a checkpoints folder received from another host). */
VireoCheckpointTree *vireo_checkpoint_tree_load_dir (const char *dir, GError **error);
void vireo_checkpoint_tree_free (VireoCheckpointTree *tree);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VireoCheckpointTree, vireo_checkpoint_tree_free)
VireoCheckpointTree *vireo_checkpoint_tree_copy (const VireoCheckpointTree *tree);

/* What tree.ini holds for @tree. */
char *vireo_checkpoint_tree_to_data (const VireoCheckpointTree *tree, gsize *length);
/* Writes tree.ini atomically (creating the folder, mode 0700). */
gboolean vireo_checkpoint_tree_save (VireoCheckpointTree *tree, GError **error);

VireoCheckpoint *vireo_checkpoint_tree_find (const VireoCheckpointTree *tree, const char *id);
/* A fresh random id, unused in @tree and by any folder. */
char *vireo_checkpoint_tree_new_id (const VireoCheckpointTree *tree);
/* <dir>/<id>, and the folder a checkpoint is written in before it counts: <dir>/<id>.tmp. */
char *vireo_checkpoint_tree_folder (const VireoCheckpointTree *tree, const char *id);
char *vireo_checkpoint_tree_temp_folder (const VireoCheckpointTree *tree, const char *id);

/* Adds @checkpoint (taken) below Now, and Now below it; its id leaves the doomed list. */
void vireo_checkpoint_tree_add (VireoCheckpointTree *tree, VireoCheckpoint *checkpoint);
/* Removes @id (and with @subtree all below it); children of a removed single checkpoint, and Now if
 * it hung below a removed one, move to the removed one's parent.  The removed ids join the doomed list
 * and are returned (an array of strings), or NULL for an unknown @id. */
GPtrArray *vireo_checkpoint_tree_remove (VireoCheckpointTree *tree, const char *id, gboolean subtree);
/* Now hangs below @id ("" for none). */
void vireo_checkpoint_tree_set_current (VireoCheckpointTree *tree, const char *id);
/* The direct children of @id ("" for the roots), oldest first; the array does not own them. */
GPtrArray *vireo_checkpoint_tree_children (const VireoCheckpointTree *tree, const char *id);

void vireo_checkpoint_tree_doom (VireoCheckpointTree *tree, const char *id);
void vireo_checkpoint_tree_forget_doomed (VireoCheckpointTree *tree, const char *id);

/* Removes what the tree does not name from its folder: folders of unknown ids, "*.tmp" folders and
 * files.  Doomed ids keep their folders (their definitions name the images holding their snapshots)
 * until vireo_checkpoint_tree_remove_folder(); their disk snapshots are the caller's. */
gboolean vireo_checkpoint_tree_remove_strays (VireoCheckpointTree *tree, GError **error);
/* Removes a checkpoint's folder (and its temporary one). */
gboolean vireo_checkpoint_tree_remove_folder (VireoCheckpointTree *tree, const char *id, GError **error);

/* Whether @text is a checkpoint id. */
gboolean vireo_checkpoint_id_is_valid (const char *text);
/* A checkpoint name: 1 to 100 characters, valid UTF-8, no control characters.  InvalidArgument. */
gboolean vireo_checkpoint_check_name (const char *name, GError **error);

/* The ids of the checkpoint snapshots ("vireo-<id>") in the qcow2 image on @fd, read from its snapshot
 * table (pread; bounded, every field checked: the image is untrusted); an empty array for a raw image.
 * NULL with InvalidArgument for a damaged table. */
GPtrArray *vireo_checkpoint_disk_snapshot_ids (int fd, GError **error);

/* Hard-links a checkpoint's saved state (files "state" and "memory" of @from_dir) into the machine's
 * state folder @to_dir as "memory.tmp" and "state.tmp", then renames them into place as the core
 * commits a save (memory first).  The checkpoint's files are never written through these links: a later
 * Save renames new files over them. */
gboolean vireo_checkpoint_link_state (const char *from_dir, const char *to_dir, GError **error);

G_END_DECLS
