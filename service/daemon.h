/* daemon.h — what every part of vireod shares: its mode, where things live, the authority, the store. */
#pragma once

#include "machine-store.h"
#include "vireo-dbus-generated.h"

G_BEGIN_DECLS

typedef enum
{
  VIREO_MODE_SESSION,
  VIREO_MODE_SYSTEM,
} VireoMode;

typedef struct _VireoAuthority VireoAuthority;
typedef struct _VireoManager VireoManager;

typedef struct
{
  VireoMode mode;
  VireoMachineStore *store;
  VireoAuthority *authority;
  GDBusObjectManagerServer *object_manager;
  char *runtime_dir; /* $XDG_RUNTIME_DIR/vireo or /run/vireo */
  char *workers_dir; /* <runtime_dir>/workers: one socket per running machine */
  char *worker_path; /* the vireo-worker binary */
  char *kvm_path;    /* /dev/kvm, or $VIREO_KVM_DEVICE for tests */
  guint reattaching; /* workers we are still connecting to after a restart */
  VireoManager *manager;
} VireoDaemon;

/* Polkit actions (data/org.vireo.vireo.policy). */
#define VIREO_ACTION_CREATE          "org.vireo.vireo.create"
#define VIREO_ACTION_MODIFY          "org.vireo.vireo.modify"
#define VIREO_ACTION_DELETE          "org.vireo.vireo.delete"
#define VIREO_ACTION_START_STOP      "org.vireo.vireo.start-stop"
#define VIREO_ACTION_CONSOLE         "org.vireo.vireo.console"
#define VIREO_ACTION_MANAGE_SWITCHES "org.vireo.vireo.manage-switches"

/* authority.c: in system mode, asks polkit whether the sender of @invocation may do @action; in session mode
 * the bus is the user's own and everything is allowed.  Completes with TRUE, or FALSE and a
 * VIREO_ERROR_PERMISSION_DENIED naming what was refused. */
VireoAuthority *vireo_authority_new (VireoMode mode);
void vireo_authority_free (VireoAuthority *authority);
void vireo_authority_check_async (VireoAuthority *authority, GDBusMethodInvocation *invocation,
                                  const char *action, GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data);
gboolean vireo_authority_check_finish (VireoAuthority *authority, GAsyncResult *result, GError **error);
/* After a successful check: the uid of the caller on the system bus, whose rights open the files it
 * names (open-as.h); VIREO_OWN_UID on the session bus, where every caller is vireod's own user. */
gint64 vireo_authority_caller_uid (GDBusMethodInvocation *invocation);

/* The D-Bus object path of machine @uuid. */
char *vireo_machine_object_path (const char *uuid);

G_END_DECLS
