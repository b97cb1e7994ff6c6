/* vireo-host.c — one Vireo service as the app sees it: follows org.vireo.Vireo1 on its bus as it comes and
 * goes, and keeps its Manager and a list model of its machines, fed by the object manager's signals.  A
 * remote host's bus is a D-Bus connection through ssh (vireo-ssh.c), made again with back-off when lost. */
#include "vireo-host.h"

#include <glib/gi18n.h>
#include <signal.h>
#include <unistd.h>

#include "vireo-ssh.h"

#define BUS_NAME  "org.vireo.Vireo1"
#define ROOT_PATH "/org/vireo/Vireo1"
/* Seconds before the next attempt to reach a lost remote host: doubled each time, up to the maximum. */
#define RECONNECT_FIRST_SECONDS 1
#define RECONNECT_MAX_SECONDS   60

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

  /* Remote hosts only */
  char *uri;
  char *title;
  VireoHostState state;
  GSubprocess *ssh;   /* the ssh process under the bus, until it ended */
  GCancellable *link; /* the current attempt: its connection and ssh */
  char *lost_reason;  /* why the bus closed, when ssh does not say better */
  guint reconnect_source;
  guint reconnect_seconds;
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
  PROP_URI,
  PROP_STATE,
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
  if (self->kind == VIREO_HOST_REMOTE)
    return _ ("The Vireo service on this host is not running. Start it there with "
              "“sudo systemctl start vireod” (or, for /session addresses, “systemctl --user start vireod”).");
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

/* ---- remote hosts: the bus through ssh ---- */

static void connect_remote (VireoHost *self);

static void
set_state (VireoHost *self, VireoHostState state)
{
  if (self->state == state)
    return;
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_STATE]);
}

static gboolean
on_reconnect_due (gpointer data)
{
  VireoHost *self = data;

  self->reconnect_source = 0;
  connect_remote (self);
  return G_SOURCE_REMOVE;
}

/* The end of an attempt, whichever way it failed: the service goes from view and the status says why. */
static void
connection_lost (VireoHost *self, const char *reason)
{
  g_autofree char *status = NULL;

  if (self->watch)
    g_bus_unwatch_name (self->watch);
  self->watch = 0;
  g_cancellable_cancel (self->cancellable);
  /* Whatever of this attempt is still under way ends with it. */
  g_cancellable_cancel (self->link);
  clear_service (self);
  if (self->bus)
    {
      g_signal_handlers_disconnect_by_data (self->bus, self);
      g_dbus_connection_close (self->bus, NULL, NULL, NULL);
      g_clear_object (&self->bus);
    }
  g_clear_pointer (&self->lost_reason, g_free);
  status = g_strdup_printf (_ ("Connection lost: %s"), reason);
  set_status (self, status);
  set_state (self, VIREO_HOST_LOST);
  g_clear_handle_id (&self->reconnect_source, g_source_remove);
  self->reconnect_source = g_timeout_add_seconds (self->reconnect_seconds, on_reconnect_due, self);
  self->reconnect_seconds = MIN (self->reconnect_seconds * 2, RECONNECT_MAX_SECONDS);
}

static void
on_ssh_ended (GObject *source, GAsyncResult *result, gpointer data)
{
  VireoHost *self = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *fallback = NULL;

  if (!vireo_ssh_wait_finish (G_SUBPROCESS (source), result, &error)
      && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_clear_object (&self->ssh);
  fallback = g_steal_pointer (&self->lost_reason);
  /* What ssh said beats what the bus saw ("Permission denied" explains an end of stream), unless ssh only
   * ended because link_failed() ended it. */
  if (error && fallback && g_subprocess_get_if_signaled (G_SUBPROCESS (source))
      && g_subprocess_get_term_sig (G_SUBPROCESS (source)) == SIGTERM)
    g_clear_error (&error);
  connection_lost (self, error ? error->message : fallback ? fallback : _ ("the ssh connection ended"));
}

/* The bus failed or closed: ssh, if still there, is ended and says why it ended in on_ssh_ended(). */
static void
link_failed (VireoHost *self, const char *reason)
{
  if (!self->ssh)
    {
      connection_lost (self, reason);
      return;
    }
  if (!self->lost_reason)
    self->lost_reason = g_strdup (reason);
  g_subprocess_send_signal (self->ssh, SIGTERM);
}

static void
on_remote_bus_closed (GDBusConnection *bus, gboolean remote_peer_vanished, GError *error, gpointer data)
{
  link_failed (data, error ? error->message : _ ("the connection was closed"));
}

static void
on_remote_bus_ready (GObject *source, GAsyncResult *result, gpointer data)
{
  VireoHost *self = data;
  g_autoptr (GError) error = NULL;
  GDBusConnection *bus = g_dbus_connection_new_finish (result, &error);

  if (!bus)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        link_failed (self, error->message);
      return;
    }
  self->bus = bus;
  self->reconnect_seconds = RECONNECT_FIRST_SECONDS;
  g_signal_connect (bus, "closed", G_CALLBACK (on_remote_bus_closed), self);
  set_state (self, VIREO_HOST_CONNECTED);
  set_status (self, _ ("Looking for the Vireo service…"));
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  watch_bus (self);
}

static void
end_link (VireoHost *self)
{
  g_cancellable_cancel (self->link);
  g_clear_object (&self->link);
  if (self->ssh)
    g_subprocess_send_signal (self->ssh, SIGTERM);
  g_clear_object (&self->ssh);
  g_clear_pointer (&self->lost_reason, g_free);
}

static void
connect_remote (VireoHost *self)
{
  const char *bridge_system[] = { "systemd-stdio-bridge", NULL };
  /* systemd-stdio-bridge --user (systemd 252) still connects to the system bus: the session bus is named on
   * the remote side, where its address is known. */
  const char *bridge_session[] = {
    "sh", "-c",
    "exec systemd-stdio-bridge "
    "--bus-path=\"${DBUS_SESSION_BUS_ADDRESS:-unix:path=${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/bus}\"",
    NULL
  };
  VireoSshAddress address = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocket) socket = NULL;
  g_autoptr (GSocketConnection) stream = NULL;
  g_autofree char *guid = NULL;
  int fd = -1;

  end_link (self);
  g_clear_handle_id (&self->reconnect_source, g_source_remove);
  self->link = g_cancellable_new ();
  set_state (self, VIREO_HOST_CONNECTING);
  set_status (self, _ ("Connecting…"));

  if (vireo_ssh_parse_uri (self->uri, &address, &error))
    self->ssh = vireo_ssh_spawn (self->uri, address.session ? bridge_session : bridge_system, &fd, &error);
  vireo_ssh_address_clear (&address);
  if (self->ssh)
    socket = g_socket_new_from_fd (fd, &error);
  if (!socket)
    {
      if (fd >= 0)
        close (fd);
      link_failed (self, error->message);
      return;
    }
  vireo_ssh_wait_async (self->ssh, self->link, on_ssh_ended, self);
  stream = g_socket_connection_factory_create_connection (socket);
  /* GLib's GDBus has no unixexec: transport; the stream is ssh's, the bus the remote one behind
   * systemd-stdio-bridge. */
  g_dbus_connection_new (G_IO_STREAM (stream), NULL,
                         G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
                             | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                         NULL, self->link, on_remote_bus_ready, self);
}

static void
vireo_host_constructed (GObject *object)
{
  VireoHost *self = VIREO_HOST (object);

  G_OBJECT_CLASS (vireo_host_parent_class)->constructed (object);

  self->cancellable = g_cancellable_new ();
  if (self->kind == VIREO_HOST_REMOTE)
    {
      self->title = vireo_ssh_describe_uri (self->uri);
      self->reconnect_seconds = RECONNECT_FIRST_SECONDS;
      connect_remote (self);
    }
  else if (self->bus)
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
  g_clear_handle_id (&self->reconnect_source, g_source_remove);
  end_link (self);
  if (self->bus && self->kind == VIREO_HOST_REMOTE)
    {
      g_signal_handlers_disconnect_by_data (self->bus, self);
      g_dbus_connection_close (self->bus, NULL, NULL, NULL);
    }
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
  g_free (self->uri);
  g_free (self->title);

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
    case PROP_URI:
      g_value_set_string (value, self->uri);
      break;
    case PROP_STATE:
      g_value_set_int (value, self->state);
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
    case PROP_URI:
      self->uri = g_value_dup_string (value);
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

  props[PROP_KIND] = g_param_spec_int ("kind", NULL, NULL, VIREO_HOST_SESSION, VIREO_HOST_REMOTE,
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
  props[PROP_URI] = g_param_spec_string ("uri", NULL, NULL, NULL,
                                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  props[PROP_STATE] = g_param_spec_int ("state", NULL, NULL, VIREO_HOST_CONNECTING, VIREO_HOST_LOST,
                                        VIREO_HOST_CONNECTED, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
vireo_host_init (VireoHost *self)
{
  self->machines = g_list_store_new (VIREO_DBUS_TYPE_MACHINE);
  self->status = g_strdup (_ ("Looking for the Vireo service…"));
  self->state = VIREO_HOST_CONNECTED;
}

VireoHost *
vireo_host_new (VireoHostKind kind, GDBusConnection *bus)
{
  return g_object_new (VIREO_TYPE_HOST, "kind", kind, "bus", bus, NULL);
}

VireoHost *
vireo_host_new_remote (const char *uri)
{
  g_return_val_if_fail (uri != NULL, NULL);
  return g_object_new (VIREO_TYPE_HOST, "kind", VIREO_HOST_REMOTE, "uri", uri, NULL);
}

const char *
vireo_host_get_uri (VireoHost *self)
{
  g_return_val_if_fail (VIREO_IS_HOST (self), NULL);
  return self->uri;
}

VireoHostState
vireo_host_get_state (VireoHost *self)
{
  g_return_val_if_fail (VIREO_IS_HOST (self), VIREO_HOST_LOST);
  return self->state;
}

void
vireo_host_reconnect (VireoHost *self)
{
  g_return_if_fail (VIREO_IS_HOST (self));
  if (self->kind != VIREO_HOST_REMOTE || self->state == VIREO_HOST_CONNECTED)
    return;
  self->reconnect_seconds = RECONNECT_FIRST_SECONDS;
  connect_remote (self);
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
  if (self->kind == VIREO_HOST_REMOTE)
    return self->title;
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

static void
on_tunnel_ended (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GError) error = NULL;

  /* The stream's reader saw it end; why it ended (vireo-tunnel's one line) is for the log. */
  if (!vireo_ssh_wait_finish (G_SUBPROCESS (source), result, &error))
    g_message ("remote stream: %s", error->message);
}

/* A remote host's service cannot pass fds over ssh: the stream is ssh running vireo-tunnel there, which
 * relays the service's socket over its stdin/stdout. */
static void
open_remote_stream (VireoHost *self, VireoDBusMachine *machine, VireoStreamKind kind, GTask *task)
{
  VireoSshAddress address;
  g_auto (GStrv) argv = NULL;
  g_autoptr (GSubprocess) ssh = NULL;
  g_autoptr (GError) error = NULL;
  int fd = -1;

  if (vireo_ssh_parse_uri (self->uri, &address, &error))
    {
      argv = vireo_stream_tunnel_argv (g_dbus_proxy_get_object_path (G_DBUS_PROXY (machine)), kind,
                                       address.session);
      vireo_ssh_address_clear (&address);
      ssh = vireo_ssh_spawn (self->uri, (const char *const *) argv, &fd, &error);
    }
  if (!ssh)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    {
      /* ssh ends when the stream does (either side closing it): reaped then. */
      vireo_ssh_wait_async (ssh, NULL, on_tunnel_ended, NULL);
      g_task_return_int (task, fd);
    }
  g_object_unref (task);
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

  if (host->kind == VIREO_HOST_REMOTE)
    {
      open_remote_stream (host, machine, kind, task);
      return;
    }
  /* Local hosts: the fd the service returns. */
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
