/* spice-test-client.c — the SPICE tests' client: a spice-client-glib session whose channels connect through
 * an fd the test opens, or a unix socket; its primary surface compared with what the server was given. */
#include "spice-test-client.h"

/* --- a spice-client-glib client --- */

int
client_new_connection (Client *client)
{
  g_autoptr (GError) error = NULL;
  int fd = client->open (client->open_data, &error);

  g_assert_no_error (error);
  g_assert_cmpint (fd, >=, 0);
  return fd;
}

static void
on_open_fd (SpiceChannel *channel, int with_tls, Client *client)
{
  spice_channel_open_fd (channel, client_new_connection (client));
}

static void
on_primary_create (SpiceChannel *channel, int format, int width, int height, int stride, int shmid,
                   gpointer data, Client *client)
{
  g_assert_cmpint (format, ==, SPICE_SURFACE_FMT_32_xRGB);
  client->primary_creates++;
}

static void
on_primary_destroy (SpiceChannel *channel, Client *client)
{
  client->primary_destroys++;
}

static void
on_invalidate (SpiceChannel *channel, int x, int y, int width, int height, Client *client)
{
  client->invalidates++;
}

static void
on_inputs_event (SpiceChannel *channel, SpiceChannelEvent event, Client *client)
{
  if (event == SPICE_CHANNEL_OPENED)
    client->inputs_open = TRUE;
}

static void
on_channel_new (SpiceSession *session, SpiceChannel *channel, Client *client)
{
  if (client->open)
    g_signal_connect (channel, "open-fd", G_CALLBACK (on_open_fd), client);

  if (SPICE_IS_MAIN_CHANNEL (channel))
    client->main = SPICE_MAIN_CHANNEL (channel);
  else if (SPICE_IS_DISPLAY_CHANNEL (channel))
    {
      client->display = SPICE_DISPLAY_CHANNEL (channel);
      g_signal_connect (channel, "display-primary-create", G_CALLBACK (on_primary_create), client);
      g_signal_connect (channel, "display-primary-destroy", G_CALLBACK (on_primary_destroy), client);
      g_signal_connect (channel, "display-invalidate", G_CALLBACK (on_invalidate), client);
      spice_channel_connect (channel);
    }
  else if (SPICE_IS_INPUTS_CHANNEL (channel))
    {
      client->inputs = SPICE_INPUTS_CHANNEL (channel);
      g_signal_connect (channel, "channel-event", G_CALLBACK (on_inputs_event), client);
      spice_channel_connect (channel);
    }
}

void
client_init (Client *client)
{
  memset (client, 0, sizeof *client);
  client->session = spice_session_new ();
  g_signal_connect (client->session, "channel-new", G_CALLBACK (on_channel_new), client);
}

/* Connects through a connection from @open, and further ones for each channel. */
void
client_open (Client *client, OpenFunc open, gpointer data)
{
  client_init (client);
  client->open = open;
  client->open_data = data;
  g_assert_true (spice_session_open_fd (client->session, client_new_connection (client)));
}

void
client_connect_unix (Client *client, const char *path)
{
  client_init (client);
  g_object_set (client->session, "unix-path", path, NULL);
  g_assert_true (spice_session_connect (client->session));
}

void
client_close (Client *client)
{
  spice_session_disconnect (client->session);
  /* Let the channels wind down before the session goes. */
  for (int i = 0; i < 50 && g_main_context_pending (NULL); i++)
    g_main_context_iteration (NULL, FALSE);
  g_clear_object (&client->session);
}

gboolean
client_get_primary (Client *client, SpiceDisplayPrimary *primary)
{
  return client->display && spice_display_channel_get_primary (SPICE_CHANNEL (client->display), 0, primary);
}

gboolean
client_has_size (Client *client, int width, int height)
{
  SpiceDisplayPrimary primary;
  return client_get_primary (client, &primary) && primary.width == width && primary.height == height;
}

/* The client's copy of the screen equals @pixels (xRGB, @width x @height), the X byte aside. */
gboolean
client_shows (Client *client, const uint32_t *pixels, int width, int height)
{
  SpiceDisplayPrimary primary;

  if (!client_get_primary (client, &primary) || primary.width != width || primary.height != height)
    return FALSE;
  for (int y = 0; y < height; y++)
    {
      const uint32_t *row = (const uint32_t *) (primary.data + (gsize) y * primary.stride);
      for (int x = 0; x < width; x++)
        if ((row[x] & 0xffffff) != (pixels[y * width + x] & 0xffffff))
          return FALSE;
    }
  return TRUE;
}

int
client_mouse_mode (Client *client)
{
  int mode = 0;
  if (client->main)
    g_object_get (client->main, "mouse-mode", &mode, NULL);
  return mode;
}

/* spice-server warns when a client goes away abruptly ("Connection reset by peer"), which closing a
 * client with data in flight does, and when it cannot listen, which a test provokes: its warnings go to
 * stderr and are no failures. */
void
print_spice_warning (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  g_printerr ("%s-WARNING: %s\n", domain, message);
}

static gboolean
on_fatal_log (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  return !(g_strcmp0 (domain, "Spice") == 0 && (level & G_LOG_LEVEL_WARNING));
}

/* GLib resets the fatal handler for every test. */
void
tolerate_spice_warnings (void)
{
  g_test_log_set_fatal_handler (on_fatal_log, NULL);
}

char *
make_socket_path (char **dir)
{
  g_autoptr (GError) error = NULL;

  *dir = g_dir_make_tmp ("vireo-spice-XXXXXX", &error);
  g_assert_no_error (error);
  return g_build_filename (*dir, "display.sock", NULL);
}

/* Reads a binary PPM (P6, maxval 255) as xRGB. */
uint32_t *
read_ppm (const char *path, int *width, int *height)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *data = NULL;
  gsize length;
  int maxval, header = 0;
  uint32_t *pixels;

  g_file_get_contents (path, &data, &length, &error);
  g_assert_no_error (error);
  g_assert_cmpint (sscanf (data, "P6 %d %d %d%n", width, height, &maxval, &header), ==, 3);
  g_assert_cmpint (maxval, ==, 255);
  header++; /* the one whitespace byte after maxval */
  g_assert_cmpuint (length, >=, (gsize) header + (gsize) *width * *height * 3);
  pixels = g_new (uint32_t, (gsize) *width * *height);
  for (gsize i = 0; i < (gsize) *width * *height; i++)
    {
      const guint8 *rgb = (const guint8 *) data + header + i * 3;
      pixels[i] = (uint32_t) rgb[0] << 16 | (uint32_t) rgb[1] << 8 | rgb[2];
    }
  return pixels;
}

/* What spicy-screenshot, a stock client, is shown on the SPICE socket @path (1024x768 expected), as xRGB;
 * its file goes into @dir and is removed again. */
uint32_t *
take_screenshot (const char *tool, const char *path, const char *dir)
{
  g_autofree char *uri = g_strconcat ("spice+unix://", path, NULL);
  g_autofree char *ppm = g_build_filename (dir, "shot.ppm", NULL);
  g_autoptr (GError) error = NULL;
  uint32_t *shot;
  int status, width, height;

  g_spawn_sync (NULL, (char *[]){ (char *) tool, (char *) "--uri", uri, (char *) "--out-file", ppm, NULL },
                NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status, &error);
  g_assert_no_error (error);
  g_spawn_check_wait_status (status, &error);
  g_assert_no_error (error);
  shot = read_ppm (ppm, &width, &height);
  g_assert_cmpint (width, ==, 1024);
  g_assert_cmpint (height, ==, 768);
  g_assert_no_errno (unlink (ppm));
  return shot;
}

/* In sanitizer builds: GLib allocates its first block of quarks while it is loaded and drops it on
 * purpose when the quarks outgrow it, which this test's many GObject types do.  Full stacks let the
 * suppression find that allocation (GLib has no frame pointers for the fast unwinder). */
const char *__asan_default_options (void);
const char *__lsan_default_suppressions (void);

const char *
__asan_default_options (void)
{
  return "fast_unwind_on_malloc=0";
}

const char *
__lsan_default_suppressions (void)
{
  return "leak:_dl_init\n";
}
