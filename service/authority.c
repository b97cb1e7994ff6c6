/* authority.c — who may do what: polkit in system mode, the user's own bus in session mode. */
#include "daemon.h"
#include "vireo-error.h"
#include "open-as.h"

#include <polkit/polkit.h>

struct _VireoAuthority
{
  VireoMode mode;
  PolkitAuthority *polkit; /* NULL in session mode, or when polkitd cannot be reached */
};

VireoAuthority *
vireo_authority_new (VireoMode mode)
{
  VireoAuthority *authority = g_new0 (VireoAuthority, 1);
  authority->mode = mode;
  if (mode == VIREO_MODE_SYSTEM)
    {
      g_autoptr (GError) error = NULL;
      authority->polkit = polkit_authority_get_sync (NULL, &error);
      if (authority->polkit == NULL)
        g_warning ("polkit is not available (%s): only root may manage machines", error->message);
    }
  return authority;
}

void
vireo_authority_free (VireoAuthority *authority)
{
  if (authority == NULL)
    return;
  g_clear_object (&authority->polkit);
  g_free (authority);
}

typedef struct
{
  char *action;
  GDBusMethodInvocation *invocation;
} CheckData;

static void
check_data_free (CheckData *data)
{
  g_free (data->action);
  g_clear_object (&data->invocation);
  g_free (data);
}

#define CALLER_UID_KEY "vireo-caller-uid"

static void
remember_caller_uid (GDBusMethodInvocation *invocation, guint32 uid)
{
  gint64 *stored = g_new (gint64, 1);
  *stored = uid;
  g_object_set_data_full (G_OBJECT (invocation), CALLER_UID_KEY, stored, g_free);
}

gint64
vireo_authority_caller_uid (GDBusMethodInvocation *invocation)
{
  const gint64 *stored = g_object_get_data (G_OBJECT (invocation), CALLER_UID_KEY);
  return stored ? *stored : VIREO_OWN_UID;
}

/* An authorized system-bus caller's uid, asked of the bus without blocking: files the caller names are
 * opened with that user's rights (open-as.h). */
static void
on_caller_uid (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  CheckData *data = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  guint32 uid;

  if (reply == NULL)
    {
      g_task_return_new_error (task, VIREO_ERROR, VIREO_ERROR_PERMISSION_DENIED,
                               "could not tell who is calling for %s: %s", data->action, error->message);
      return;
    }
  g_variant_get (reply, "(u)", &uid);
  remember_caller_uid (data->invocation, uid);
  g_task_return_boolean (task, TRUE);
}

static void
on_polkit_checked (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  CheckData *data = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (PolkitAuthorizationResult) answer = NULL;

  answer = polkit_authority_check_authorization_finish (POLKIT_AUTHORITY (source), result, &error);
  if (answer == NULL)
    {
      g_task_return_new_error (task, VIREO_ERROR, VIREO_ERROR_PERMISSION_DENIED,
                               "could not check authorization for %s: %s", data->action, error->message);
      return;
    }
  if (polkit_authorization_result_get_is_authorized (answer))
    {
      GDBusConnection *connection = g_dbus_method_invocation_get_connection (data->invocation);
      /* Before the task is stolen below: arguments are evaluated in no set order. */
      GCancellable *cancellable = g_task_get_cancellable (task);
      g_dbus_connection_call (connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                              "org.freedesktop.DBus", "GetConnectionUnixUser",
                              g_variant_new ("(s)", g_dbus_method_invocation_get_sender (data->invocation)),
                              G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, cancellable, on_caller_uid,
                              g_steal_pointer (&task));
      return;
    }
  if (polkit_authorization_result_get_is_challenge (answer))
    g_task_return_new_error (task, VIREO_ERROR, VIREO_ERROR_PERMISSION_DENIED,
                             "%s needs authentication; call with interactive authorization allowed "
                             "(gdbus call --interactive), or ask to join the “vireo” group",
                             data->action);
  else
    g_task_return_new_error (task, VIREO_ERROR, VIREO_ERROR_PERMISSION_DENIED,
                             "not authorized to %s; members of the “vireo” group and administrators are",
                             data->action);
}

static uid_t
caller_uid (GDBusMethodInvocation *invocation)
{
  GDBusConnection *connection = g_dbus_method_invocation_get_connection (invocation);
  const char *sender = g_dbus_method_invocation_get_sender (invocation);
  g_autoptr (GVariant) reply = NULL;
  guint32 uid = G_MAXUINT32;

  reply = g_dbus_connection_call_sync (connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "GetConnectionUnixUser",
                                       g_variant_new ("(s)", sender), G_VARIANT_TYPE ("(u)"),
                                       G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL);
  if (reply)
    g_variant_get (reply, "(u)", &uid);
  return (uid_t) uid;
}

void
vireo_authority_check_async (VireoAuthority *authority, GDBusMethodInvocation *invocation, const char *action,
                             GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  CheckData *data = g_new0 (CheckData, 1);
  PolkitCheckAuthorizationFlags flags = POLKIT_CHECK_AUTHORIZATION_FLAGS_NONE;
  g_autoptr (PolkitSubject) subject = NULL;
  GDBusMessage *message = g_dbus_method_invocation_get_message (invocation);

  data->action = g_strdup (action);
  data->invocation = g_object_ref (invocation);
  g_task_set_task_data (task, data, (GDestroyNotify) check_data_free);

  /* The session bus is its user's own: whoever can reach us is the user. */
  if (authority->mode == VIREO_MODE_SESSION)
    {
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
      return;
    }

  if (authority->polkit == NULL || polkit_authority_get_owner (authority->polkit) == NULL)
    {
      /* Without polkitd nobody can vouch for a caller but root. */
      if (caller_uid (invocation) == 0)
        {
          remember_caller_uid (invocation, 0);
          g_task_return_boolean (task, TRUE);
        }
      else
        g_task_return_new_error (task, VIREO_ERROR, VIREO_ERROR_PERMISSION_DENIED,
                                 "polkit is not running, so only root may %s", action);
      g_object_unref (task);
      return;
    }

  if (g_dbus_message_get_flags (message) & G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION)
    flags |= POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION;
  subject = polkit_system_bus_name_new (g_dbus_method_invocation_get_sender (invocation));
  polkit_authority_check_authorization (authority->polkit, subject, action, NULL, flags, cancellable,
                                        on_polkit_checked, task);
}

gboolean
vireo_authority_check_finish (VireoAuthority *authority, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}
