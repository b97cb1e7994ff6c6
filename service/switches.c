/* switches.c — virtual switches (switches.h): the Switch objects, CreateSwitch and Delete, their file,
 * and the bridges of private switches. */
#include "switches.h"
#include "switch-registry.h"
#include "host-net.h"
#include "machine-config.h"
#include "vireo-error.h"
#include "vireo-text.h"

#include <string.h>

#define SWITCHES_FILE     "switches.ini"
#define SWITCH_NAME_CHARS 64
/* Private bridges are "vireo-br<n>"; a few hundred is more than anyone makes. */
#define PRIVATE_BRIDGES_MAX 1000

typedef struct
{
  VireoSwitches *owner;
  char *name;
  char *kind; /* "nat", "external", "private" */
  char *bridge;
  gboolean builtin;
  VireoDBusObjectSkeleton *object;
  VireoDBusSwitch *iface;
} Switch;

struct _VireoSwitches
{
  VireoDaemon *daemon;
  VireoDBusManager *manager_iface;
  GPtrArray *switches; /* Switch, the Default Switch first */
  guint next_index;    /* of the next object path */
  char *path;          /* the file, or NULL in session mode */
  VireoSwitchUsersFunc users;
  gpointer users_data;
};

static gboolean handle_delete (VireoDBusSwitch *iface, GDBusMethodInvocation *invocation, Switch *sw);

static void
switch_free (gpointer data)
{
  Switch *sw = data;

  if (sw->object != NULL)
    {
      const char *path = g_dbus_object_get_object_path (G_DBUS_OBJECT (sw->object));
      g_dbus_object_manager_server_unexport (sw->owner->daemon->object_manager, path);
    }
  if (sw->iface != NULL)
    g_signal_handlers_disconnect_by_data (sw->iface, sw);
  g_clear_object (&sw->object);
  g_clear_object (&sw->iface);
  g_free (sw->name);
  g_free (sw->kind);
  g_free (sw->bridge);
  g_free (sw);
}

/* Adds a switch to the table, the registry and the bus. */
static Switch *
add_switch (VireoSwitches *switches, const char *name, const char *kind, const char *bridge, gboolean builtin)
{
  Switch *sw = g_new0 (Switch, 1);
  g_autofree char *path = g_strdup_printf ("/org/vireo/Vireo1/switches/%u", switches->next_index++);

  sw->owner = switches;
  sw->name = g_strdup (name);
  sw->kind = g_strdup (kind);
  sw->bridge = g_strdup (bridge);
  sw->builtin = builtin;
  sw->iface = vireo_dbus_switch_skeleton_new ();
  vireo_dbus_switch_set_name (sw->iface, name);
  vireo_dbus_switch_set_kind (sw->iface, kind);
  vireo_dbus_switch_set_bridge (sw->iface, bridge);
  vireo_dbus_switch_set_builtin (sw->iface, builtin);
  g_signal_connect (sw->iface, "handle-delete", G_CALLBACK (handle_delete), sw);
  sw->object = vireo_dbus_object_skeleton_new (path);
  vireo_dbus_object_skeleton_set_switch (sw->object, sw->iface);
  g_ptr_array_add (switches->switches, sw);
  if (!builtin)
    vireo_switch_registry_add (name, kind, bridge);
  g_dbus_object_manager_server_export (switches->daemon->object_manager, G_DBUS_OBJECT_SKELETON (sw->object));
  return sw;
}

static Switch *
find_switch (VireoSwitches *switches, const char *name)
{
  for (guint i = 0; i < switches->switches->len; i++)
    {
      Switch *sw = g_ptr_array_index (switches->switches, i);
      if (g_utf8_collate (sw->name, name) == 0)
        return sw;
    }
  return NULL;
}

static Switch *
find_bridge (VireoSwitches *switches, const char *bridge)
{
  for (guint i = 0; i < switches->switches->len; i++)
    {
      Switch *sw = g_ptr_array_index (switches->switches, i);
      if (*sw->bridge != '\0' && strcmp (sw->bridge, bridge) == 0)
        return sw;
    }
  return NULL;
}

/* ---- the file ---- */

/* Writes every switch but the Default Switch, atomically (a temporary file renamed over the old). */
static gboolean
save (VireoSwitches *switches, GError **error)
{
  g_autoptr (GKeyFile) file = g_key_file_new ();
  g_autofree char *data = NULL;
  gsize length;
  guint n = 0;

  for (guint i = 0; i < switches->switches->len; i++)
    {
      Switch *sw = g_ptr_array_index (switches->switches, i);
      g_autofree char *group = NULL;

      if (sw->builtin)
        continue;
      group = g_strdup_printf ("Switch %u", ++n);
      g_key_file_set_string (file, group, "Name", sw->name);
      g_key_file_set_string (file, group, "Kind", sw->kind);
      g_key_file_set_string (file, group, "Bridge", sw->bridge);
    }
  data = g_key_file_to_data (file, &length, NULL);
  if (!g_file_set_contents_full (switches->path, data, (gssize) length, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                                 error))
    {
      g_prefix_error (error, "cannot store the virtual switches: ");
      return FALSE;
    }
  return TRUE;
}

static void
load (VireoSwitches *switches)
{
  g_autoptr (GKeyFile) file = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) groups = NULL;

  if (!g_key_file_load_from_file (file, switches->path, G_KEY_FILE_NONE, &error))
    {
      if (!g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        g_warning ("cannot read %s: %s", switches->path, error->message);
      return;
    }
  groups = g_key_file_get_groups (file, NULL);
  for (guint i = 0; groups[i] != NULL; i++)
    {
      g_autofree char *name = g_key_file_get_string (file, groups[i], "Name", NULL);
      g_autofree char *kind = g_key_file_get_string (file, groups[i], "Kind", NULL);
      g_autofree char *bridge = g_key_file_get_string (file, groups[i], "Bridge", NULL);
      g_autoptr (GError) local = NULL;

      if (name == NULL || kind == NULL || bridge == NULL
          || (strcmp (kind, "external") != 0 && strcmp (kind, "private") != 0)
          || !vireo_host_net_check_name (bridge, NULL) || find_switch (switches, name) != NULL
          || find_bridge (switches, bridge) != NULL)
        {
          g_warning ("%s: [%s] is not a switch this service can use; ignored", switches->path, groups[i]);
          continue;
        }
      /* A private switch's bridge is ours: made again after a reboot.  An external one is the host's;
       * while it is missing, machines on it do not start (and say why). */
      if (strcmp (kind, "private") == 0 && !vireo_host_net_add_bridge (bridge, &local))
        g_warning ("virtual switch “%s”: %s", name, local->message);
      else if (strcmp (kind, "external") == 0 && !vireo_host_net_is_bridge (bridge))
        g_warning ("virtual switch “%s”: the bridge %s is not there (yet)", name, bridge);
      add_switch (switches, name, kind, bridge, FALSE);
    }
}

/* ---- CreateSwitch ---- */

typedef struct
{
  VireoSwitches *switches;
  GDBusMethodInvocation *invocation;
  char *path; /* Delete: the switch's object path (it may go while polkit is asked) */
} SwitchCall;

static void
switch_call_free (SwitchCall *call)
{
  g_clear_object (&call->invocation);
  g_free (call->path);
  g_free (call);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SwitchCall, switch_call_free)

static gboolean
check_switch_name (VireoSwitches *switches, const char *name, GError **error)
{
  g_autofree char *trimmed = g_utf8_validate (name, -1, NULL) ? vireo_utf8_strip (name) : NULL;
  gboolean control = FALSE;

  for (const char *p = trimmed; p != NULL && *p != '\0'; p = g_utf8_next_char (p))
    control |= g_unichar_iscntrl (g_utf8_get_char (p));
  if (trimmed == NULL || *trimmed == '\0' || strcmp (trimmed, name) != 0 || control
      || g_utf8_strlen (name, -1) > SWITCH_NAME_CHARS)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "A switch's name is 1 to %d characters of text, without control characters or white "
                   "space around it.",
                   SWITCH_NAME_CHARS);
      return FALSE;
    }
  if (find_switch (switches, name) != NULL)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_EXISTS, "A virtual switch called “%s” already exists.",
                   name);
      return FALSE;
    }
  return TRUE;
}

/* The first "vireo-br<n>" that is neither an interface of the host nor a switch's. */
static char *
new_private_bridge_name (VireoSwitches *switches)
{
  for (guint n = 0; n < PRIVATE_BRIDGES_MAX; n++)
    {
      g_autofree char *name = g_strdup_printf ("vireo-br%u", n);
      if (!vireo_host_net_exists (name) && find_bridge (switches, name) == NULL)
        return g_steal_pointer (&name);
    }
  return NULL;
}

static void
on_create_authorized (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (SwitchCall) call = data;
  VireoSwitches *switches = call->switches;
  g_autoptr (GError) error = NULL;
  g_autofree char *made = NULL;
  const char *name, *kind, *bridge;
  Switch *sw;

  if (!vireo_authority_check_finish (switches->daemon->authority, result, &error))
    goto fail;
  g_variant_get (g_dbus_method_invocation_get_parameters (call->invocation), "(&s&s&s)", &name, &kind,
                 &bridge);
  if (!check_switch_name (switches, name, &error))
    goto fail;
  if (strcmp (kind, "external") == 0)
    {
      Switch *other;

      if (!vireo_host_net_check_name (bridge, &error))
        goto fail;
      if (!vireo_host_net_exists (bridge))
        {
          g_set_error (&error, VIREO_ERROR, VIREO_ERROR_NOT_FOUND, "There is no network interface “%s”.",
                       bridge);
          goto fail;
        }
      if (!vireo_host_net_is_bridge (bridge))
        {
          g_set_error (&error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                       "“%s” is not a Linux bridge; an external switch needs one (put the host's network "
                       "port into a bridge first).",
                       bridge);
          goto fail;
        }
      if ((other = find_bridge (switches, bridge)) != NULL)
        {
          g_set_error (&error, VIREO_ERROR, VIREO_ERROR_EXISTS, "The virtual switch “%s” is already on “%s”.",
                       other->name, bridge);
          goto fail;
        }
    }
  else if (strcmp (kind, "private") == 0)
    {
      if (*bridge != '\0')
        {
          g_set_error_literal (&error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                               "A private switch makes its own bridge: give “” as the bridge.");
          goto fail;
        }
      made = new_private_bridge_name (switches);
      if (made == NULL)
        {
          g_set_error_literal (&error, VIREO_ERROR, VIREO_ERROR_FAILED, "No free name for a new bridge.");
          goto fail;
        }
      if (!vireo_host_net_add_bridge (made, &error))
        goto fail;
      bridge = made;
    }
  else
    {
      g_autofree char *shown = vireo_text_for_message (kind, 32);
      g_set_error (&error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "A new switch is “external” or “private”, not “%s” (the Default Switch is the NAT one).",
                   shown);
      goto fail;
    }

  sw = add_switch (switches, name, kind, bridge, FALSE);
  if (!save (switches, &error))
    {
      vireo_switch_registry_remove (name);
      g_ptr_array_remove (switches->switches, sw);
      if (made != NULL)
        vireo_host_net_remove_bridge (made, NULL);
      goto fail;
    }
  g_message ("created virtual switch “%s” (%s, bridge %s)", name, kind, bridge);
  vireo_dbus_manager_complete_create_switch (switches->manager_iface, call->invocation,
                                             g_dbus_object_get_object_path (G_DBUS_OBJECT (sw->object)));
  return;

fail:
  g_dbus_method_invocation_return_gerror (call->invocation, error);
}

static gboolean
handle_create (VireoDBusManager *iface, GDBusMethodInvocation *invocation, const char *name, const char *kind,
               const char *bridge, VireoSwitches *switches)
{
  SwitchCall *call;

  if (switches->daemon->mode != VIREO_MODE_SYSTEM)
    {
      g_dbus_method_invocation_return_error_literal (
          invocation, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
          "Virtual switches other than NAT need the system service (vireod --system).");
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  call = g_new0 (SwitchCall, 1);
  call->switches = switches;
  call->invocation = g_object_ref (invocation);
  vireo_authority_check_async (switches->daemon->authority, invocation, VIREO_ACTION_MANAGE_SWITCHES, NULL,
                               on_create_authorized, call);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- Delete ---- */

static void
on_delete_authorized (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (SwitchCall) call = data;
  VireoSwitches *switches = call->switches;
  g_autoptr (GError) error = NULL;
  g_autofree char *users = NULL;
  g_autofree char *name = NULL;
  Switch *sw;

  if (!vireo_authority_check_finish (switches->daemon->authority, result, &error))
    goto fail;
  /* The switch may have gone while polkit was asked. */
  sw = NULL;
  for (guint i = 0; i < switches->switches->len; i++)
    {
      Switch *candidate = g_ptr_array_index (switches->switches, i);
      if (strcmp (g_dbus_object_get_object_path (G_DBUS_OBJECT (candidate->object)), call->path) == 0)
        sw = candidate;
    }
  if (sw == NULL)
    {
      g_set_error_literal (&error, VIREO_ERROR, VIREO_ERROR_NOT_FOUND, "The virtual switch is gone.");
      goto fail;
    }
  users = switches->users (sw->name, switches->users_data);
  if (users != NULL)
    {
      g_set_error (&error, VIREO_ERROR, VIREO_ERROR_INVALID_STATE,
                   "The virtual switch “%s” is in use by %s; move their NICs to another switch first.",
                   sw->name, users);
      goto fail;
    }
  if (strcmp (sw->kind, "private") == 0 && !vireo_host_net_remove_bridge (sw->bridge, &error))
    goto fail;
  name = g_strdup (sw->name);
  vireo_switch_registry_remove (sw->name);
  g_ptr_array_remove (switches->switches, sw);
  if (!save (switches, &error))
    g_warning ("%s", error->message);
  g_message ("deleted virtual switch “%s”", name);
  g_dbus_method_invocation_return_value (call->invocation, NULL);
  return;

fail:
  g_dbus_method_invocation_return_gerror (call->invocation, error);
}

static gboolean
handle_delete (VireoDBusSwitch *iface, GDBusMethodInvocation *invocation, Switch *sw)
{
  SwitchCall *call;

  if (sw->builtin)
    {
      g_dbus_method_invocation_return_error (invocation, VIREO_ERROR, VIREO_ERROR_INVALID_STATE,
                                             "The %s cannot be deleted.", sw->name);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  call = g_new0 (SwitchCall, 1);
  call->switches = sw->owner;
  call->invocation = g_object_ref (invocation);
  call->path = g_strdup (g_dbus_object_get_object_path (G_DBUS_OBJECT (sw->object)));
  vireo_authority_check_async (sw->owner->daemon->authority, invocation, VIREO_ACTION_MANAGE_SWITCHES, NULL,
                               on_delete_authorized, call);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

VireoSwitches *
vireo_switches_new (VireoDaemon *daemon, VireoDBusManager *manager_iface, VireoSwitchUsersFunc users,
                    gpointer users_data)
{
  VireoSwitches *switches = g_new0 (VireoSwitches, 1);

  switches->daemon = daemon;
  switches->manager_iface = manager_iface;
  switches->users = users;
  switches->users_data = users_data;
  switches->switches = g_ptr_array_new_with_free_func (switch_free);
  add_switch (switches, VIREO_DEFAULT_SWITCH, "nat", "", TRUE);
  if (daemon->mode == VIREO_MODE_SYSTEM)
    {
      switches->path = g_build_filename (vireo_machine_store_get_root (daemon->store), SWITCHES_FILE, NULL);
      load (switches);
    }
  g_signal_connect (manager_iface, "handle-create-switch", G_CALLBACK (handle_create), switches);
  return switches;
}

void
vireo_switches_free (VireoSwitches *switches)
{
  if (switches == NULL)
    return;
  g_signal_handlers_disconnect_by_data (switches->manager_iface, switches);
  /* The switches stay (and private bridges with them) for the next vireod; only the objects go. */
  for (guint i = 0; i < switches->switches->len; i++)
    vireo_switch_registry_remove (((Switch *) g_ptr_array_index (switches->switches, i))->name);
  g_ptr_array_unref (switches->switches);
  g_free (switches->path);
  g_free (switches);
}
