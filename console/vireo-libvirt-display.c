/* vireo-libvirt-display.c — a libvirt domain's display window: reads the domain's SPICE graphics from its
 * XML, connects VireoDisplay through virDomainOpenGraphicsFD (libvirtd on this computer: one fd per SPICE
 * channel, no port or password needed), through ssh to the SPICE port as the host sees it (a qemu+ssh://
 * host, whose SPICE usually listens on its loopback only) or at the host's address and the SPICE port
 * (other remote hosts), and says so when the domain has no SPICE graphics, is not running, or cannot be
 * reached. */
#include "vireo-libvirt-display.h"

#include "vireo-ssh.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <string.h>
#include <unistd.h>

struct _VireoLibvirtDisplay
{
  AdwWindow parent_instance;

  VireoLibvirtDomain *domain;
  AdwWindowTitle *title;
  GtkStack *stack;
  AdwStatusPage *status;
  VireoDisplay *display;
  GCancellable *cancellable; /* reading the domain's XML */

  gboolean graphics_known;
  gboolean has_spice;
  int port;
  char *listen;      /* the SPICE address as the host sees it: 127.0.0.1 for none or a wildcard */
  gboolean opened;   /* the display was opened for this run of the domain */
  char *ssh_failure; /* why a channel's ssh ended, since the display was opened */
  char *message;
};

G_DEFINE_FINAL_TYPE (VireoLibvirtDisplay, vireo_libvirt_display, ADW_TYPE_WINDOW)

static void update (VireoLibvirtDisplay *self);

/* --- openers: one connected fd per SPICE channel --- */

static void
open_graphics_fd_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  GError *error = NULL;
  int fd = gvir_domain_open_graphics_fd (GVIR_DOMAIN (data), 0, 0, &error);

  if (fd < 0)
    g_task_return_error (task, error);
  else
    g_task_return_int (task, fd);
}

/* libvirtd hands over a socket already joined to QEMU's SPICE server: a blocking call, so in a thread. */
static void
open_local (gpointer data, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, user_data);

  g_task_set_task_data (task, g_object_ref (data), g_object_unref);
  g_task_run_in_thread (task, open_graphics_fd_thread);
}

typedef struct
{
  char *host;
  int port;
} RemoteAddress;

static void
remote_address_free (gpointer data)
{
  RemoteAddress *address = data;

  g_free (address->host);
  g_free (address);
}

static void
on_tcp_connected (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GTask) task = data;
  GError *error = NULL;
  g_autoptr (GSocketConnection) connection = g_socket_client_connect_to_host_finish (G_SOCKET_CLIENT (source),
                                                                                     result, &error);
  int fd;

  if (connection == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  fd = dup (g_socket_get_fd (g_socket_connection_get_socket (connection)));
  if (fd < 0)
    g_task_return_new_error (task, G_IO_ERROR, g_io_error_from_errno (errno), "%s", g_strerror (errno));
  else
    g_task_return_int (task, fd);
}

static void
open_remote (gpointer data, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  RemoteAddress *address = data;
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);

  g_socket_client_connect_to_host_async (client, address->host, (guint16) address->port, cancellable,
                                         on_tcp_connected, task);
}

/* A qemu+ssh:// host: each channel is an ssh -W to the SPICE port on the host's side, with the same login
 * as libvirt's own connection. */
typedef struct
{
  GWeakRef window;
  char *ssh_uri;
  char *to_host;
  int port;
} SshRoute;

static void
ssh_route_free (gpointer data)
{
  SshRoute *route = data;

  g_weak_ref_clear (&route->window);
  g_free (route->ssh_uri);
  g_free (route->to_host);
  g_free (route);
}

static void
on_ssh_ended (GObject *source, GAsyncResult *result, gpointer data)
{
  GWeakRef *window_ref = data;
  g_autoptr (VireoLibvirtDisplay) self = g_weak_ref_get (window_ref);
  g_autoptr (GError) error = NULL;

  g_weak_ref_clear (window_ref);
  g_free (window_ref);
  /* The channel's reader saw it end; why ssh ended is for the log, and for the window while it fails. */
  if (vireo_ssh_wait_finish (G_SUBPROCESS (source), result, &error))
    return;
  g_message ("libvirt display stream: %s", error->message);
  if (self == NULL || self->domain == NULL)
    return;
  g_free (self->ssh_failure);
  self->ssh_failure = g_strdup (error->message);
  update (self);
}

static void
open_ssh (gpointer data, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  SshRoute *route = data;
  g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  g_autoptr (GSubprocess) ssh = NULL;
  GError *error = NULL;
  g_autoptr (GObject) window = NULL;
  GWeakRef *window_ref;
  int fd = -1;

  ssh = vireo_ssh_spawn_forward (route->ssh_uri, route->to_host, route->port, &fd, &error);
  if (ssh == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  window = g_weak_ref_get (&route->window);
  window_ref = g_new0 (GWeakRef, 1);
  g_weak_ref_init (window_ref, window);
  vireo_ssh_wait_async (ssh, NULL, on_ssh_ended, window_ref);
  g_task_return_int (task, fd);
}

/* --- the window --- */

static void
show_message (VireoLibvirtDisplay *self, const char *title, const char *description)
{
  /* The description is markup; libvirt's and ssh's messages are not. */
  g_autofree char *escaped = description ? g_markup_escape_text (description, -1) : NULL;

  if (g_strcmp0 (self->message, title) != 0)
    {
      g_free (self->message);
      self->message = g_strdup (title);
    }
  adw_status_page_set_title (self->status, title);
  adw_status_page_set_description (self->status, escaped);
  gtk_stack_set_visible_child_name (self->stack, "message");
}

static void
show_display (VireoLibvirtDisplay *self)
{
  g_clear_pointer (&self->message, g_free);
  gtk_stack_set_visible_child_name (self->stack, "display");
}

static void
open_display (VireoLibvirtDisplay *self)
{
  VireoLibvirtHost *host = vireo_libvirt_domain_get_host (self->domain);
  GVirDomain *gvir = vireo_libvirt_domain_get_gvir (self->domain);

  self->opened = TRUE;
  g_clear_pointer (&self->ssh_failure, g_free);
  if (vireo_libvirt_host_get_local (host))
    {
      vireo_display_open_with (self->display, open_local, g_object_ref (gvir), g_object_unref);
      return;
    }
  if (vireo_libvirt_host_get_ssh_uri (host))
    {
      SshRoute *route = g_new0 (SshRoute, 1);

      g_weak_ref_init (&route->window, self);
      route->ssh_uri = g_strdup (vireo_libvirt_host_get_ssh_uri (host));
      route->to_host = g_strdup (self->listen);
      route->port = self->port;
      vireo_display_open_with (self->display, open_ssh, route, ssh_route_free);
      return;
    }
  /* Across the network no fd can pass: the SPICE port, at the host's address. */
  RemoteAddress *address = g_new0 (RemoteAddress, 1);
  address->host = g_strdup (vireo_libvirt_host_get_remote_name (host));
  address->port = self->port;
  vireo_display_open_with (self->display, open_remote, address, remote_address_free);
}

static void
update (VireoLibvirtDisplay *self)
{
  const char *name = vireo_libvirt_domain_get_name (self->domain);
  VireoLibvirtDomainState state = vireo_libvirt_domain_get_state (self->domain);
  VireoLibvirtHost *host = vireo_libvirt_domain_get_host (self->domain);
  g_autofree char *title = NULL;

  if (host == NULL || !vireo_libvirt_host_get_available (host))
    {
      self->opened = FALSE;
      vireo_display_close (self->display);
      title = g_strdup_printf (_ ("“%s” cannot be reached"), name);
      show_message (self, title, _ ("The connection to its host is closed."));
      return;
    }
  if (state == VIREO_LIBVIRT_DOMAIN_UNKNOWN)
    {
      title = g_strdup_printf (_ ("Connecting to “%s”…"), name);
      show_message (self, title, NULL);
      return;
    }
  if (state != VIREO_LIBVIRT_DOMAIN_RUNNING && state != VIREO_LIBVIRT_DOMAIN_PAUSED)
    {
      self->opened = FALSE;
      vireo_display_close (self->display);
      title = g_strdup_printf (_ ("“%s” is not running"), name);
      show_message (self, title, _ ("Start it to see its display here."));
      return;
    }
  if (!self->graphics_known)
    {
      title = g_strdup_printf (_ ("Connecting to “%s”…"), name);
      show_message (self, title, NULL);
      return;
    }
  if (!self->has_spice)
    {
      title = g_strdup_printf (_ ("“%s” has no SPICE display"), name);
      show_message (self, title,
                    _ ("Vireo shows the screens of libvirt domains through SPICE graphics, which this domain "
                       "does not have."));
      return;
    }
  if (!vireo_libvirt_host_get_local (vireo_libvirt_domain_get_host (self->domain)) && self->port <= 0)
    {
      title = g_strdup_printf (_ ("The display of “%s” cannot be reached"), name);
      show_message (self, title,
                    _ ("Its SPICE graphics have no network port this computer could connect to."));
      return;
    }
  if (!self->opened)
    open_display (self);
  if (vireo_display_get_state (self->display) == VIREO_DISPLAY_DISCONNECTED
      && (vireo_display_get_error (self->display) || self->ssh_failure))
    {
      g_autofree char *description = NULL;

      /* ssh's reason says more than the closed channel the display saw. */
      if (self->ssh_failure)
        description = g_strdup_printf (strchr (self->listen, ':') ? _ ("Through ssh to [%s]:%d on %s: %s")
                                                                  : _ ("Through ssh to %s:%d on %s: %s"),
                                       self->listen, self->port, vireo_libvirt_host_get_remote_name (host),
                                       self->ssh_failure);
      title = g_strdup_printf (_ ("Could not show the display of “%s”"), name);
      show_message (self, title, description ? description : vireo_display_get_error (self->display));
      return;
    }
  show_display (self);
}

static void
on_graphics_element (GMarkupParseContext *context, const char *element, const char **names,
                     const char **values, gpointer data, GError **error)
{
  char **listen = data;

  if (*listen)
    return;
  for (int i = 0; names[i]; i++)
    if ((g_str_equal (element, "graphics") && g_str_equal (names[i], "listen"))
        || (g_str_equal (element, "listen") && g_str_equal (names[i], "address")))
      {
        *listen = g_strdup (values[i]);
        return;
      }
}

char *
vireo_libvirt_display_listen_address (const char *graphics_xml)
{
  static const GMarkupParser parser = { .start_element = on_graphics_element };
  g_autoptr (GMarkupParseContext) context = NULL;
  g_autoptr (GInetAddress) address = NULL;
  g_autofree char *listen = NULL;

  context = g_markup_parse_context_new (&parser, 0, &listen, NULL);
  if (graphics_xml)
    g_markup_parse_context_parse (context, graphics_xml, -1, NULL);
  address = listen ? g_inet_address_new_from_string (listen) : NULL;
  /* None, or every address of the host: its loopback is one. */
  if (listen == NULL || *listen == '\0' || (address && g_inet_address_get_is_any (address)))
    return g_strdup ("127.0.0.1");
  return g_steal_pointer (&listen);
}

static void
read_config_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  GError *error = NULL;
  GVirConfigDomain *config = gvir_domain_get_config (GVIR_DOMAIN (data), 0, &error);

  if (config == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, config, g_object_unref);
}

static void
on_config (GObject *source, GAsyncResult *result, gpointer data)
{
  VireoLibvirtDisplay *self = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GObject) config = g_task_propagate_pointer (G_TASK (result), &error);
  GList *devices;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (config == NULL)
    {
      g_autofree char *title = g_strdup_printf (_ ("Could not read the definition of “%s”"),
                                                vireo_libvirt_domain_get_name (self->domain));
      show_message (self, title, error->message);
      return;
    }
  self->graphics_known = TRUE;
  self->has_spice = FALSE;
  devices = gvir_config_domain_get_devices (GVIR_CONFIG_DOMAIN (config));
  for (GList *l = devices; l; l = l->next)
    if (GVIR_CONFIG_IS_DOMAIN_GRAPHICS_SPICE (l->data) && !self->has_spice)
      {
        g_autofree char *xml = gvir_config_object_to_xml (GVIR_CONFIG_OBJECT (l->data));

        self->has_spice = TRUE;
        self->port = gvir_config_domain_graphics_spice_get_port (l->data);
        g_free (self->listen);
        self->listen = vireo_libvirt_display_listen_address (xml);
      }
  g_list_free_full (devices, g_object_unref);
  update (self);
}

/* The live XML: a running domain's SPICE port is only there once it runs. */
static void
read_graphics (VireoLibvirtDisplay *self)
{
  g_autoptr (GTask) task = NULL;

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  self->graphics_known = FALSE;
  task = g_task_new (NULL, self->cancellable, on_config, self);
  g_task_set_task_data (task, g_object_ref (vireo_libvirt_domain_get_gvir (self->domain)), g_object_unref);
  g_task_run_in_thread (task, read_config_thread);
}

static void
on_domain_state (VireoLibvirtDomain *domain, GParamSpec *pspec, VireoLibvirtDisplay *self)
{
  VireoLibvirtDomainState state = vireo_libvirt_domain_get_state (domain);
  gboolean up = state == VIREO_LIBVIRT_DOMAIN_RUNNING || state == VIREO_LIBVIRT_DOMAIN_PAUSED;

  if (up && !self->opened && self->graphics_known)
    read_graphics (self); /* started again: its port may have changed */
  update (self);
}

static void
on_display_state (VireoDisplay *display, GParamSpec *pspec, VireoLibvirtDisplay *self)
{
  if (vireo_display_get_state (display) == VIREO_DISPLAY_CONNECTED)
    g_clear_pointer (&self->ssh_failure, g_free);
  if (self->domain)
    update (self);
}

static void
vireo_libvirt_display_dispose (GObject *object)
{
  VireoLibvirtDisplay *self = VIREO_LIBVIRT_DISPLAY (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  if (self->display)
    {
      g_signal_handlers_disconnect_by_data (self->display, self);
      vireo_display_close (self->display);
    }
  if (self->domain)
    g_signal_handlers_disconnect_by_data (self->domain, self);
  g_clear_object (&self->domain);
  G_OBJECT_CLASS (vireo_libvirt_display_parent_class)->dispose (object);
}

static void
vireo_libvirt_display_finalize (GObject *object)
{
  VireoLibvirtDisplay *self = VIREO_LIBVIRT_DISPLAY (object);

  g_free (self->message);
  g_free (self->listen);
  g_free (self->ssh_failure);
  G_OBJECT_CLASS (vireo_libvirt_display_parent_class)->finalize (object);
}

static void
vireo_libvirt_display_class_init (VireoLibvirtDisplayClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = vireo_libvirt_display_dispose;
  object_class->finalize = vireo_libvirt_display_finalize;
}

static void
vireo_libvirt_display_init (VireoLibvirtDisplay *self)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *header = adw_header_bar_new ();

  self->title = ADW_WINDOW_TITLE (adw_window_title_new ("", NULL));
  adw_header_bar_set_title_widget (ADW_HEADER_BAR (header), GTK_WIDGET (self->title));
  gtk_box_append (GTK_BOX (box), header);

  self->stack = GTK_STACK (gtk_stack_new ());
  gtk_widget_set_vexpand (GTK_WIDGET (self->stack), TRUE);
  self->display = VIREO_DISPLAY (vireo_display_new ());
  gtk_stack_add_named (self->stack, GTK_WIDGET (self->display), "display");
  self->status = ADW_STATUS_PAGE (adw_status_page_new ());
  adw_status_page_set_icon_name (self->status, "computer-symbolic");
  gtk_stack_add_named (self->stack, GTK_WIDGET (self->status), "message");
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->stack));
  g_signal_connect (self->display, "notify::state", G_CALLBACK (on_display_state), self);

  adw_window_set_content (ADW_WINDOW (self), box);
  gtk_window_set_default_size (GTK_WINDOW (self), 1024, 800);
}

GtkWindow *
vireo_libvirt_display_new (VireoLibvirtDomain *domain)
{
  VireoLibvirtDisplay *self;
  VireoLibvirtHost *host;

  g_return_val_if_fail (VIREO_IS_LIBVIRT_DOMAIN (domain), NULL);

  self = g_object_new (VIREO_TYPE_LIBVIRT_DISPLAY, NULL);
  host = vireo_libvirt_domain_get_host (domain);
  self->domain = g_object_ref (domain);
  gtk_window_set_title (GTK_WINDOW (self), vireo_libvirt_domain_get_name (domain));
  adw_window_title_set_title (self->title, vireo_libvirt_domain_get_name (domain));
  if (host)
    adw_window_title_set_subtitle (self->title, vireo_libvirt_host_get_title (host));
  g_signal_connect (domain, "notify::state", G_CALLBACK (on_domain_state), self);
  read_graphics (self);
  update (self);
  return GTK_WINDOW (self);
}

VireoLibvirtDomain *
vireo_libvirt_display_get_domain (VireoLibvirtDisplay *self)
{
  g_return_val_if_fail (VIREO_IS_LIBVIRT_DISPLAY (self), NULL);
  return self->domain;
}

VireoDisplay *
vireo_libvirt_display_get_display (VireoLibvirtDisplay *self)
{
  g_return_val_if_fail (VIREO_IS_LIBVIRT_DISPLAY (self), NULL);
  return self->display;
}

const char *
vireo_libvirt_display_get_message (VireoLibvirtDisplay *self)
{
  g_return_val_if_fail (VIREO_IS_LIBVIRT_DISPLAY (self), NULL);
  return self->message;
}
