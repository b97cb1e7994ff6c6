/* open-as.h — opening a file with the rights of the user who named it, never with vireod's own. */
#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

/* The uid meaning "vireod's own user": the session service, or a definition no other user named. */
#define VIREO_OWN_UID ((gint64) -1)

/* Opens @path (flags as for open(2); O_CLOEXEC, O_NOCTTY and O_NONBLOCK are added) as user @uid with that
 * user's groups would, in a child process that has taken that identity: vireod running as root never
 * opens for a caller what the caller could not open, and learns nothing the caller could not (a missing
 * file in a folder the user cannot enter is "permission denied", as it would be for them).  With
 * VIREO_OWN_UID, or the uid vireod runs as, it opens the file itself.  -1 with errno set on failure. */
int vireo_open_as (gint64 uid, const char *path, int flags);

/* A user's identity as a child process takes it: uid, primary group and supplementary groups, looked up
 * before the fork (the child only makes system calls). */
#define VIREO_GROUPS_MAX 256
typedef struct
{
  gboolean change; /* FALSE: vireod's own user, nothing to change */
  uid_t uid;
  gid_t gid;
  gid_t groups[VIREO_GROUPS_MAX];
  int n_groups;
  /* FALSE (what vireo_identity_init sets): the child is killed when vireod dies (PR_SET_PDEATHSIG).
   * TRUE: it runs to its end, for a step that is worse interrupted than finished. */
  gboolean outlive_parent;
} VireoIdentity;

/* Fills @identity for @uid (VIREO_OWN_UID or vireod's own uid: no change).  FALSE for an impossible uid. */
gboolean vireo_identity_init (VireoIdentity *identity, gint64 uid);
/* For GSubprocessLauncher's child setup (@data a VireoIdentity): takes the identity, or ends the child
 * at once with status 126; and asks for SIGKILL should vireod die. */
void vireo_identity_assume_in_child (gpointer data);

G_END_DECLS
