/* vireo-libvirt-host.c — a libvirt host and its domains through libvirt-gobject: the connection opened
 * asynchronously, the domain list kept up to date from libvirt's events, each domain's state asked
 * asynchronously after every event, and the actions run asynchronously (in a GTask thread where
 * libvirt-gobject has only a blocking call). */
#include "vireo-libvirt-host.h"

#include <glib/gi18n.h>
#include <signal.h>

struct _VireoLibvirtDomain
{
  GObject parent_instance;

  VireoLibvirtHost *host; /* weak: a display window may keep the domain longer than the host lives */
  GVirDomain *gvir;
  char *name;
  char *uuid;
  VireoLibvirtDomainState state;
  guint state_serial; /* the latest state query; older answers are dropped */
  guint busy;
};

struct _VireoLibvirtHost
{
  GObject parent_instance;

  char *uri;
  char *title;
  char *remote_name;
  char *ssh_uri; /* qemu+ssh://: ssh://[user@]host[:port], the same ssh login */
  gboolean local;
  gboolean valid; /* the URI is one we understand */
  gboolean available;
  char *status;
  GVirConnection *connection;
  virConnectPtr handle; /* the connection's, for libvirt's close callback (libvirt-gobject has none) */
  GCancellable *cancellable;
  GListStore *domains;
};

G_DEFINE_FINAL_TYPE (VireoLibvirtDomain, vireo_libvirt_domain, G_TYPE_OBJECT)
G_DEFINE_FINAL_TYPE (VireoLibvirtHost, vireo_libvirt_host, G_TYPE_OBJECT)

enum
{
  DOMAIN_PROP_0,
  DOMAIN_PROP_NAME,
  DOMAIN_PROP_UUID,
  DOMAIN_PROP_STATE,
  DOMAIN_PROP_STATE_LABEL,
  DOMAIN_PROP_BUSY,
  N_DOMAIN_PROPS
};

static GParamSpec *domain_props[N_DOMAIN_PROPS];

enum
{
  HOST_PROP_0,
  HOST_PROP_URI,
  HOST_PROP_TITLE,
  HOST_PROP_AVAILABLE,
  HOST_PROP_STATUS,
  N_HOST_PROPS
};

static GParamSpec *host_props[N_HOST_PROPS];

/* --- a domain --- */

static VireoLibvirtDomainState
state_from_libvirt (GVirDomainState state)
{
  switch (state)
    {
    case GVIR_DOMAIN_STATE_RUNNING:
    case GVIR_DOMAIN_STATE_BLOCKED:
      return VIREO_LIBVIRT_DOMAIN_RUNNING;
    case GVIR_DOMAIN_STATE_PAUSED:
      return VIREO_LIBVIRT_DOMAIN_PAUSED;
    case GVIR_DOMAIN_STATE_SHUTDOWN:
      return VIREO_LIBVIRT_DOMAIN_SHUTTING_DOWN;
    case GVIR_DOMAIN_STATE_SHUTOFF:
      return VIREO_LIBVIRT_DOMAIN_OFF;
    case GVIR_DOMAIN_STATE_CRASHED:
      return VIREO_LIBVIRT_DOMAIN_CRASHED;
    case GVIR_DOMAIN_STATE_PMSUSPENDED:
      return VIREO_LIBVIRT_DOMAIN_SUSPENDED;
    case GVIR_DOMAIN_STATE_NONE:
    default:
      return VIREO_LIBVIRT_DOMAIN_UNKNOWN;
    }
}

static void
domain_set_state (VireoLibvirtDomain *self, VireoLibvirtDomainState state)
{
  if (self->state == state)
    return;
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), domain_props[DOMAIN_PROP_STATE]);
  g_object_notify_by_pspec (G_OBJECT (self), domain_props[DOMAIN_PROP_STATE_LABEL]);
}

typedef struct
{
  VireoLibvirtDomain *domain;
  guint serial;
} StateQuery;

static void
on_info (GObject *source, GAsyncResult *result, gpointer data)
{
  StateQuery *query = data;
  g_autoptr (GError) error = NULL;
  GVirDomainInfo *info = gvir_domain_get_info_finish (GVIR_DOMAIN (source), result, &error);

  if (error)
    g_debug ("libvirt: no state for %s: %s", query->domain->name, error->message);

  /* A domain undefined meanwhile has no state to tell: the host drops it on its own event. */
  if (info && query->serial == query->domain->state_serial)
    domain_set_state (query->domain, state_from_libvirt (info->state));
  if (info)
    g_boxed_free (GVIR_TYPE_DOMAIN_INFO, info);
  g_object_unref (query->domain);
  g_free (query);
}

/* libvirt's events say that something happened, not always to what state: ask. */
static void
domain_refresh (VireoLibvirtDomain *self)
{
  StateQuery *query = g_new0 (StateQuery, 1);

  query->domain = g_object_ref (self);
  query->serial = ++self->state_serial;
  gvir_domain_get_info_async (self->gvir, NULL, on_info, query);
}

static VireoLibvirtDomain *
domain_new (VireoLibvirtHost *host, GVirDomain *gvir)
{
  VireoLibvirtDomain *self = g_object_new (VIREO_TYPE_LIBVIRT_DOMAIN, NULL);
  static const char *const events[] = {
    "started", "stopped", "suspended", "resumed", "updated", "pmsuspended"
  };

  self->host = host;
  g_object_add_weak_pointer (G_OBJECT (host), (gpointer *) &self->host);
  self->gvir = g_object_ref (gvir);
  self->name = g_strdup (gvir_domain_get_name (gvir));
  self->uuid = g_strdup (gvir_domain_get_uuid (gvir));
  for (gsize i = 0; i < G_N_ELEMENTS (events); i++)
    g_signal_connect_object (gvir, events[i], G_CALLBACK (domain_refresh), self, G_CONNECT_SWAPPED);
  domain_refresh (self);
  return self;
}

static void
vireo_libvirt_domain_finalize (GObject *object)
{
  VireoLibvirtDomain *self = VIREO_LIBVIRT_DOMAIN (object);

  if (self->host)
    g_object_remove_weak_pointer (G_OBJECT (self->host), (gpointer *) &self->host);
  g_clear_object (&self->gvir);
  g_free (self->name);
  g_free (self->uuid);
  G_OBJECT_CLASS (vireo_libvirt_domain_parent_class)->finalize (object);
}

static void
vireo_libvirt_domain_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  VireoLibvirtDomain *self = VIREO_LIBVIRT_DOMAIN (object);

  switch (prop_id)
    {
    case DOMAIN_PROP_NAME:
      g_value_set_string (value, self->name);
      break;
    case DOMAIN_PROP_UUID:
      g_value_set_string (value, self->uuid);
      break;
    case DOMAIN_PROP_STATE:
      g_value_set_uint (value, self->state);
      break;
    case DOMAIN_PROP_STATE_LABEL:
      g_value_set_string (value, vireo_libvirt_domain_get_state_label (self));
      break;
    case DOMAIN_PROP_BUSY:
      g_value_set_boolean (value, self->busy > 0);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vireo_libvirt_domain_class_init (VireoLibvirtDomainClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = vireo_libvirt_domain_finalize;
  object_class->get_property = vireo_libvirt_domain_get_property;

  domain_props[DOMAIN_PROP_NAME] = g_param_spec_string ("name", NULL, NULL, NULL,
                                                        G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  domain_props[DOMAIN_PROP_UUID] = g_param_spec_string ("uuid", NULL, NULL, NULL,
                                                        G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  domain_props[DOMAIN_PROP_STATE] = g_param_spec_uint (
      "state", NULL, NULL, 0, VIREO_LIBVIRT_DOMAIN_SUSPENDED, VIREO_LIBVIRT_DOMAIN_UNKNOWN,
      G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  domain_props[DOMAIN_PROP_STATE_LABEL] = g_param_spec_string ("state-label", NULL, NULL, NULL,
                                                               G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  domain_props[DOMAIN_PROP_BUSY] = g_param_spec_boolean (
      "busy", NULL, NULL, FALSE, G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_DOMAIN_PROPS, domain_props);
}

static void
vireo_libvirt_domain_init (VireoLibvirtDomain *self)
{
}

const char *
vireo_libvirt_domain_get_name (VireoLibvirtDomain *self)
{
  g_return_val_if_fail (VIREO_IS_LIBVIRT_DOMAIN (self), NULL);
  return self->name;
}

const char *
vireo_libvirt_domain_get_uuid (VireoLibvirtDomain *self)
{
  g_return_val_if_fail (VIREO_IS_LIBVIRT_DOMAIN (self), NULL);
  return self->uuid;
}

VireoLibvirtDomainState
vireo_libvirt_domain_get_state (VireoLibvirtDomain *self)
{
  g_return_val_if_fail (VIREO_IS_LIBVIRT_DOMAIN (self), VIREO_LIBVIRT_DOMAIN_UNKNOWN);
  return self->state;
}

const char *
vireo_libvirt_domain_get_state_label (VireoLibvirtDomain *self)
{
  g_return_val_if_fail (VIREO_IS_LIBVIRT_DOMAIN (self), NULL);
  switch (self->state)
    {
    case VIREO_LIBVIRT_DOMAIN_OFF:
      return _ ("Off");
    case VIREO_LIBVIRT_DOMAIN_RUNNING:
      return _ ("Running");
    case VIREO_LIBVIRT_DOMAIN_PAUSED:
      return _ ("Paused");
    case VIREO_LIBVIRT_DOMAIN_SHUTTING_DOWN:
      return _ ("Shutting down");
    case VIREO_LIBVIRT_DOMAIN_CRASHED:
      return _ ("Crashed");
    case VIREO_LIBVIRT_DOMAIN_SUSPENDED:
      return _ ("Suspended by the guest");
    case VIREO_LIBVIRT_DOMAIN_UNKNOWN:
    default:
      return _ ("Unknown");
    }
}

gboolean
vireo_libvirt_domain_get_busy (VireoLibvirtDomain *self)
{
  g_return_val_if_fail (VIREO_IS_LIBVIRT_DOMAIN (self), FALSE);
  return self->busy > 0;
}

GVirDomain *
vireo_libvirt_domain_get_gvir (VireoLibvirtDomain *self)
{
  g_return_val_if_fail (VIREO_IS_LIBVIRT_DOMAIN (self), NULL);
  return self->gvir;
}

VireoLibvirtHost *
vireo_libvirt_domain_get_host (VireoLibvirtDomain *self)
{
  g_return_val_if_fail (VIREO_IS_LIBVIRT_DOMAIN (self), NULL);
  return self->host;
}

gboolean
vireo_libvirt_domain_can (VireoLibvirtDomain *self, VireoLibvirtAction action)
{
  g_return_val_if_fail (VIREO_IS_LIBVIRT_DOMAIN (self), FALSE);

  switch (action)
    {
    case VIREO_LIBVIRT_START:
      return self->state == VIREO_LIBVIRT_DOMAIN_OFF || self->state == VIREO_LIBVIRT_DOMAIN_CRASHED;
    case VIREO_LIBVIRT_SHUT_DOWN:
      return self->state == VIREO_LIBVIRT_DOMAIN_RUNNING;
    case VIREO_LIBVIRT_FORCE_OFF:
      return self->state == VIREO_LIBVIRT_DOMAIN_RUNNING || self->state == VIREO_LIBVIRT_DOMAIN_PAUSED
             || self->state == VIREO_LIBVIRT_DOMAIN_SHUTTING_DOWN
             || self->state == VIREO_LIBVIRT_DOMAIN_SUSPENDED;
    case VIREO_LIBVIRT_PAUSE:
      return self->state == VIREO_LIBVIRT_DOMAIN_RUNNING;
    case VIREO_LIBVIRT_RESUME:
      return self->state == VIREO_LIBVIRT_DOMAIN_PAUSED;
    default:
      return FALSE;
    }
}

/* --- actions --- */

/* What the user reads when @action failed on domain @name, with libvirt's @reason. */
static char *
action_failure (VireoLibvirtAction action, const char *name, const char *reason)
{
  switch (action)
    {
    case VIREO_LIBVIRT_START:
      /* Translators: %s is the name of a libvirt domain (a virtual machine), then libvirt's message. */
      return g_strdup_printf (_ ("Could not start “%s”: %s"), name, reason);
    case VIREO_LIBVIRT_SHUT_DOWN:
      return g_strdup_printf (_ ("Could not shut down “%s”: %s"), name, reason);
    case VIREO_LIBVIRT_FORCE_OFF:
      return g_strdup_printf (_ ("Could not force “%s” off: %s"), name, reason);
    case VIREO_LIBVIRT_PAUSE:
      return g_strdup_printf (_ ("Could not pause “%s”: %s"), name, reason);
    case VIREO_LIBVIRT_RESUME:
    default:
      return g_strdup_printf (_ ("Could not resume “%s”: %s"), name, reason);
    }
}

static void
action_done (GTask *task, GError *error)
{
  VireoLibvirtDomain *self = g_task_get_source_object (task);
  VireoLibvirtAction action = GPOINTER_TO_INT (g_task_get_task_data (task));

  self->busy--;
  if (self->busy == 0)
    g_object_notify_by_pspec (G_OBJECT (self), domain_props[DOMAIN_PROP_BUSY]);
  domain_refresh (self);
  if (error)
    {
      if (error->domain == G_IO_ERROR && error->code == G_IO_ERROR_CANCELLED)
        g_task_return_error (task, error);
      else
        {
          g_autofree char *message = action_failure (action, self->name, error->message);
          g_task_return_new_error (task, error->domain, error->code, "%s", message);
          g_error_free (error);
        }
    }
  else
    g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

static void
on_started (GObject *source, GAsyncResult *result, gpointer data)
{
  GError *error = NULL;

  gvir_domain_start_finish (GVIR_DOMAIN (source), result, &error);
  action_done (data, error);
}

static void
on_resumed (GObject *source, GAsyncResult *result, gpointer data)
{
  GError *error = NULL;

  gvir_domain_resume_finish (GVIR_DOMAIN (source), result, &error);
  action_done (data, error);
}

/* The calls libvirt-gobject has no asynchronous variant of, in a GTask thread. */
static void
run_blocking (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  GVirDomain *gvir = VIREO_LIBVIRT_DOMAIN (source)->gvir;
  GError *error = NULL;
  gboolean ok = FALSE;

  switch ((VireoLibvirtAction) GPOINTER_TO_INT (task_data))
    {
    case VIREO_LIBVIRT_SHUT_DOWN:
      ok = gvir_domain_shutdown (gvir, GVIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN, &error);
      break;
    case VIREO_LIBVIRT_FORCE_OFF:
      ok = gvir_domain_stop (gvir, 0, &error);
      break;
    case VIREO_LIBVIRT_PAUSE:
      ok = gvir_domain_suspend (gvir, &error);
      break;
    default:
      g_assert_not_reached ();
    }
  if (ok)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
on_blocking_done (GObject *source, GAsyncResult *result, gpointer data)
{
  GError *error = NULL;

  g_task_propagate_boolean (G_TASK (result), &error);
  action_done (data, error);
}

void
vireo_libvirt_domain_run_async (VireoLibvirtDomain *self, VireoLibvirtAction action,
                                GCancellable *cancellable, GAsyncReadyCallback callback, gpointer data)
{
  GTask *task;

  g_return_if_fail (VIREO_IS_LIBVIRT_DOMAIN (self));

  task = g_task_new (self, cancellable, callback, data);
  g_task_set_source_tag (task, vireo_libvirt_domain_run_async);
  g_task_set_task_data (task, GINT_TO_POINTER (action), NULL);
  if (self->busy++ == 0)
    g_object_notify_by_pspec (G_OBJECT (self), domain_props[DOMAIN_PROP_BUSY]);

  switch (action)
    {
    case VIREO_LIBVIRT_START:
      gvir_domain_start_async (self->gvir, 0, cancellable, on_started, task);
      break;
    case VIREO_LIBVIRT_RESUME:
      gvir_domain_resume_async (self->gvir, cancellable, on_resumed, task);
      break;
    default:
      {
        g_autoptr (GTask) blocking = g_task_new (self, cancellable, on_blocking_done, task);
        g_task_set_task_data (blocking, GINT_TO_POINTER (action), NULL);
        g_task_run_in_thread (blocking, run_blocking);
      }
      break;
    }
}

gboolean
vireo_libvirt_domain_run_finish (VireoLibvirtDomain *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* --- the host --- */

static void
host_set_status (VireoLibvirtHost *self, gboolean available, const char *status)
{
  if (self->available != available)
    {
      self->available = available;
      g_object_notify_by_pspec (G_OBJECT (self), host_props[HOST_PROP_AVAILABLE]);
    }
  if (g_strcmp0 (self->status, status) != 0)
    {
      g_free (self->status);
      self->status = g_strdup (status);
      g_object_notify_by_pspec (G_OBJECT (self), host_props[HOST_PROP_STATUS]);
    }
}

static int
compare_domains (gconstpointer a, gconstpointer b, gpointer data)
{
  return g_utf8_collate (VIREO_LIBVIRT_DOMAIN ((gpointer) a)->name,
                         VIREO_LIBVIRT_DOMAIN ((gpointer) b)->name);
}

static gboolean
find_uuid (VireoLibvirtHost *self, const char *uuid, guint *position)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->domains));

  for (guint i = 0; i < n; i++)
    {
      g_autoptr (VireoLibvirtDomain) domain = g_list_model_get_item (G_LIST_MODEL (self->domains), i);
      if (g_strcmp0 (domain->uuid, uuid) == 0)
        {
          *position = i;
          return TRUE;
        }
    }
  return FALSE;
}

static void
add_domain (VireoLibvirtHost *self, GVirDomain *gvir)
{
  g_autoptr (VireoLibvirtDomain) domain = NULL;
  guint position;

  if (find_uuid (self, gvir_domain_get_uuid (gvir), &position))
    return;
  domain = domain_new (self, gvir);
  g_list_store_insert_sorted (self->domains, domain, compare_domains, NULL);
}

static void
on_domain_added (GVirConnection *connection, GVirDomain *gvir, VireoLibvirtHost *self)
{
  add_domain (self, gvir);
}

static void
on_domain_removed (GVirConnection *connection, GVirDomain *gvir, VireoLibvirtHost *self)
{
  guint position;

  if (find_uuid (self, gvir_domain_get_uuid (gvir), &position))
    g_list_store_remove (self->domains, position);
}

static void
on_connection_closed (GVirConnection *connection, VireoLibvirtHost *self)
{
  g_autofree char *status = g_strdup_printf (_ ("The connection to %s was lost"), self->uri);
  GListModel *domains = G_LIST_MODEL (self->domains);

  host_set_status (self, FALSE, status);
  /* What we knew of the domains no longer holds (their display windows stop showing them). */
  for (guint i = 0; i < g_list_model_get_n_items (domains); i++)
    {
      g_autoptr (VireoLibvirtDomain) domain = g_list_model_get_item (domains, i);
      domain->state_serial++;
      domain_set_state (domain, VIREO_LIBVIRT_DOMAIN_UNKNOWN);
    }
  g_list_store_remove_all (self->domains);
}

/* libvirtd went away or the transport broke. */
static void
on_libvirt_closed (virConnectPtr handle, int reason, void *data)
{
  if (reason != VIR_CONNECT_CLOSE_REASON_CLIENT)
    on_connection_closed (NULL, data);
}

static void
connection_failed (VireoLibvirtHost *self, const GError *error)
{
  g_autofree char *status = NULL;

  if (error->domain == G_IO_ERROR && error->code == G_IO_ERROR_CANCELLED)
    return;
  status = g_strdup_printf (_ ("Could not connect to %s: %s"), self->uri, error->message);
  host_set_status (self, FALSE, status);
}

static void
on_fetched (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (VireoLibvirtHost) self = data;
  g_autoptr (GError) error = NULL;
  GList *domains;

  if (!gvir_connection_fetch_domains_finish (GVIR_CONNECTION (source), result, &error))
    {
      connection_failed (self, error);
      return;
    }
  if (GVIR_CONNECTION (source) != self->connection)
    return;
  domains = gvir_connection_get_domains (self->connection);
  for (GList *l = domains; l; l = l->next)
    add_domain (self, l->data);
  g_list_free_full (domains, g_object_unref);
  host_set_status (self, TRUE, NULL);
}

static void
on_opened (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (VireoLibvirtHost) self = data;
  g_autoptr (GError) error = NULL;

  if (!gvir_connection_open_finish (GVIR_CONNECTION (source), result, &error))
    {
      connection_failed (self, error);
      return;
    }
  if (GVIR_CONNECTION (source) != self->connection)
    return;
  /* No reference for libvirt: the callback is unregistered before the host goes. */
  g_object_get (source, "handle", &self->handle, NULL);
  if (self->handle && virConnectRegisterCloseCallback (self->handle, on_libvirt_closed, self, NULL) < 0)
    g_clear_pointer (&self->handle, virConnectClose);
  gvir_connection_fetch_domains_async (GVIR_CONNECTION (source), self->cancellable, on_fetched,
                                       g_object_ref (self));
}

static void
close_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  gvir_connection_close (data);
  g_task_return_boolean (task, TRUE);
}

static void
host_disconnect (VireoLibvirtHost *self)
{
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  if (self->handle)
    {
      virConnectUnregisterCloseCallback (self->handle, on_libvirt_closed);
      g_clear_pointer (&self->handle, virConnectClose);
    }
  if (self->connection)
    {
      g_signal_handlers_disconnect_by_data (self->connection, self);
      if (gvir_connection_is_open (self->connection))
        {
          /* Closing tells the daemon, a round trip across the network for a remote host. */
          g_autoptr (GTask) task = g_task_new (NULL, NULL, NULL, NULL);
          g_task_set_task_data (task, g_object_ref (self->connection), g_object_unref);
          g_task_run_in_thread (task, close_thread);
        }
      g_clear_object (&self->connection);
    }
  g_list_store_remove_all (self->domains);
}

static void
host_connect (VireoLibvirtHost *self)
{
  static gsize initialised;
  static GError *init_error;
  g_autofree char *connecting = NULL;

  /* libvirt's events reach us through libvirt-glib's event loop on the default main context. */
  if (g_once_init_enter (&initialised))
    {
      gvir_init_object_check (NULL, NULL, &init_error);
      /* libvirt's client writes to its socket with write(): a daemon gone (or an ssh transport broken)
       * must end the connection, not the app, as libvirt asks of its applications. */
      signal (SIGPIPE, SIG_IGN);
      g_once_init_leave (&initialised, 1);
    }
  if (init_error)
    {
      connection_failed (self, init_error);
      return;
    }
  if (!self->valid)
    {
      g_autofree char *status = g_strdup_printf (_ ("“%s” is not the address of a QEMU libvirt host"),
                                                 self->uri);
      host_set_status (self, FALSE, status);
      return;
    }

  self->cancellable = g_cancellable_new ();
  self->connection = gvir_connection_new (self->uri);
  g_signal_connect (self->connection, "domain-added", G_CALLBACK (on_domain_added), self);
  g_signal_connect (self->connection, "domain-removed", G_CALLBACK (on_domain_removed), self);
  g_signal_connect (self->connection, "connection-closed", G_CALLBACK (on_connection_closed), self);
  connecting = g_strdup_printf (_ ("Connecting to %s…"), self->uri);
  host_set_status (self, FALSE, connecting);
  gvir_connection_open_async (self->connection, self->cancellable, on_opened, g_object_ref (self));
}

void
vireo_libvirt_host_reconnect (VireoLibvirtHost *self)
{
  g_return_if_fail (VIREO_IS_LIBVIRT_HOST (self));

  host_disconnect (self);
  host_connect (self);
}

gboolean
vireo_libvirt_host_check_uri (const char *uri, GError **error)
{
  g_autoptr (GUri) parsed = g_uri_parse (uri, G_URI_FLAGS_NON_DNS | G_URI_FLAGS_ENCODED, NULL);
  const char *scheme = parsed ? g_uri_get_scheme (parsed) : NULL;
  const char *path = parsed ? g_uri_get_path (parsed) : NULL;

  if (scheme == NULL || !(g_str_equal (scheme, "qemu") || g_str_has_prefix (scheme, "qemu+")))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _ ("“%s” is not the address of a QEMU libvirt host: it looks like qemu:///system, "
                      "qemu:///session or qemu+ssh://user@host/system"),
                   uri);
      return FALSE;
    }
  if (g_strcmp0 (path, "/system") != 0 && g_strcmp0 (path, "/session") != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _ ("A libvirt address ends in /system or /session, as in qemu:///system"));
      return FALSE;
    }
  return TRUE;
}

/* Reads what the URI says: which host (none: this computer) and which daemon (system or session). */
static void
host_parse_uri (VireoLibvirtHost *self)
{
  g_autoptr (GUri) uri = g_uri_parse (self->uri, G_URI_FLAGS_NON_DNS | G_URI_FLAGS_ENCODED, NULL);
  const char *scheme = uri ? g_uri_get_scheme (uri) : NULL;
  const char *host = uri ? g_uri_get_host (uri) : NULL;
  gboolean session;

  self->valid = scheme && (g_str_equal (scheme, "qemu") || g_str_has_prefix (scheme, "qemu+"));
  if (!self->valid)
    {
      self->title = g_strdup (self->uri);
      return;
    }
  session = g_str_equal (g_uri_get_path (uri), "/session");
  self->local = host == NULL || *host == '\0';
  if (self->local)
    {
      self->title = g_strdup (session ? _ ("QEMU/KVM (session)") : _ ("QEMU/KVM"));
      return;
    }
  self->remote_name = g_strdup (host);
  /* libvirt's ssh transport logs in as the URI's user at its port: the display's ssh does the same. */
  if (g_str_equal (scheme, "qemu+ssh"))
    self->ssh_uri = g_uri_join (G_URI_FLAGS_ENCODED, "ssh", g_uri_get_user (uri), host, g_uri_get_port (uri),
                                "", NULL, NULL);
  /* Translators: %s is the name of the computer libvirt runs on. */
  self->title = g_strdup_printf (session ? _ ("QEMU/KVM (session) on %s") : _ ("QEMU/KVM on %s"), host);
}

static void
vireo_libvirt_host_constructed (GObject *object)
{
  VireoLibvirtHost *self = VIREO_LIBVIRT_HOST (object);

  G_OBJECT_CLASS (vireo_libvirt_host_parent_class)->constructed (object);
  host_parse_uri (self);
  host_connect (self);
}

static void
vireo_libvirt_host_dispose (GObject *object)
{
  VireoLibvirtHost *self = VIREO_LIBVIRT_HOST (object);

  if (self->domains)
    host_disconnect (self);
  g_clear_object (&self->domains);
  G_OBJECT_CLASS (vireo_libvirt_host_parent_class)->dispose (object);
}

static void
vireo_libvirt_host_finalize (GObject *object)
{
  VireoLibvirtHost *self = VIREO_LIBVIRT_HOST (object);

  g_free (self->uri);
  g_free (self->title);
  g_free (self->remote_name);
  g_free (self->ssh_uri);
  g_free (self->status);
  G_OBJECT_CLASS (vireo_libvirt_host_parent_class)->finalize (object);
}

static void
vireo_libvirt_host_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  VireoLibvirtHost *self = VIREO_LIBVIRT_HOST (object);

  switch (prop_id)
    {
    case HOST_PROP_URI:
      g_value_set_string (value, self->uri);
      break;
    case HOST_PROP_TITLE:
      g_value_set_string (value, self->title);
      break;
    case HOST_PROP_AVAILABLE:
      g_value_set_boolean (value, self->available);
      break;
    case HOST_PROP_STATUS:
      g_value_set_string (value, self->status);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vireo_libvirt_host_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  VireoLibvirtHost *self = VIREO_LIBVIRT_HOST (object);

  switch (prop_id)
    {
    case HOST_PROP_URI:
      self->uri = g_value_dup_string (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vireo_libvirt_host_class_init (VireoLibvirtHostClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = vireo_libvirt_host_constructed;
  object_class->dispose = vireo_libvirt_host_dispose;
  object_class->finalize = vireo_libvirt_host_finalize;
  object_class->get_property = vireo_libvirt_host_get_property;
  object_class->set_property = vireo_libvirt_host_set_property;

  host_props[HOST_PROP_URI] = g_param_spec_string (
      "uri", NULL, NULL, NULL, G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  host_props[HOST_PROP_TITLE] = g_param_spec_string ("title", NULL, NULL, NULL,
                                                     G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  host_props[HOST_PROP_AVAILABLE] = g_param_spec_boolean (
      "available", NULL, NULL, FALSE, G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  host_props[HOST_PROP_STATUS] = g_param_spec_string (
      "status", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_HOST_PROPS, host_props);
}

static void
vireo_libvirt_host_init (VireoLibvirtHost *self)
{
  self->domains = g_list_store_new (VIREO_TYPE_LIBVIRT_DOMAIN);
}

VireoLibvirtHost *
vireo_libvirt_host_new (const char *uri)
{
  g_return_val_if_fail (uri != NULL, NULL);
  return g_object_new (VIREO_TYPE_LIBVIRT_HOST, "uri", uri, NULL);
}

virConnectPtr
vireo_libvirt_host_get_handle (VireoLibvirtHost *self)
{
  g_return_val_if_fail (VIREO_IS_LIBVIRT_HOST (self), NULL);
  if (self->handle == NULL || !self->available)
    return NULL;
  virConnectRef (self->handle);
  return self->handle;
}

const char *
vireo_libvirt_host_get_uri (VireoLibvirtHost *self)
{
  g_return_val_if_fail (VIREO_IS_LIBVIRT_HOST (self), NULL);
  return self->uri;
}

const char *
vireo_libvirt_host_get_title (VireoLibvirtHost *self)
{
  g_return_val_if_fail (VIREO_IS_LIBVIRT_HOST (self), NULL);
  return self->title;
}

gboolean
vireo_libvirt_host_get_available (VireoLibvirtHost *self)
{
  g_return_val_if_fail (VIREO_IS_LIBVIRT_HOST (self), FALSE);
  return self->available;
}

const char *
vireo_libvirt_host_get_status (VireoLibvirtHost *self)
{
  g_return_val_if_fail (VIREO_IS_LIBVIRT_HOST (self), NULL);
  return self->status;
}

gboolean
vireo_libvirt_host_get_local (VireoLibvirtHost *self)
{
  g_return_val_if_fail (VIREO_IS_LIBVIRT_HOST (self), FALSE);
  return self->local;
}

const char *
vireo_libvirt_host_get_remote_name (VireoLibvirtHost *self)
{
  g_return_val_if_fail (VIREO_IS_LIBVIRT_HOST (self), NULL);
  return self->remote_name;
}

const char *
vireo_libvirt_host_get_ssh_uri (VireoLibvirtHost *self)
{
  g_return_val_if_fail (VIREO_IS_LIBVIRT_HOST (self), NULL);
  return self->ssh_uri;
}

GListModel *
vireo_libvirt_host_get_domains (VireoLibvirtHost *self)
{
  g_return_val_if_fail (VIREO_IS_LIBVIRT_HOST (self), NULL);
  return G_LIST_MODEL (self->domains);
}

VireoLibvirtDomain *
vireo_libvirt_host_find_domain (VireoLibvirtHost *self, const char *uuid)
{
  guint position;

  g_return_val_if_fail (VIREO_IS_LIBVIRT_HOST (self), NULL);
  if (!find_uuid (self, uuid, &position))
    return NULL;
  /* The store keeps its reference. */
  g_autoptr (VireoLibvirtDomain) domain = g_list_model_get_item (G_LIST_MODEL (self->domains), position);
  return domain;
}
