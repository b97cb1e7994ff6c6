/* vireo-host.c — one Vireo service as the app sees it: follows org.vireo.Vireo1 on its bus as it comes and
 * goes, and keeps its Manager and a list model of its machines, fed by the object manager's signals. */
#include "vireo-host.h"

#include <glib/gi18n.h>

#define BUS_NAME  "org.vireo.Vireo1"
#define ROOT_PATH "/org/vireo/Vireo1"

struct _VireoHost
{
  GObject parent_instance;

  VireoHostKind kind;
  GDBusConnection *bus;
  GCancellable *cancellable;
  guint watch;

  GDBusObjectManager *objects;
  VireoDBusManager *manager;
  GListStore *machines;
  char *status;
};

static void vireo_host_stream_source_init (VireoStreamSourceInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (VireoHost, vireo_host, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (VIREO_TYPE_STREAM_SOURCE,
                                                      vireo_host_stream_source_init))

enum
{
  PROP_0,
  PROP_KIND,
  PROP_BUS,
  PROP_TITLE,
  PROP_AVAILABLE,
  PROP_STATUS,
  PROP_MANAGER,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

static void
set_status (VireoHost *self, const char *status)
{
  if (g_strcmp0 (self->status, status) == 0)
    return;
  g_free (self->status);
  self->status = g_strdup (status);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_STATUS]);
}

static const char *
not_running_status (VireoHost *self)
{
  if (self->kind == VIREO_HOST_SESSION)
    return _ ("The Vireo service for your private machines is not running. Start it with "
              "“systemctl --user start vireod” or run “vireod --session”.");
  return _ ("The Vireo system service is not running. Start it with “sudo systemctl start vireod”.");
}

static void
update_kvm_status (VireoHost *self)
{
  if (self->manager && !vireo_dbus_manager_get_kvm_available (self->manager))
    {
      const char *why = vireo_dbus_manager_get_kvm_status (self->manager);
      g_autofree char *status = g_strdup_printf (_ ("Machines cannot run on this computer: %s"),
                                                 why && *why ? why : _ ("KVM is not available."));
      set_status (self, status);
    }
  else if (self->manager)
    set_status (self, "");
}

static void
on_kvm_changed (VireoHost *self)
{
  update_kvm_status (self);
}

static int
find_machine_index (VireoHost *self, const char *object_path)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->machines));

  for (guint i = 0; i < n; i++)
    {
      g_autoptr (VireoDBusMachine) machine = g_list_model_get_item (G_LIST_MODEL (self->machines), i);
      if (g_strcmp0 (g_dbus_proxy_get_object_path (G_DBUS_PROXY (machine)), object_path) == 0)
        return (int) i;
    }
  return -1;
}

static void
add_object (VireoHost *self, GDBusObject *object)
{
  g_autoptr (VireoDBusMachine) machine = vireo_dbus_object_get_machine (VIREO_DBUS_OBJECT (object));

  if (!machine || find_machine_index (self, g_dbus_object_get_object_path (object)) >= 0)
    return;
  /* Long calls (Shutdown waits for the guest) must not be cut short by the 25 s default. */
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (machine), G_MAXINT);
  g_list_store_append (self->machines, machine);
}

static void
on_object_added (GDBusObjectManager *objects, GDBusObject *object, gpointer data)
{
  add_object (data, object);
}

static void
on_object_removed (GDBusObjectManager *objects, GDBusObject *object, gpointer data)
{
  VireoHost *self = data;
  int index = find_machine_index (self, g_dbus_object_get_object_path (object));

  if (index >= 0)
    g_list_store_remove (self->machines, index);
}

static void
on_interface_added (GDBusObjectManager *objects, GDBusObject *object, GDBusInterface *iface, gpointer data)
{
  add_object (data, object);
}

static void
clear_service (VireoHost *self)
{
  gboolean was_available = self->manager != NULL;

  if (self->objects)
    g_signal_handlers_disconnect_by_data (self->objects, self);
  if (self->manager)
    g_signal_handlers_disconnect_by_data (self->manager, self);
  g_clear_object (&self->objects);
  g_clear_object (&self->manager);
  g_list_store_remove_all (self->machines);
  if (was_available)
    {
      g_object_notify_by_pspec (G_OBJECT (self), props[PROP_MANAGER]);
      g_object_notify_by_pspec (G_OBJECT (self), props[PROP_AVAILABLE]);
    }
}

static void
on_manager_ready (GObject *source, GAsyncResult *result, gpointer data)
{
  VireoHost *self = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (VireoDBusManager) manager = vireo_dbus_manager_proxy_new_finish (result, &error);
  g_autolist (GDBusObject) objects = NULL;

  if (!manager)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_autofree char *status = g_strdup_printf (_ ("The Vireo service could not be reached: %s"),
                                                     error->message);
          set_status (self, status);
        }
      return;
    }
  /* Without a cached Version the service went away between our calls. */
  if (!self->objects || !vireo_dbus_manager_get_version (manager))
    return;

  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (manager), G_MAXINT);
  self->manager = g_steal_pointer (&manager);
  g_signal_connect_swapped (self->manager, "notify::kvm-available", G_CALLBACK (on_kvm_changed), self);
  g_signal_connect_swapped (self->manager, "notify::kvm-status", G_CALLBACK (on_kvm_changed), self);

  objects = g_dbus_object_manager_get_objects (self->objects);
  for (GList *l = objects; l; l = l->next)
    add_object (self, l->data);
  g_signal_connect (self->objects, "object-added", G_CALLBACK (on_object_added), self);
  g_signal_connect (self->objects, "object-removed", G_CALLBACK (on_object_removed), self);
  g_signal_connect (self->objects, "interface-added", G_CALLBACK (on_interface_added), self);

  update_kvm_status (self);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_MANAGER]);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_AVAILABLE]);
}

static void
on_objects_ready (GObject *source, GAsyncResult *result, gpointer data)
{
  VireoHost *self = data;
  g_autoptr (GError) error = NULL;
  GDBusObjectManager *objects = vireo_dbus_object_manager_client_new_finish (result, &error);

  if (!objects)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_autofree char *status = g_strdup_printf (_ ("The Vireo service could not be reached: %s"),
                                                     error->message);
          set_status (self, status);
        }
      return;
    }
  self->objects = objects;
  /* The manager interface sits on the root object itself, which an object manager does not list. */
  vireo_dbus_manager_proxy_new (self->bus, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START, BUS_NAME, ROOT_PATH,
                                self->cancellable, on_manager_ready, self);
}

static void
on_name_appeared (GDBusConnection *bus, const char *name, const char *owner, gpointer data)
{
  VireoHost *self = data;

  clear_service (self);
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  vireo_dbus_object_manager_client_new (bus, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START, BUS_NAME,
                                        ROOT_PATH, self->cancellable, on_objects_ready, self);
}

static void
on_name_vanished (GDBusConnection *bus, const char *name, gpointer data)
{
  VireoHost *self = data;

  g_cancellable_cancel (self->cancellable);
  clear_service (self);
  if (!bus)
    set_status (self, self->kind == VIREO_HOST_SESSION
                          ? _ ("There is no session bus, so your private machines cannot be listed.")
                          : _ ("The system bus is not available, so system machines cannot be listed."));
  else
    set_status (self, not_running_status (self));
}

static void
watch_bus (VireoHost *self)
{
  self->watch = g_bus_watch_name_on_connection (self->bus, BUS_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                                on_name_appeared, on_name_vanished, self, NULL);
}

static void
on_bus_ready (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (VireoHost) self = data;
  g_autoptr (GError) error = NULL;

  self->bus = g_bus_get_finish (result, &error);
  if (!self->bus)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        on_name_vanished (NULL, BUS_NAME, self);
      return;
    }
  watch_bus (self);
}

static void
vireo_host_constructed (GObject *object)
{
  VireoHost *self = VIREO_HOST (object);

  G_OBJECT_CLASS (vireo_host_parent_class)->constructed (object);

  self->cancellable = g_cancellable_new ();
  if (self->bus)
    watch_bus (self);
  else
    g_bus_get (self->kind == VIREO_HOST_SESSION ? G_BUS_TYPE_SESSION : G_BUS_TYPE_SYSTEM, self->cancellable,
               on_bus_ready, g_object_ref (self));
}

static void
vireo_host_dispose (GObject *object)
{
  VireoHost *self = VIREO_HOST (object);

  g_cancellable_cancel (self->cancellable);
  if (self->watch)
    g_bus_unwatch_name (self->watch);
  self->watch = 0;
  clear_service (self);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->bus);

  G_OBJECT_CLASS (vireo_host_parent_class)->dispose (object);
}

static void
vireo_host_finalize (GObject *object)
{
  VireoHost *self = VIREO_HOST (object);

  g_clear_object (&self->machines);
  g_free (self->status);

  G_OBJECT_CLASS (vireo_host_parent_class)->finalize (object);
}

static void
vireo_host_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  VireoHost *self = VIREO_HOST (object);

  switch (prop_id)
    {
    case PROP_KIND:
      g_value_set_int (value, self->kind);
      break;
    case PROP_BUS:
      g_value_set_object (value, self->bus);
      break;
    case PROP_TITLE:
      g_value_set_string (value, vireo_host_get_title (self));
      break;
    case PROP_AVAILABLE:
      g_value_set_boolean (value, vireo_host_get_available (self));
      break;
    case PROP_STATUS:
      g_value_set_string (value, vireo_host_get_status (self));
      break;
    case PROP_MANAGER:
      g_value_set_object (value, self->manager);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vireo_host_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  VireoHost *self = VIREO_HOST (object);

  switch (prop_id)
    {
    case PROP_KIND:
      self->kind = g_value_get_int (value);
      break;
    case PROP_BUS:
      self->bus = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vireo_host_class_init (VireoHostClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = vireo_host_constructed;
  object_class->dispose = vireo_host_dispose;
  object_class->finalize = vireo_host_finalize;
  object_class->get_property = vireo_host_get_property;
  object_class->set_property = vireo_host_set_property;

  props[PROP_KIND] = g_param_spec_int ("kind", NULL, NULL, VIREO_HOST_SESSION, VIREO_HOST_SYSTEM,
                                       VIREO_HOST_SESSION,
                                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  props[PROP_BUS] = g_param_spec_object ("bus", NULL, NULL, G_TYPE_DBUS_CONNECTION,
                                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  props[PROP_TITLE] = g_param_spec_string ("title", NULL, NULL, NULL,
                                           G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  props[PROP_AVAILABLE] = g_param_spec_boolean ("available", NULL, NULL, FALSE,
                                                G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  props[PROP_STATUS] = g_param_spec_string ("status", NULL, NULL, NULL,
                                            G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  props[PROP_MANAGER] = g_param_spec_object ("manager", NULL, NULL, VIREO_DBUS_TYPE_MANAGER,
                                             G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
vireo_host_init (VireoHost *self)
{
  self->machines = g_list_store_new (VIREO_DBUS_TYPE_MACHINE);
  self->status = g_strdup (_ ("Looking for the Vireo service…"));
}

VireoHost *
vireo_host_new (VireoHostKind kind, GDBusConnection *bus)
{
  return g_object_new (VIREO_TYPE_HOST, "kind", kind, "bus", bus, NULL);
}

VireoHostKind
vireo_host_get_kind (VireoHost *self)
{
  g_return_val_if_fail (VIREO_IS_HOST (self), VIREO_HOST_SESSION);
  return self->kind;
}

const char *
vireo_host_get_title (VireoHost *self)
{
  g_return_val_if_fail (VIREO_IS_HOST (self), NULL);
  return self->kind == VIREO_HOST_SESSION ? _ ("My Machines") : _ ("System Machines");
}

gboolean
vireo_host_get_available (VireoHost *self)
{
  g_return_val_if_fail (VIREO_IS_HOST (self), FALSE);
  return self->manager != NULL;
}

const char *
vireo_host_get_status (VireoHost *self)
{
  g_return_val_if_fail (VIREO_IS_HOST (self), NULL);
  return self->status ? self->status : "";
}

VireoDBusManager *
vireo_host_get_manager (VireoHost *self)
{
  g_return_val_if_fail (VIREO_IS_HOST (self), NULL);
  return self->manager;
}

GListModel *
vireo_host_get_machines (VireoHost *self)
{
  g_return_val_if_fail (VIREO_IS_HOST (self), NULL);
  return G_LIST_MODEL (self->machines);
}

VireoDBusMachine *
vireo_host_find_machine (VireoHost *self, const char *object_path)
{
  int index;

  g_return_val_if_fail (VIREO_IS_HOST (self), NULL);
  index = find_machine_index (self, object_path);
  if (index < 0)
    return NULL;
  /* The store holds a reference for as long as the machine is listed. */
  {
    g_autoptr (VireoDBusMachine) machine = g_list_model_get_item (G_LIST_MODEL (self->machines), index);
    return machine;
  }
}

GDBusObjectManager *
vireo_host_get_objects (VireoHost *self)
{
  g_return_val_if_fail (VIREO_IS_HOST (self), NULL);

  /* Only once the Manager is there: before, the objects may be of a service that is going away. */
  return self->manager ? self->objects : NULL;
}

/* ---- streams ---- */

static void
on_local_stream (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GTask) task = data;
  g_autoptr (GError) error = NULL;
  int fd = vireo_stream_open_local_finish (result, &error);

  if (fd < 0)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_int (task, fd);
}

void
vireo_host_open_stream (VireoHost *host, VireoDBusMachine *machine, VireoStreamKind kind,
                        GCancellable *cancellable, GAsyncReadyCallback callback, gpointer data)
{
  GTask *task;

  g_return_if_fail (VIREO_IS_HOST (host));
  g_return_if_fail (VIREO_DBUS_IS_MACHINE (machine));

  task = g_task_new (host, cancellable, callback, data);
  g_task_set_source_tag (task, vireo_host_open_stream);
  g_task_set_check_cancellable (task, FALSE);

  /* REMOTE HOSTS — wired in with the ssh transport (console/vireo-ssh.h).  A remote host's service cannot
   * pass fds over ssh, so the stream is ssh running vireo-tunnel there, relaying the service's socket over
   * its stdin/stdout:
   *
   *   if (host->kind == VIREO_HOST_REMOTE)
   *     {
   *       g_auto (GStrv) argv = vireo_stream_tunnel_argv (g_dbus_proxy_get_object_path (G_DBUS_PROXY (machine)),
   *                                                      kind, <the URI ends in /session>);
   *       g_autoptr (GError) error = NULL;
   *       int fd = -1;
   *       g_autoptr (GSubprocess) ssh = vireo_ssh_spawn (host->uri, (const char *const *) argv, &fd, &error);
   *
   *       if (ssh == NULL)
   *         g_task_return_error (task, g_steal_pointer (&error));
   *       else
   *         {
   *           // ssh ends when we close fd (or the stream ends): reap it then, keeping its stderr, whose
   *           // last line is vireo-tunnel's reason when the stream failed ("vireo-tunnel: machine “x”: …").
   *           g_subprocess_wait_async (ssh, NULL, <reap>, NULL);
   *           g_task_return_int (task, fd);
   *         }
   *       g_object_unref (task);
   *       return;
   *     }
   *
   * Local hosts: the fd the service returns. */
  vireo_stream_open_local (machine, kind, cancellable, on_local_stream, task);
}

int
vireo_host_open_stream_finish (VireoHost *host, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, host), -1);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == vireo_host_open_stream, -1);

  return (int) g_task_propagate_int (G_TASK (result), error);
}

static void
stream_source_open (VireoStreamSource *source, VireoDBusMachine *machine, VireoStreamKind kind,
                    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer data)
{
  vireo_host_open_stream (VIREO_HOST (source), machine, kind, cancellable, callback, data);
}

static int
stream_source_open_finish (VireoStreamSource *source, GAsyncResult *result, GError **error)
{
  return vireo_host_open_stream_finish (VIREO_HOST (source), result, error);
}

static void
vireo_host_stream_source_init (VireoStreamSourceInterface *iface)
{
  iface->open_stream = stream_source_open;
  iface->open_stream_finish = stream_source_open_finish;
}
