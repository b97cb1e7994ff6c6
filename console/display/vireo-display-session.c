/* vireo-display-session.c — VireoDisplay's SPICE session: over the machine's display streams (one per channel),
 * a unix socket or the caller's opener (one fd per channel too), its main, display and inputs channels, the
 * surface it shows, why it ended, and reconnection with backoff while the machine runs (a guest reboot
 * starts a new display server). */
#include "vireo-display-private.h"

#include <gio/gunixfdlist.h>
#include <glib/gi18n.h>
#include <unistd.h>

/* Reconnection after a lost connection: the first retry comes soon (a rebooting guest's new display
 * server is up within moments), later ones back off to this. */
#define RETRY_FIRST_MS VIREO_DISPLAY_RETRY_FIRST_MS
#define RETRY_MAX_MS   5000

static void session_teardown (VireoDisplay *self);
static void request_session (VireoDisplay *self);

/* --- the SPICE session --- */

/* A client that connects to a running machine is sent its screen right after the new surface, but that
 * picture may be written into the primary without a display-invalidate, and a connection that overlaps
 * another client's going away can be left without it.  So a new surface is re-read a few times until a
 * picture is announced, and a surface that stays blank and unannounced gets one fresh connection. */
#define SETTLE_INTERVAL_MS 250
#define SETTLE_TICKS       12
#define SETTLE_RECONNECTS  1

static void retry_or_give_up (VireoDisplay *self);

static void
damage_all (VireoDisplay *self)
{
  vireo_frame_damage (self->frame, 0, 0, vireo_frame_get_width (self->frame),
                      vireo_frame_get_height (self->frame));
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* Whether the primary holds nothing but black: a surface that never got its first picture. */
static gboolean
primary_is_blank (VireoDisplay *self)
{
  SpiceDisplayPrimary primary;

  if (self->display == NULL || !spice_display_channel_get_primary (SPICE_CHANNEL (self->display), 0, &primary)
      || primary.data == NULL || primary.stride <= 0)
    return FALSE;
  for (int y = 0; y < primary.height; y++)
    {
      const guint8 *row = primary.data + (gsize) y * primary.stride;
      for (int x = 0; x < primary.width * 4 && x < primary.stride; x++)
        if (row[x] != 0 && (x & 3) != 3) /* the X byte of xRGB may hold anything */
          return FALSE;
    }
  return TRUE;
}

static gboolean
settle_tick (gpointer data)
{
  VireoDisplay *self = data;

  if (!self->have_surface || self->picture_seen)
    {
      self->settle_source = 0;
      return G_SOURCE_REMOVE;
    }
  damage_all (self);
  if (++self->settle_ticks < SETTLE_TICKS)
    return G_SOURCE_CONTINUE;
  self->settle_source = 0;
  /* Silent but there: the picture came without an announcement.  Blank: it never came. */
  if (self->machine && self->settle_reconnects < SETTLE_RECONNECTS && primary_is_blank (self))
    {
      self->settle_reconnects++;
      session_teardown (self);
      self->have_surface = FALSE;
      retry_or_give_up (self);
    }
  return G_SOURCE_REMOVE;
}

static void
picture_arrived (VireoDisplay *self)
{
  self->picture_seen = TRUE;
  self->settle_reconnects = 0;
  g_clear_handle_id (&self->settle_source, g_source_remove);
}

/* Connected is when the guest's screen is there and what the user types reaches it: the inputs channel
 * may open after the display's first surface (on a loaded host, by seconds), and keys sent before it are
 * lost. */
static void
maybe_connected (VireoDisplay *self)
{
  GtkWidget *widget = GTK_WIDGET (self);

  if (!self->have_surface || !self->inputs_ready || self->state == VIREO_DISPLAY_CONNECTED)
    return;
  vireo_display_update_state (self, VIREO_DISPLAY_CONNECTED);
  if (gtk_widget_has_focus (widget) && self->root && gtk_window_is_active (GTK_WINDOW (self->root)))
    vireo_display_grab_keyboard (self);
}

static void
on_primary_create (SpiceChannel *channel, int format, int width, int height, int stride, int shmid,
                   gpointer data, VireoDisplay *self)
{
  GtkWidget *widget = GTK_WIDGET (self);

  if (!vireo_frame_format_supported (format) || !vireo_frame_set_size (self->frame, width, height))
    {
      g_autofree char *message = g_strdup_printf (
          _ ("The machine’s screen (%d × %d, format %d) cannot be shown"), width, height, format);
      self->have_surface = FALSE;
      vireo_frame_clear (self->frame);
      vireo_display_update_guest_size (self, 0, 0);
      vireo_display_update_error (self, message);
      gtk_widget_queue_draw (widget);
      return;
    }
  self->have_surface = TRUE;
  self->have_pointer = FALSE;
  self->picture_seen = FALSE;
  self->settle_ticks = 0;
  g_clear_handle_id (&self->settle_source, g_source_remove);
  self->settle_source = g_timeout_add (SETTLE_INTERVAL_MS, settle_tick, self);
  vireo_display_update_guest_size (self, width, height);
  self->retry_delay_ms = RETRY_FIRST_MS;
  vireo_display_update_error (self, NULL);
  gtk_widget_queue_draw (widget);
  maybe_connected (self);
}

static void
on_primary_destroy (SpiceChannel *channel, VireoDisplay *self)
{
  /* The frame keeps the last picture until the next surface (a mode change, a reconnect) replaces it. */
  self->have_surface = FALSE;
}

/* The server marks the surface once its first full picture has been sent. */
static void
on_mark (SpiceChannel *channel, gboolean mark, VireoDisplay *self)
{
  if (!self->have_surface || !mark)
    return;
  picture_arrived (self);
  damage_all (self);
}

static void
on_invalidate (SpiceChannel *channel, int x, int y, int width, int height, VireoDisplay *self)
{
  if (!self->have_surface)
    return;
  if (!self->picture_seen)
    {
      /* The first picture of a surface: all of it, whatever the first rectangle covers. */
      picture_arrived (self);
      damage_all (self);
      return;
    }
  vireo_frame_damage (self->frame, x, y, width, height);
  /* Coalesced: the frame clock draws at most once a frame, and the draw rebuilds what is damaged. */
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* Brings the frame up to date with the display channel's surface. */
void
vireo_display_update_frame (VireoDisplay *self)
{
  SpiceDisplayPrimary primary;

  if (!self->have_surface || self->display == NULL || !vireo_frame_is_damaged (self->frame))
    return;
  if (!spice_display_channel_get_primary (SPICE_CHANNEL (self->display), 0, &primary)
      || primary.width != vireo_frame_get_width (self->frame)
      || primary.height != vireo_frame_get_height (self->frame) || primary.stride <= 0)
    return;
  vireo_frame_update (self->frame, primary.format, primary.data, (gsize) primary.stride);
}

static void
update_mouse_mode (VireoDisplay *self)
{
  int mode = 0;

  if (self->main == NULL)
    return;
  g_object_get (self->main, "mouse-mode", &mode, NULL);
  self->mouse_mode = mode;
  self->have_pointer = FALSE;
  /* Absolute positions need no pointer grab and match the host's pointer; ask once per session, the
   * server stays in server mode when the machine has no tablet. */
  if (mode != SPICE_MOUSE_MODE_CLIENT && !self->asked_client_mouse)
    {
      self->asked_client_mouse = TRUE;
      spice_main_channel_request_mouse_mode (self->main, SPICE_MOUSE_MODE_CLIENT);
    }
}

static void
on_mouse_update (SpiceChannel *channel, VireoDisplay *self)
{
  update_mouse_mode (self);
}

/* The first reason a session gives for ending is the one the user hears. */
static void
session_failed (VireoDisplay *self, SpiceChannel *channel, SpiceChannelEvent event)
{
  const GError *detail = spice_channel_get_error (channel);
  g_autofree char *message = NULL;
  const char *what;

  if (self->session_failed)
    return;
  self->session_failed = TRUE;
  switch (event)
    {
    case SPICE_CHANNEL_ERROR_CONNECT:
      what = _ ("Could not connect to the machine’s display");
      break;
    case SPICE_CHANNEL_ERROR_TLS:
    case SPICE_CHANNEL_ERROR_LINK:
    case SPICE_CHANNEL_ERROR_AUTH:
      what = _ ("The machine’s display refused the connection");
      break;
    default:
      what = _ ("The connection to the machine’s display was lost");
      break;
    }
  if (detail && detail->message && *detail->message)
    message = g_strdup_printf ("%s: %s", what, detail->message);
  else
    message = g_strdup (what);
  vireo_display_update_error (self, message);
}

static void
on_channel_event (SpiceChannel *channel, SpiceChannelEvent event, VireoDisplay *self)
{
  switch (event)
    {
    case SPICE_CHANNEL_OPENED:
      if (channel == SPICE_CHANNEL (self->inputs))
        {
          self->inputs_ready = TRUE;
          maybe_connected (self);
        }
      else if (channel == SPICE_CHANNEL (self->main))
        update_mouse_mode (self);
      break;
    case SPICE_CHANNEL_CLOSED:
    case SPICE_CHANNEL_ERROR_CONNECT:
    case SPICE_CHANNEL_ERROR_TLS:
    case SPICE_CHANNEL_ERROR_LINK:
    case SPICE_CHANNEL_ERROR_AUTH:
    case SPICE_CHANNEL_ERROR_IO:
      /* A session that lost its main, display or inputs channel is no use: end it, and the
       * "disconnected" handler decides whether to try again. */
      if (channel == SPICE_CHANNEL (self->inputs))
        self->inputs_ready = FALSE;
      session_failed (self, channel, event);
      spice_session_disconnect (self->session);
      break;
    default:
      break;
    }
}

/* A stream asked for: the session's first (@channel NULL) or a channel's. */
typedef struct
{
  VireoDisplay *self;
  VireoDBusMachine *machine; /* counted in calls_in_flight */
  SpiceChannel *channel;
} FdRequest;

static FdRequest *
fd_request_new (VireoDisplay *self, SpiceChannel *channel)
{
  FdRequest *request = g_new0 (FdRequest, 1);

  request->self = g_object_ref (self);
  request->machine = self->machine ? g_object_ref (self->machine) : NULL;
  request->channel = channel ? g_object_ref (channel) : NULL;
  return request;
}

static void
fd_request_free (FdRequest *request)
{
  g_object_unref (request->self);
  g_clear_object (&request->machine);
  g_clear_object (&request->channel);
  g_free (request);
}

/* OpenDisplay calls in flight, by machine.  The worker adds each reply's socket to the machine's SPICE
 * server before it answers, and the server serves one client at a time: a display that starts a session
 * while another display's call for the same machine is still in flight waits for it, or that late
 * socket (of a display being closed — the manager's thumbnail as the connection window opens) would take
 * the server from the new session, whose input would then be lost until it reconnected. */
static GHashTable *calls_in_flight; /* object path → count */

#define IN_FLIGHT_WAIT_MS 20

static guint
calls_pending (VireoDBusMachine *machine)
{
  const char *path = g_dbus_proxy_get_object_path (G_DBUS_PROXY (machine));
  return calls_in_flight ? GPOINTER_TO_UINT (g_hash_table_lookup (calls_in_flight, path)) : 0;
}

static void
count_call (VireoDBusMachine *machine, int delta)
{
  const char *path = g_dbus_proxy_get_object_path (G_DBUS_PROXY (machine));
  guint count = calls_pending (machine) + (guint) delta;

  if (calls_in_flight == NULL)
    calls_in_flight = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  if (count == 0)
    g_hash_table_remove (calls_in_flight, path);
  else
    g_hash_table_insert (calls_in_flight, g_strdup (path), GUINT_TO_POINTER (count));
}

/* A new stream to the machine's display, from the display's stream source or the machine's own bus. */
static void
call_open_display (VireoDisplay *self, GAsyncReadyCallback callback, gpointer data)
{
  count_call (self->machine, +1);
  if (self->streams)
    vireo_stream_source_open (self->streams, self->machine, VIREO_STREAM_DISPLAY, self->cancellable, callback,
                              data);
  else
    vireo_stream_open_local (self->machine, VIREO_STREAM_DISPLAY, self->cancellable, callback, data);
}

/* The stream's fd, or -1 with @error set (its message for the user).  @source is the call's source: the
 * stream source, or the machine. */
static int
open_display_finish (GObject *source, GAsyncResult *result, GError **error)
{
  if (VIREO_IS_STREAM_SOURCE (source))
    return vireo_stream_source_open_finish (VIREO_STREAM_SOURCE (source), result, error);
  return vireo_stream_open_local_finish (result, error);
}

/* The fd @request got: a stream of the machine's display (its call counted done), or from open_with()'s
 * opener when the display has no machine. */
static int
request_fd_finish (FdRequest *request, GObject *source, GAsyncResult *result, GError **error)
{
  int fd;

  if (request->machine == NULL)
    return g_task_propagate_int (G_TASK (result), error);
  fd = open_display_finish (source, result, error);
  count_call (request->machine, -1);
  return fd;
}

static void
on_channel_fd (GObject *source, GAsyncResult *result, gpointer data)
{
  FdRequest *request = data;
  VireoDisplay *self = request->self;
  g_autoptr (GError) error = NULL;
  int fd = request_fd_finish (request, source, result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      fd_request_free (request);
      return;
    }
  if (fd < 0)
    {
      g_autofree char *message = NULL;

      g_dbus_error_strip_remote_error (error);
      message = g_strdup_printf (_ ("Could not connect to the machine’s display: %s"), error->message);
      if (!self->session_failed)
        vireo_display_update_error (self, message);
      self->session_failed = TRUE;
      spice_session_disconnect (self->session);
    }
  else if (!spice_channel_open_fd (request->channel, fd))
    {
      close (fd);
      spice_session_disconnect (self->session);
    }
  fd_request_free (request);
}

static void
on_open_fd (SpiceChannel *channel, int with_tls, VireoDisplay *self)
{
  FdRequest *request;

  if (self->machine == NULL && self->open_func == NULL)
    return;
  /* Every channel is a connection of its own to the machine's display server. */
  request = fd_request_new (self, channel);
  if (self->open_func)
    self->open_func (self->open_data, self->cancellable, on_channel_fd, request);
  else
    call_open_display (self, on_channel_fd, request);
}

static void
forget_channel (VireoDisplay *self, SpiceChannel *channel)
{
  g_signal_handlers_disconnect_by_data (channel, self);
  if (channel == SPICE_CHANNEL (self->main))
    {
      self->main = NULL;
      self->mouse_mode = 0;
    }
  else if (channel == SPICE_CHANNEL (self->display))
    {
      self->display = NULL;
      self->have_surface = FALSE;
    }
  else if (channel == SPICE_CHANNEL (self->inputs))
    {
      self->inputs = NULL;
      self->inputs_ready = FALSE;
    }
}

static void
on_channel_new (SpiceSession *session, SpiceChannel *channel, VireoDisplay *self)
{
  int id = 0;

  g_ptr_array_add (self->channels, g_object_ref (channel));
  if (self->machine || self->open_func)
    g_signal_connect (channel, "open-fd", G_CALLBACK (on_open_fd), self);
  g_object_get (channel, "channel-id", &id, NULL);

  if (SPICE_IS_MAIN_CHANNEL (channel))
    {
      self->main = SPICE_MAIN_CHANNEL (channel);
      g_signal_connect (channel, "channel-event", G_CALLBACK (on_channel_event), self);
      g_signal_connect (channel, "main-mouse-update", G_CALLBACK (on_mouse_update), self);
    }
  else if (SPICE_IS_DISPLAY_CHANNEL (channel) && id == 0 && self->display == NULL)
    {
      /* The first monitor only: our machines have one. */
      self->display = SPICE_DISPLAY_CHANNEL (channel);
      g_signal_connect (channel, "channel-event", G_CALLBACK (on_channel_event), self);
      g_signal_connect (channel, "display-primary-create", G_CALLBACK (on_primary_create), self);
      g_signal_connect (channel, "display-primary-destroy", G_CALLBACK (on_primary_destroy), self);
      g_signal_connect (channel, "display-invalidate", G_CALLBACK (on_invalidate), self);
      g_signal_connect (channel, "display-mark", G_CALLBACK (on_mark), self);
      spice_channel_connect (channel);
    }
  else if (SPICE_IS_INPUTS_CHANNEL (channel) && self->inputs == NULL)
    {
      self->inputs = SPICE_INPUTS_CHANNEL (channel);
      g_signal_connect (channel, "channel-event", G_CALLBACK (on_channel_event), self);
      spice_channel_connect (channel);
    }
}

static void
on_channel_destroy (SpiceSession *session, SpiceChannel *channel, VireoDisplay *self)
{
  forget_channel (self, channel);
  g_ptr_array_remove (self->channels, channel);
}

static gboolean
machine_is_up (VireoDisplay *self)
{
  const char *state = self->machine ? vireo_dbus_machine_get_state (self->machine) : NULL;
  return g_strcmp0 (state, "running") == 0 || g_strcmp0 (state, "paused") == 0
         || g_strcmp0 (state, "starting") == 0;
}

static gboolean
retry_timeout (gpointer data)
{
  VireoDisplay *self = data;

  self->retry_source = 0;
  request_session (self);
  return G_SOURCE_REMOVE;
}

/* Tries again later while the machine runs; otherwise that was it. */
static void
retry_or_give_up (VireoDisplay *self)
{
  if (self->machine && machine_is_up (self))
    {
      vireo_display_update_state (self, VIREO_DISPLAY_CONNECTING);
      g_clear_handle_id (&self->retry_source, g_source_remove);
      self->retry_source = g_timeout_add (self->retry_delay_ms, retry_timeout, self);
      self->retry_delay_ms = MIN (self->retry_delay_ms * 2, RETRY_MAX_MS);
      return;
    }
  if (self->machine)
    {
      /* The machine's state says better than a closed socket why there is nothing to show. */
      const char *state = vireo_dbus_machine_get_state (self->machine);

      if (g_strcmp0 (state, "off") == 0)
        vireo_display_update_error (self, _ ("The machine is turned off"));
      else if (g_strcmp0 (state, "saved") == 0)
        vireo_display_update_error (self, _ ("The machine is saved"));
      else if (g_strcmp0 (state, "crashed") == 0)
        vireo_display_update_error (self, _ ("The machine stopped unexpectedly"));
      else
        vireo_display_update_error (self, _ ("The machine is not running"));
    }
  vireo_display_update_state (self, VIREO_DISPLAY_DISCONNECTED);
}

static void
on_session_disconnected (SpiceSession *session, VireoDisplay *self)
{
  session_teardown (self);
  retry_or_give_up (self);
}

static void
session_create (VireoDisplay *self)
{
  self->session = spice_session_new ();
  self->session_failed = FALSE;
  self->asked_client_mouse = FALSE;
  g_signal_connect (self->session, "channel-new", G_CALLBACK (on_channel_new), self);
  g_signal_connect (self->session, "channel-destroy", G_CALLBACK (on_channel_destroy), self);
  g_signal_connect (self->session, "disconnected", G_CALLBACK (on_session_disconnected), self);
}

/* Ends the session without a word to anyone: no handler of ours runs for it any more. */
static void
session_teardown (VireoDisplay *self)
{
  g_clear_handle_id (&self->settle_source, g_source_remove);
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();

  vireo_display_release_keyboard (self);
  vireo_display_stop_typing (self);
  memset (self->pressed, 0, sizeof self->pressed);
  self->buttons = 0;
  self->have_pointer = FALSE;

  while (self->channels->len > 0)
    {
      SpiceChannel *channel = g_ptr_array_index (self->channels, self->channels->len - 1);
      forget_channel (self, channel);
      g_ptr_array_remove_index (self->channels, self->channels->len - 1);
    }
  if (self->session)
    {
      g_signal_handlers_disconnect_by_data (self->session, self);
      spice_session_disconnect (self->session);
      g_clear_object (&self->session);
    }
}

static gboolean
error_is_final (const GError *error)
{
  g_autofree char *name = g_dbus_error_get_remote_error (error);
  static const char *const final[] = {
    "org.vireo.Vireo1.Error.NotSupported",
    "org.vireo.Vireo1.Error.PermissionDenied",
    "org.vireo.Vireo1.Error.NotFound",
    "org.vireo.Vireo1.Error.InvalidArgument",
  };

  for (gsize i = 0; name && i < G_N_ELEMENTS (final); i++)
    if (g_str_equal (name, final[i]))
      return TRUE;
  return FALSE;
}

static void
on_session_fd (GObject *source, GAsyncResult *result, gpointer data)
{
  FdRequest *request = data;
  g_autoptr (VireoDisplay) self = g_object_ref (request->self);
  g_autoptr (GError) error = NULL;
  int fd = request_fd_finish (request, source, result, &error);

  fd_request_free (request);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (fd < 0)
    {
      gboolean final = error_is_final (error);

      g_dbus_error_strip_remote_error (error);
      vireo_display_update_error (self, error->message);
      if (final)
        vireo_display_update_state (self, VIREO_DISPLAY_DISCONNECTED);
      else
        retry_or_give_up (self);
      return;
    }
  session_create (self);
  if (!spice_session_open_fd (self->session, fd))
    {
      close (fd);
      session_teardown (self);
      vireo_display_update_error (self, _ ("Could not connect to the machine’s display"));
      retry_or_give_up (self);
    }
}

/* A new session through the machine's first display stream. */
static void
request_session (VireoDisplay *self)
{
  if (self->open_func)
    {
      vireo_display_update_state (self, VIREO_DISPLAY_CONNECTING);
      self->open_func (self->open_data, self->cancellable, on_session_fd, fd_request_new (self, NULL));
      return;
    }
  if (!machine_is_up (self))
    {
      retry_or_give_up (self);
      return;
    }
  vireo_display_update_state (self, VIREO_DISPLAY_CONNECTING);
  if (calls_pending (self->machine) > 0)
    {
      /* Another display's socket is on its way to the server: let it arrive (and go) first. */
      g_clear_handle_id (&self->retry_source, g_source_remove);
      self->retry_source = g_timeout_add (IN_FLIGHT_WAIT_MS, retry_timeout, self);
      return;
    }
  call_open_display (self, on_session_fd, fd_request_new (self, NULL));
}

static void
on_machine_state (VireoDBusMachine *machine, GParamSpec *pspec, VireoDisplay *self)
{
  gboolean up = machine_is_up (self);
  gboolean was_up = self->machine_was_up;

  self->machine_was_up = up;
  if (self->session != NULL)
    return; /* the session ends by itself when the machine's display server does */
  if (!up && self->retry_source != 0)
    {
      /* Waiting to retry, and now there is nothing to retry for. */
      g_clear_handle_id (&self->retry_source, g_source_remove);
      g_cancellable_cancel (self->cancellable);
      g_clear_object (&self->cancellable);
      self->cancellable = g_cancellable_new ();
      retry_or_give_up (self);
    }
  else if (up && !was_up && self->state == VIREO_DISPLAY_DISCONNECTED)
    {
      /* Started again while we were showing it stopped. */
      self->retry_delay_ms = RETRY_FIRST_MS;
      request_session (self);
    }
}

void
vireo_display_close (VireoDisplay *self)
{
  g_return_if_fail (VIREO_IS_DISPLAY (self));

  g_clear_handle_id (&self->retry_source, g_source_remove);
  session_teardown (self);
  if (self->machine)
    {
      g_signal_handlers_disconnect_by_data (self->machine, self);
      g_clear_object (&self->machine);
    }
  g_clear_object (&self->streams);
  g_clear_pointer (&self->socket_path, g_free);
  if (self->open_destroy)
    self->open_destroy (self->open_data);
  self->open_func = NULL;
  self->open_data = NULL;
  self->open_destroy = NULL;
  self->have_surface = FALSE;
  vireo_frame_clear (self->frame);
  vireo_display_update_guest_size (self, 0, 0);
  vireo_display_update_error (self, NULL);
  vireo_display_update_state (self, VIREO_DISPLAY_DISCONNECTED);
  self->retry_delay_ms = RETRY_FIRST_MS;
  self->settle_reconnects = 0;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
vireo_display_open_machine (VireoDisplay *self, VireoDBusMachine *machine, VireoStreamSource *streams)
{
  g_return_if_fail (VIREO_IS_DISPLAY (self));
  g_return_if_fail (VIREO_DBUS_IS_MACHINE (machine));
  g_return_if_fail (streams == NULL || VIREO_IS_STREAM_SOURCE (streams));

  vireo_display_close (self);
  self->machine = g_object_ref (machine);
  self->streams = streams ? g_object_ref (streams) : NULL;
  self->machine_was_up = machine_is_up (self);
  g_signal_connect (machine, "notify::state", G_CALLBACK (on_machine_state), self);
  vireo_display_update_state (self, VIREO_DISPLAY_CONNECTING);
  request_session (self);
}

void
vireo_display_open_path (VireoDisplay *self, const char *socket_path)
{
  g_return_if_fail (VIREO_IS_DISPLAY (self));
  g_return_if_fail (socket_path != NULL);

  vireo_display_close (self);
  self->socket_path = g_strdup (socket_path);
  session_create (self);
  g_object_set (self->session, "unix-path", socket_path, NULL);
  vireo_display_update_state (self, VIREO_DISPLAY_CONNECTING);
  if (!spice_session_connect (self->session))
    {
      session_teardown (self);
      vireo_display_update_error (self, _ ("Could not connect to the machine’s display"));
      vireo_display_update_state (self, VIREO_DISPLAY_DISCONNECTED);
    }
}

void
vireo_display_open_with (VireoDisplay *self, VireoDisplayOpenFunc open, gpointer data, GDestroyNotify destroy)
{
  g_return_if_fail (VIREO_IS_DISPLAY (self));
  g_return_if_fail (open != NULL);

  vireo_display_close (self);
  self->open_func = open;
  self->open_data = data;
  self->open_destroy = destroy;
  request_session (self);
}

int
vireo_display_get_mouse_mode (VireoDisplay *self)
{
  g_return_val_if_fail (VIREO_IS_DISPLAY (self), 0);
  return self->mouse_mode;
}

gboolean
vireo_display_get_inputs_ready (VireoDisplay *self)
{
  g_return_val_if_fail (VIREO_IS_DISPLAY (self), FALSE);
  return self->inputs_ready;
}
