/* manager.c — org.vireo.Vireo1.Manager: the set of machines, creating and importing them, host facts. */
#include "manager.h"
#include "machine.h"
#include "switches.h"
#include "vireo-error.h"
#include "vireo-text.h"
#include "hv-limits.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

struct _VireoManager
{
  VireoDaemon *daemon;
  VireoDBusManager *iface;
  GHashTable *machines; /* uuid → VireoMachine */
  VireoSwitches *switches;
  gboolean kvm_checked;
};

static gboolean
name_taken (const char *name, const char *except_uuid, gpointer data)
{
  VireoManager *manager = data;
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, manager->machines);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      VireoMachine *machine = value;
      if (g_strcmp0 (vireo_machine_get_uuid (machine), except_uuid) != 0
          && g_utf8_collate (vireo_machine_get_name (machine), name) == 0)
        return TRUE;
    }
  return FALSE;
}

/* The machines with a NIC on switch @name, for the refusal of its Delete. */
static char *
switch_users (const char *name, gpointer data)
{
  VireoManager *manager = data;
  GString *users = NULL;
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, manager->machines);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      const VireoMachineConfig *config = vireo_machine_get_config (value);

      for (guint i = 0; i < config->nics->len; i++)
        if (g_strcmp0 (((const VireoNicConfig *) g_ptr_array_index (config->nics, i))->switch_name, name)
            == 0)
          {
            if (users == NULL)
              users = g_string_new (NULL);
            else
              g_string_append (users, ", ");
            g_string_append_printf (users, "“%s”", config->name);
            break;
          }
    }
  return users != NULL ? g_string_free (users, FALSE) : NULL;
}

static void
on_machine_deleted (VireoMachine *machine, VireoManager *manager)
{
  g_autofree char *path = g_strdup (
      g_dbus_object_get_object_path (G_DBUS_OBJECT (vireo_machine_get_object (machine))));
  g_message ("deleted machine “%s”", vireo_machine_get_name (machine));
  g_dbus_object_manager_server_unexport (manager->daemon->object_manager, path);
  g_hash_table_remove (manager->machines, vireo_machine_get_uuid (machine));
}

static VireoMachine *
add_machine (VireoManager *manager, VireoMachineConfig *config)
{
  VireoMachine *machine = vireo_machine_new (manager->daemon, config);

  vireo_machine_set_name_check (machine, name_taken, manager);
  g_signal_connect (machine, "deleted", G_CALLBACK (on_machine_deleted), manager);
  g_hash_table_insert (manager->machines, g_strdup (vireo_machine_get_uuid (machine)), machine);
  g_dbus_object_manager_server_export (manager->daemon->object_manager, vireo_machine_get_object (machine));
  return machine;
}

/* Stores and exports a new definition, answering @invocation with its path. */
static void
define_machine (VireoManager *manager, GDBusMethodInvocation *invocation, VireoMachineConfig *config)
{
  g_autoptr (VireoMachineConfig) owned = config;
  g_autoptr (GError) error = NULL;
  VireoMachine *machine;

  if (!vireo_machine_config_validate (config, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  if (name_taken (config->name, NULL, manager))
    {
      g_dbus_method_invocation_return_error (invocation, VIREO_ERROR, VIREO_ERROR_EXISTS,
                                             "a machine called “%s” already exists", config->name);
      return;
    }
  if (g_hash_table_contains (manager->machines, config->uuid))
    {
      g_dbus_method_invocation_return_error (invocation, VIREO_ERROR, VIREO_ERROR_EXISTS,
                                             "a machine with UUID %s already exists", config->uuid);
      return;
    }
  if (!vireo_machine_store_save (manager->daemon->store, config, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  machine = add_machine (manager, g_steal_pointer (&owned));
  g_message ("created machine “%s” (%s)", vireo_machine_get_name (machine), vireo_machine_get_uuid (machine));
  g_dbus_method_invocation_return_value (
      invocation, g_variant_new ("(o)", g_dbus_object_get_object_path (
                                            G_DBUS_OBJECT (vireo_machine_get_object (machine)))));
}

void
vireo_manager_define_machine (VireoManager *manager, GDBusMethodInvocation *invocation,
                              VireoMachineConfig *config)
{
  define_machine (manager, invocation, config);
}

typedef struct
{
  VireoManager *manager;
  GDBusMethodInvocation *invocation;
} ManagerCall;

static void
on_create_authorized (GObject *source, GAsyncResult *result, gpointer data)
{
  ManagerCall *call = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) settings = NULL;
  g_autoptr (VireoMachineConfig) config = NULL;

  if (!vireo_authority_check_finish (call->manager->daemon->authority, result, &error))
    goto fail;
  g_variant_get (g_dbus_method_invocation_get_parameters (call->invocation), "(@a{sv})", &settings);
  config = vireo_machine_config_new ();
  config->files_uid = vireo_authority_caller_uid (call->invocation);
  if (!vireo_machine_config_apply_settings (config, settings, TRUE, &error))
    goto fail;
  define_machine (call->manager, call->invocation, g_steal_pointer (&config));
  goto out;

fail:
  g_dbus_method_invocation_return_gerror (call->invocation, error);
out:
  g_object_unref (call->invocation);
  g_free (call);
}

static gboolean
handle_create_machine (VireoDBusManager *iface, GDBusMethodInvocation *invocation, GVariant *settings,
                       VireoManager *manager)
{
  ManagerCall *call = g_new0 (ManagerCall, 1);
  call->manager = manager;
  call->invocation = g_object_ref (invocation);
  vireo_authority_check_async (manager->daemon->authority, invocation, VIREO_ACTION_CREATE, NULL,
                               on_create_authorized, call);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

typedef struct
{
  char *xml;
  char *name;
  gboolean keep_uuid;
  gint64 files_uid;
} ImportRequest;

static void
import_request_free (ImportRequest *request)
{
  g_free (request->xml);
  g_free (request->name);
  g_free (request);
}

/* In a worker thread: parsing a caller's XML may take a while (it is bounded, but large), and nothing
 * a caller sends may hold up the main loop. */
static void
import_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  ImportRequest *request = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (VireoMachineConfig) config = vireo_machine_config_new_from_xml (request->xml, &error);

  if (config == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  /* Whatever the XML says, its files are the importing caller's to name: checked with their rights. */
  config->files_uid = request->files_uid;
  if (!vireo_machine_config_check_imported_files (config, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (request->name)
    {
      g_autoptr (GVariantBuilder) builder = g_variant_builder_new (G_VARIANT_TYPE_VARDICT);
      g_autoptr (GVariant) settings = NULL;
      g_variant_builder_add (builder, "{sv}", "name", g_variant_new_string (request->name));
      settings = g_variant_ref_sink (g_variant_builder_end (builder));
      if (!vireo_machine_config_apply_settings (config, settings, FALSE, &error))
        {
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }
    }
  if (!request->keep_uuid)
    {
      g_autoptr (VireoMachineConfig) fresh = vireo_machine_config_new ();
      g_free (config->uuid);
      config->uuid = g_strdup (fresh->uuid);
    }
  g_task_return_pointer (task, g_steal_pointer (&config), (GDestroyNotify) vireo_machine_config_free);
}

static void
on_import_parsed (GObject *source, GAsyncResult *result, gpointer data)
{
  ManagerCall *call = data;
  g_autoptr (GError) error = NULL;
  VireoMachineConfig *config = g_task_propagate_pointer (G_TASK (result), &error);

  if (config == NULL)
    g_dbus_method_invocation_return_gerror (call->invocation, error);
  else
    define_machine (call->manager, call->invocation, config);
  g_object_unref (call->invocation);
  g_free (call);
}

static void
on_import_authorized (GObject *source, GAsyncResult *result, gpointer data)
{
  ManagerCall *call = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) options = NULL;
  g_autoptr (GTask) task = NULL;
  ImportRequest *request = g_new0 (ImportRequest, 1);
  const char *xml;

  request->keep_uuid = TRUE;
  if (!vireo_authority_check_finish (call->manager->daemon->authority, result, &error))
    goto fail;
  g_variant_get (g_dbus_method_invocation_get_parameters (call->invocation), "(&s@a{sv})", &xml, &options);
  {
    GVariantIter iter;
    const char *key;
    GVariant *value;
    g_variant_iter_init (&iter, options);
    while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
      {
        g_autoptr (GVariant) owned = value;
        if (g_str_equal (key, "name") && g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
          {
            g_free (request->name);
            request->name = g_strdup (g_variant_get_string (value, NULL));
          }
        else if (g_str_equal (key, "keep-uuid") && g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
          request->keep_uuid = g_variant_get_boolean (value);
        else
          {
            g_autofree char *shown = vireo_text_for_message (key, 64);
            g_set_error (&error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                         "unknown import option “%s” of type %s (known: name s, keep-uuid b)", shown,
                         g_variant_get_type_string (value));
            goto fail;
          }
      }
  }
  request->xml = g_strdup (xml);
  request->files_uid = vireo_authority_caller_uid (call->invocation);
  task = g_task_new (NULL, NULL, on_import_parsed, call);
  g_task_set_task_data (task, request, (GDestroyNotify) import_request_free);
  g_task_run_in_thread (task, import_thread);
  return;

fail:
  import_request_free (request);
  g_dbus_method_invocation_return_gerror (call->invocation, error);
  g_object_unref (call->invocation);
  g_free (call);
}

static gboolean
handle_import (VireoDBusManager *iface, GDBusMethodInvocation *invocation, const char *xml, GVariant *options,
               VireoManager *manager)
{
  ManagerCall *call = g_new0 (ManagerCall, 1);
  call->manager = manager;
  call->invocation = g_object_ref (invocation);
  vireo_authority_check_async (manager->daemon->authority, invocation, VIREO_ACTION_CREATE, NULL,
                               on_import_authorized, call);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* GLib 2.74 refuses to export an object at the object manager's own path, so the Manager interface is
 * exported on the connection directly, beside the ObjectManager, whenever vireod gets a connection. */
static void
on_connection_changed (GObject *object, GParamSpec *pspec, gpointer data)
{
  VireoManager *manager = data;
  GDBusInterfaceSkeleton *skeleton = G_DBUS_INTERFACE_SKELETON (manager->iface);
  g_autoptr (GDBusConnection) connection = g_dbus_object_manager_server_get_connection (
      G_DBUS_OBJECT_MANAGER_SERVER (object));
  g_autoptr (GError) error = NULL;

  if (connection && g_dbus_interface_skeleton_has_connection (skeleton, connection))
    return;
  if (g_dbus_interface_skeleton_get_connection (skeleton) != NULL)
    g_dbus_interface_skeleton_unexport (skeleton);
  if (connection && !g_dbus_interface_skeleton_export (skeleton, connection, "/org/vireo/Vireo1", &error))
    g_warning ("cannot export org.vireo.Vireo1.Manager: %s", error->message);
}

static void
set_kvm_status (VireoManager *manager, const char *problem)
{
  vireo_dbus_manager_set_kvm_available (manager->iface, problem == NULL);
  vireo_dbus_manager_set_kvm_status (manager->iface, problem ? problem : "");
  if (problem)
    g_warning ("machines cannot run: %s", problem);
  manager->kvm_checked = TRUE;
}

static void
on_kvm_checked (GObject *source, GAsyncResult *result, gpointer data)
{
  VireoManager *manager = data;
  GSubprocess *check = G_SUBPROCESS (source);
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;

  if (!g_subprocess_communicate_utf8_finish (check, result, &out, NULL, &error))
    set_kvm_status (manager, error->message);
  else if (g_subprocess_get_if_exited (check) && g_subprocess_get_exit_status (check) == 0)
    set_kvm_status (manager, NULL);
  else if (out && *g_strstrip (out))
    set_kvm_status (manager, out);
  else
    set_kvm_status (manager, "the KVM check (vireo-worker --check-kvm) failed; see the service's log");
}

/* Whether this host can run machines, and a sentence saying how to fix it when not.  A vireo-worker
 * answers (--check-kvm): vireod itself holds no KVM code. */
static void
check_kvm (VireoManager *manager)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocess) check = NULL;

  vireo_dbus_manager_set_kvm_status (manager->iface, "KVM has not been checked yet");
  check = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDIN_INHERIT, &error,
                            manager->daemon->worker_path, "--check-kvm", manager->daemon->kvm_path, NULL);
  if (check == NULL)
    {
      g_autofree char *problem = g_strdup_printf ("cannot run %s to check KVM: %s",
                                                  manager->daemon->worker_path, error->message);
      set_kvm_status (manager, problem);
      return;
    }
  g_subprocess_communicate_utf8_async (check, NULL, NULL, on_kvm_checked, manager);
}

gboolean
vireo_manager_is_ready (VireoManager *manager)
{
  return manager->kvm_checked;
}

VireoManager *
vireo_manager_new (VireoDaemon *daemon)
{
  VireoManager *manager = g_new0 (VireoManager, 1);
  g_autoptr (GPtrArray) configs = NULL;
  g_autoptr (GPtrArray) problems = NULL;

  manager->daemon = daemon;
  daemon->manager = manager;
  manager->machines = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  manager->iface = vireo_dbus_manager_skeleton_new ();

  vireo_dbus_manager_set_version (manager->iface, VIREO_VERSION);
  vireo_dbus_manager_set_mode (manager->iface, daemon->mode == VIREO_MODE_SYSTEM ? "system" : "session");
  vireo_dbus_manager_set_host_cpus (manager->iface, g_get_num_processors ());
  vireo_dbus_manager_set_host_memory_mib (manager->iface, hv_host_memory_limit () >> 20);
  vireo_dbus_manager_set_storage_location (manager->iface, vireo_machine_store_get_root (daemon->store));
  check_kvm (manager);
  /* Before the machines: their NICs name switches. */
  manager->switches = vireo_switches_new (daemon, manager->iface, switch_users, manager);

  g_signal_connect (manager->iface, "handle-create-machine", G_CALLBACK (handle_create_machine), manager);
  g_signal_connect (manager->iface, "handle-import-libvirt-xml", G_CALLBACK (handle_import), manager);
  g_signal_connect (daemon->object_manager, "notify::connection", G_CALLBACK (on_connection_changed),
                    manager);

  configs = vireo_machine_store_load_all (daemon->store, &problems);
  for (guint i = 0; problems && i < problems->len; i++)
    g_warning ("%s", (const char *) g_ptr_array_index (problems, i));
  for (guint i = 0; i < configs->len; i++)
    {
      VireoMachineConfig *config = vireo_machine_config_copy (g_ptr_array_index (configs, i));
      if (g_hash_table_contains (manager->machines, config->uuid))
        {
          vireo_machine_config_free (config);
          continue;
        }
      {
        VireoMachine *machine = add_machine (manager, config);
        vireo_machine_reattach (machine);
        vireo_machine_checkpoints_recover (machine);
      }
    }
  g_message ("%u machines in %s", g_hash_table_size (manager->machines),
             vireo_machine_store_get_root (daemon->store));
  return manager;
}

void
vireo_manager_autostart (VireoManager *manager)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, manager->machines);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      VireoMachine *machine = value;
      VireoDBusMachine *iface = vireo_dbus_object_get_machine (
          VIREO_DBUS_OBJECT (vireo_machine_get_object (machine)));
      g_autoptr (GVariant) settings = vireo_dbus_machine_dup_settings (iface);
      const char *auto_start = NULL;

      g_variant_lookup (settings, "auto-start", "&s", &auto_start);
      /* Machines still running in their workers were re-attached and are not "off". */
      if (g_strcmp0 (vireo_machine_get_state (machine), "off") != 0
          && g_strcmp0 (vireo_machine_get_state (machine), "saved") != 0)
        {
          g_object_unref (iface);
          continue;
        }
      if (g_strcmp0 (auto_start, "always") == 0
          || (g_strcmp0 (auto_start, "if-running") == 0 && vireo_machine_was_running (machine)))
        {
          g_message ("%s: starting automatically (auto-start: %s)", vireo_machine_get_name (machine),
                     auto_start);
          vireo_machine_start_unattended (machine);
        }
      g_object_unref (iface);
    }
}

void
vireo_manager_free (VireoManager *manager)
{
  if (manager == NULL)
    return;
  g_signal_handlers_disconnect_by_data (manager->daemon->object_manager, manager);
  g_hash_table_unref (manager->machines);
  vireo_switches_free (manager->switches);
  if (g_dbus_interface_skeleton_get_connection (G_DBUS_INTERFACE_SKELETON (manager->iface)))
    g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (manager->iface));
  g_clear_object (&manager->iface);
  g_free (manager);
}
