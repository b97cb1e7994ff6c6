/* test-spice.c — the SPICE server (hypervisor/display/spice-*.c) seen by a spice-client-glib client: with a
 * fake display driven from the test (no KVM), then with a VM running the display test guest, in this
 * process, under vireo-run --display and behind vireo-worker's OpenDisplay. */
#include "test-util.h"
#include "display/spice.h"
#include "vireo-worker-generated.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <signal.h>
#include <spice-client.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Generous: a deadline only keeps a broken test from hanging, it is not a timing assertion. */
#define WAIT_SECONDS 60

#define WAIT_FOR(condition, what) VIREO_TEST_WAIT_FOR (condition, what, WAIT_SECONDS)

/* --- a display driven by the test --- */

typedef struct
{
  uint32_t x, y, buttons;
} TabletEvent;

typedef struct
{
  GMutex lock;
  HvDisplayMode mode;
  uint32_t *pixels; /* mode.width x mode.height, xRGB */
  GArray *dirty;    /* HvRect written since the server last asked */
  gboolean whole;   /* the next collect reports the whole screen (after a mode change) */
  GArray *keys;     /* uint8_t fragments the server delivered */
  GArray *tablet;   /* TabletEvent */
  GArray *wheel;    /* int32_t steps */
} FakeDisplay;

static void
fake_get_mode (void *opaque, HvDisplayMode *mode)
{
  FakeDisplay *fake = opaque;
  g_mutex_lock (&fake->lock);
  *mode = fake->mode;
  g_mutex_unlock (&fake->lock);
}

static unsigned
fake_collect_dirty (void *opaque, HvRect *rects, unsigned max_rects)
{
  FakeDisplay *fake = opaque;
  unsigned n = 0;

  g_mutex_lock (&fake->lock);
  if (fake->whole && fake->mode.enabled && max_rects > 0)
    rects[n++] = (HvRect){ 0, 0, fake->mode.width, fake->mode.height };
  else
    for (unsigned i = 0; i < fake->dirty->len && n < max_rects; i++)
      rects[n++] = g_array_index (fake->dirty, HvRect, i);
  fake->whole = FALSE;
  g_array_set_size (fake->dirty, 0);
  g_mutex_unlock (&fake->lock);
  return n;
}

static void
fake_key (void *opaque, uint8_t fragment)
{
  FakeDisplay *fake = opaque;
  g_mutex_lock (&fake->lock);
  g_array_append_val (fake->keys, fragment);
  g_mutex_unlock (&fake->lock);
}

static void
fake_tablet (void *opaque, uint32_t x, uint32_t y, uint32_t buttons)
{
  FakeDisplay *fake = opaque;
  TabletEvent event = { x, y, buttons };
  g_mutex_lock (&fake->lock);
  g_array_append_val (fake->tablet, event);
  g_mutex_unlock (&fake->lock);
}

static void
fake_wheel (void *opaque, int32_t steps, uint32_t buttons)
{
  FakeDisplay *fake = opaque;
  g_mutex_lock (&fake->lock);
  g_array_append_val (fake->wheel, steps);
  g_mutex_unlock (&fake->lock);
}

static HvSpiceBackend
fake_backend (FakeDisplay *fake)
{
  return (HvSpiceBackend){
    .get_mode = fake_get_mode,
    .collect_dirty = fake_collect_dirty,
    .key = fake_key,
    .tablet = fake_tablet,
    .wheel = fake_wheel,
    .opaque = fake,
  };
}

/* A pattern in which neighbouring pixels and rows differ, so that a shifted or mirrored copy fails. */
static uint32_t
pattern_pixel (unsigned x, unsigned y, unsigned seed)
{
  return ((x * 7 + seed) & 0xff) << 16 | ((y * 3 + seed) & 0xff) << 8 | ((x ^ y ^ seed) & 0xff);
}

static void
fake_set_mode (FakeDisplay *fake, gboolean enabled, uint32_t width, uint32_t height, unsigned seed)
{
  g_mutex_lock (&fake->lock);
  g_free (fake->pixels);
  fake->pixels = g_new (uint32_t, (gsize) width * height);
  for (unsigned y = 0; y < height; y++)
    for (unsigned x = 0; x < width; x++)
      fake->pixels[y * width + x] = pattern_pixel (x, y, seed) | 0xff000000u; /* X is not shown */
  fake->mode.enabled = enabled;
  fake->mode.width = width;
  fake->mode.height = height;
  fake->mode.stride = width * 4;
  fake->mode.pixels = (const uint8_t *) fake->pixels;
  fake->mode.generation++;
  fake->whole = TRUE;
  g_array_set_size (fake->dirty, 0);
  g_mutex_unlock (&fake->lock);
}

static void
fake_fill (FakeDisplay *fake, HvRect rect, uint32_t colour)
{
  g_mutex_lock (&fake->lock);
  for (unsigned y = rect.y; y < rect.y + rect.height; y++)
    for (unsigned x = rect.x; x < rect.x + rect.width; x++)
      fake->pixels[y * fake->mode.width + x] = colour;
  g_array_append_val (fake->dirty, rect);
  g_mutex_unlock (&fake->lock);
}

static void
fake_init (FakeDisplay *fake)
{
  memset (fake, 0, sizeof *fake);
  g_mutex_init (&fake->lock);
  fake->dirty = g_array_new (FALSE, FALSE, sizeof (HvRect));
  fake->keys = g_array_new (FALSE, FALSE, sizeof (uint8_t));
  fake->tablet = g_array_new (FALSE, FALSE, sizeof (TabletEvent));
  fake->wheel = g_array_new (FALSE, FALSE, sizeof (int32_t));
}

static void
fake_clear (FakeDisplay *fake)
{
  g_free (fake->pixels);
  g_array_unref (fake->dirty);
  g_array_unref (fake->keys);
  g_array_unref (fake->tablet);
  g_array_unref (fake->wheel);
  g_mutex_clear (&fake->lock);
}

/* How many entries one of the fake's records (keys, wheel) has. */
static guint
fake_count (FakeDisplay *fake, GArray *record)
{
  guint n;
  g_mutex_lock (&fake->lock);
  n = record->len;
  g_mutex_unlock (&fake->lock);
  return n;
}

static gboolean
fake_last_tablet_is (FakeDisplay *fake, uint32_t x, uint32_t y, uint32_t buttons)
{
  gboolean is;
  g_mutex_lock (&fake->lock);
  is = fake->tablet->len > 0;
  if (is)
    {
      TabletEvent *last = &g_array_index (fake->tablet, TabletEvent, fake->tablet->len - 1);
      is = last->x == x && last->y == y && last->buttons == buttons;
    }
  g_mutex_unlock (&fake->lock);
  return is;
}

/* --- a spice-client-glib client --- */

/* A new connection to the server under test (hv_spice_open_client, hv_vm_open_display, OpenDisplay). */
typedef int (*OpenFunc) (gpointer data, GError **error);

typedef struct
{
  /* Where every channel gets its connection when the session was opened with an fd, or NULL. */
  OpenFunc open;
  gpointer open_data;
  SpiceSession *session;
  SpiceMainChannel *main;
  SpiceDisplayChannel *display;
  SpiceInputsChannel *inputs;
  gboolean inputs_open;
  unsigned primary_creates;
  unsigned primary_destroys;
  unsigned invalidates;
} Client;

static int
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

static void
client_init (Client *client)
{
  memset (client, 0, sizeof *client);
  client->session = spice_session_new ();
  g_signal_connect (client->session, "channel-new", G_CALLBACK (on_channel_new), client);
}

/* Connects through a connection from @open, and further ones for each channel. */
static void
client_open (Client *client, OpenFunc open, gpointer data)
{
  client_init (client);
  client->open = open;
  client->open_data = data;
  g_assert_true (spice_session_open_fd (client->session, client_new_connection (client)));
}

static int
open_spice_client (gpointer spice, GError **error)
{
  return hv_spice_open_client (spice, error);
}

static void
client_connect_unix (Client *client, const char *path)
{
  client_init (client);
  g_object_set (client->session, "unix-path", path, NULL);
  g_assert_true (spice_session_connect (client->session));
}

static void
client_close (Client *client)
{
  spice_session_disconnect (client->session);
  /* Let the channels wind down before the session goes. */
  for (int i = 0; i < 50 && g_main_context_pending (NULL); i++)
    g_main_context_iteration (NULL, FALSE);
  g_clear_object (&client->session);
}

static gboolean
client_get_primary (Client *client, SpiceDisplayPrimary *primary)
{
  return client->display && spice_display_channel_get_primary (SPICE_CHANNEL (client->display), 0, primary);
}

static gboolean
client_has_size (Client *client, int width, int height)
{
  SpiceDisplayPrimary primary;
  return client_get_primary (client, &primary) && primary.width == width && primary.height == height;
}

/* The client's copy of the screen equals @pixels (xRGB, @width x @height), the X byte aside. */
static gboolean
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

static gboolean
client_shows_fake (Client *client, FakeDisplay *fake)
{
  gboolean shows;
  g_mutex_lock (&fake->lock);
  shows = client_shows (client, fake->pixels, (int) fake->mode.width, (int) fake->mode.height);
  g_mutex_unlock (&fake->lock);
  return shows;
}

static int
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
static void
print_spice_warning (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  g_printerr ("%s-WARNING: %s\n", domain, message);
}

static gboolean
on_fatal_log (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  return !(g_strcmp0 (domain, "Spice") == 0 && (level & G_LOG_LEVEL_WARNING));
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

/* GLib resets the fatal handler for every test. */
static void
tolerate_spice_warnings (void)
{
  g_test_log_set_fatal_handler (on_fatal_log, NULL);
}

/* --- with a fake display --- */

static HvSpice *
start_server (FakeDisplay *fake, const char *socket_path)
{
  g_autoptr (GError) error = NULL;
  HvSpiceBackend backend = fake_backend (fake);
  HvSpice *spice;

  tolerate_spice_warnings ();
  spice = hv_spice_new (&backend, socket_path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (spice);
  return spice;
}

/* A server for a fake display without a mode yet, and a client connected to it. */
typedef struct
{
  FakeDisplay fake;
  HvSpice *spice;
  Client client;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  fake_init (&f->fake);
  fake_set_mode (&f->fake, FALSE, 0, 0, 0);
  f->spice = start_server (&f->fake, NULL);
  client_open (&f->client, open_spice_client, f->spice);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  client_close (&f->client);
  hv_spice_free (f->spice);
  fake_clear (&f->fake);
}

static void
test_fake_pixels (Fixture *f, gconstpointer data)
{
  fake_set_mode (&f->fake, TRUE, 1024, 768, 0);
  WAIT_FOR (client_shows_fake (&f->client, &f->fake), "the client to show the whole pattern");
  g_assert_cmpuint (f->client.primary_creates, ==, 1);

  /* Changed rectangles arrive, and only through what the display reports. */
  fake_fill (&f->fake, (HvRect){ 200, 300, 100, 50 }, 0x00ff8800);
  fake_fill (&f->fake, (HvRect){ 1000, 760, 24, 8 }, 0x000000ff); /* the bottom right corner */
  fake_fill (&f->fake, (HvRect){ 0, 0, 1, 1 }, 0x00123456);
  WAIT_FOR (client_shows_fake (&f->client, &f->fake), "the client to show the changed rectangles");
  g_assert_cmpuint (f->client.primary_creates, ==, 1);
}

static void
test_fake_mode_change (Fixture *f, gconstpointer data)
{
  /* The client connected to a display without a surface. */
  WAIT_FOR (f->client.display != NULL, "the display channel");

  fake_set_mode (&f->fake, TRUE, 1024, 768, 1);
  WAIT_FOR (client_shows_fake (&f->client, &f->fake), "the 1024x768 mode");
  g_assert_cmpuint (f->client.primary_creates, ==, 1);

  fake_set_mode (&f->fake, TRUE, 1280, 800, 2);
  WAIT_FOR (client_shows_fake (&f->client, &f->fake), "the 1280x800 mode");
  g_assert_cmpuint (f->client.primary_creates, ==, 2);
  g_assert_cmpuint (f->client.primary_destroys, >=, 1);

  /* Scan-out off: the surface goes away. */
  fake_set_mode (&f->fake, FALSE, 1280, 800, 3);
  WAIT_FOR (!client_has_size (&f->client, 1280, 800), "the surface to go away");
  g_assert_cmpuint (f->client.primary_destroys, ==, f->client.primary_creates);
}

/* Changes the pixels without reporting them, as a guest's writes look to a display whose dirty log
 * is not being read. */
static void
fake_paint_unreported (FakeDisplay *fake, HvRect rect, uint32_t colour)
{
  g_mutex_lock (&fake->lock);
  for (unsigned y = rect.y; y < rect.y + rect.height; y++)
    for (unsigned x = rect.x; x < rect.x + rect.width; x++)
      fake->pixels[y * fake->mode.width + x] = colour;
  g_mutex_unlock (&fake->lock);
}

static void
test_fake_busy (Fixture *f, gconstpointer data)
{
  HvRect whole = { 0, 0, 64, 64 };
  gint64 until;
  unsigned rounds = 0;

  fake_set_mode (&f->fake, TRUE, 64, 64, 0);
  WAIT_FOR (client_shows_fake (&f->client, &f->fake), "the client to show the whole pattern");

  /* The whole screen redrawn, frame after frame, for several of the server's 100 ms windows: it
   * stops reading the dirty log (each read costs a guest a write fault per page) and compares
   * pixels instead. */
  until = g_get_monotonic_time () + 400 * G_TIME_SPAN_MILLISECOND;
  while (g_get_monotonic_time () < until || rounds < 8)
    {
      fake_fill (&f->fake, whole, 0x00010101u * (rounds++ & 0x7f));
      WAIT_FOR (client_shows_fake (&f->client, &f->fake), "a redrawn screen");
    }

  /* So a change the display never reports still reaches the client, as a guest's writes do
   * while nobody reads its log. */
  fake_paint_unreported (&f->fake, (HvRect){ 10, 20, 5, 3 }, 0x00ff0000);
  WAIT_FOR (client_shows_fake (&f->client, &f->fake), "the unreported change");

  /* Once the screen is quiet the log is read again: reported changes keep arriving. */
  until = g_get_monotonic_time () + 300 * G_TIME_SPAN_MILLISECOND;
  while (g_get_monotonic_time () < until)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (2000);
  fake_fill (&f->fake, (HvRect){ 60, 60, 4, 4 }, 0x0000ff00);
  WAIT_FOR (client_shows_fake (&f->client, &f->fake), "a reported change after the busy time");
  g_assert_cmpuint (f->client.primary_creates, ==, 1);
}

static void
test_fake_keyboard (Fixture *f, gconstpointer data)
{
  static const uint8_t expected[] = { 0x1e, 0x9e, 0xe0, 0x48, 0xe0, 0xc8 };
  SpiceInputsChannel *inputs;

  fake_set_mode (&f->fake, TRUE, 1024, 768, 0);
  WAIT_FOR (f->client.inputs_open, "the inputs channel");
  inputs = f->client.inputs;

  /* "A", then cursor up (an 0xe0 key, which SPICE spells 0x100 | code). */
  spice_inputs_channel_key_press (inputs, 0x1e);
  spice_inputs_channel_key_release (inputs, 0x1e);
  spice_inputs_channel_key_press (inputs, 0x148);
  spice_inputs_channel_key_release (inputs, 0x148);
  WAIT_FOR (fake_count (&f->fake, f->fake.keys) >= G_N_ELEMENTS (expected), "the key fragments");

  g_mutex_lock (&f->fake.lock);
  g_assert_cmpmem (f->fake.keys->data, f->fake.keys->len, expected, sizeof expected);
  g_mutex_unlock (&f->fake.lock);
}

/* Presses and releases @button with the client, and expects the tablet to report @mask (hv.h's
 * numbering: left 1, middle 2, right 4) and then no button, at (@x, @y). */
static void
click (Fixture *f, int button, int spice_mask, uint32_t mask, uint32_t x, uint32_t y)
{
  spice_inputs_channel_button_press (f->client.inputs, button, 0);
  WAIT_FOR (fake_last_tablet_is (&f->fake, x, y, mask), "a button press");
  spice_inputs_channel_button_release (f->client.inputs, button, spice_mask);
  WAIT_FOR (fake_last_tablet_is (&f->fake, x, y, 0), "a button release");
}

static void
test_fake_tablet (Fixture *f, gconstpointer data)
{
  const uint32_t mid_x = 512 * 32767 / 1023, mid_y = 384 * 32767 / 767;
  SpiceInputsChannel *inputs;

  fake_set_mode (&f->fake, TRUE, 1024, 768, 0);
  WAIT_FOR (f->client.inputs_open && client_has_size (&f->client, 1024, 768), "the inputs channel");
  inputs = f->client.inputs;
  if (client_mouse_mode (&f->client) != SPICE_MOUSE_MODE_CLIENT)
    spice_main_channel_request_mouse_mode (f->client.main, SPICE_MOUSE_MODE_CLIENT);
  WAIT_FOR (client_mouse_mode (&f->client) == SPICE_MOUSE_MODE_CLIENT, "client mouse mode");

  /* Positions in surface pixels come out on the tablet's 0..32767 scale. */
  spice_inputs_channel_position (inputs, 1023, 767, 0, 0);
  WAIT_FOR (fake_last_tablet_is (&f->fake, 32767, 32767, 0), "the bottom right corner");
  spice_inputs_channel_position (inputs, 0, 0, 0, 0);
  WAIT_FOR (fake_last_tablet_is (&f->fake, 0, 0, 0), "the top left corner");
  spice_inputs_channel_position (inputs, 512, 384, 0, 0);
  WAIT_FOR (fake_last_tablet_is (&f->fake, mid_x, mid_y, 0), "the middle");

  /* Buttons at the last position. */
  click (f, SPICE_MOUSE_BUTTON_LEFT, SPICE_MOUSE_BUTTON_MASK_LEFT, 1, mid_x, mid_y);
  click (f, SPICE_MOUSE_BUTTON_RIGHT, SPICE_MOUSE_BUTTON_MASK_RIGHT, 4, mid_x, mid_y);
  click (f, SPICE_MOUSE_BUTTON_MIDDLE, SPICE_MOUSE_BUTTON_MASK_MIDDLE, 2, mid_x, mid_y);

  /* The wheel: a notch up is +1, down -1. */
  spice_inputs_channel_button_press (inputs, SPICE_MOUSE_BUTTON_UP, 0);
  spice_inputs_channel_button_release (inputs, SPICE_MOUSE_BUTTON_UP, 0);
  spice_inputs_channel_button_press (inputs, SPICE_MOUSE_BUTTON_DOWN, 0);
  spice_inputs_channel_button_release (inputs, SPICE_MOUSE_BUTTON_DOWN, 0);
  WAIT_FOR (fake_count (&f->fake, f->fake.wheel) >= 2, "two wheel notches");
  g_mutex_lock (&f->fake.lock);
  g_assert_cmpuint (f->fake.wheel->len, ==, 2);
  g_assert_cmpint (g_array_index (f->fake.wheel, int32_t, 0), ==, 1);
  g_assert_cmpint (g_array_index (f->fake.wheel, int32_t, 1), ==, -1);
  g_mutex_unlock (&f->fake.lock);
}

static char *
make_socket_path (char **dir)
{
  g_autoptr (GError) error = NULL;

  *dir = g_dir_make_tmp ("vireo-spice-XXXXXX", &error);
  g_assert_no_error (error);
  return g_build_filename (*dir, "display.sock", NULL);
}

static void
test_fake_unix_socket (void)
{
  g_autofree char *dir = NULL;
  g_autofree char *path = make_socket_path (&dir);
  FakeDisplay fake;
  Client client;
  HvSpice *spice;
  struct stat st;

  fake_init (&fake);
  fake_set_mode (&fake, TRUE, 1024, 768, 4);
  spice = start_server (&fake, path);

  g_assert_no_errno (stat (path, &st));
  g_assert_true (S_ISSOCK (st.st_mode));
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  client_connect_unix (&client, path);
  WAIT_FOR (client_shows_fake (&client, &fake), "the pattern over the unix socket");
  client_close (&client);

  hv_spice_free (spice);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_no_errno (rmdir (dir));
  fake_clear (&fake);
}

/* Sockets nobody uses do not pile up: past HV_SPICE_CONNECTIONS_MAX a new one is refused, naming the
 * limit, and once the server has seen some go, there is room again. */
static void
test_fake_connection_cap (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) fds = g_array_new (FALSE, FALSE, sizeof (int));
  FakeDisplay fake;
  HvSpice *spice;
  int fd;

  fake_init (&fake);
  fake_set_mode (&fake, TRUE, 640, 480, 1);
  spice = start_server (&fake, NULL);
  for (int i = 0; i < HV_SPICE_CONNECTIONS_MAX; i++)
    {
      fd = hv_spice_open_client (spice, &error);
      g_assert_no_error (error);
      g_array_append_val (fds, fd);
    }
  g_assert_cmpint (hv_spice_open_client (spice, &error), ==, -1);
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_STATE);
  g_assert_nonnull (strstr (error->message, G_STRINGIFY (HV_SPICE_CONNECTIONS_MAX) " connections"));
  g_clear_error (&error);

  /* Clients hang up; the server closes its ends as it notices. */
  for (guint i = 0; i < fds->len; i++)
    close (g_array_index (fds, int, i));
  g_array_set_size (fds, 0);
  fd = -1;
  for (int tries = 0; tries < 500 && fd < 0; tries++)
    {
      fd = hv_spice_open_client (spice, &error);
      if (fd < 0)
        {
          g_clear_error (&error);
          g_usleep (10 * 1000);
        }
    }
  g_assert_cmpint (fd, >=, 0);
  close (fd);
  hv_spice_free (spice);
  fake_clear (&fake);
}

static void
test_fake_bad_socket (void)
{
  g_autoptr (GError) error = NULL;
  FakeDisplay fake;
  HvSpiceBackend backend;
  HvSpice *spice;

  fake_init (&fake);
  backend = fake_backend (&fake);
  tolerate_spice_warnings ();
  spice = hv_spice_new (&backend, "/nonexistent-vireo-folder/display.sock", &error);
  g_assert_null (spice);
  g_assert_error (error, HV_ERROR, HV_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "/nonexistent-vireo-folder/display.sock"));
  fake_clear (&fake);
}

/* Reads a binary PPM (P6, maxval 255) as xRGB. */
static uint32_t *
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
static uint32_t *
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

/* spicy-screenshot saves what it is shown over the unix socket. */
static void
test_fake_screenshot (void)
{
  g_autofree char *tool = g_find_program_in_path ("spicy-screenshot");
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;
  g_autofree uint32_t *shot = NULL;
  FakeDisplay fake;
  HvSpice *spice;

  if (tool == NULL)
    {
      g_test_skip ("spicy-screenshot (spice-client-gtk) is not installed");
      return;
    }
  path = make_socket_path (&dir);
  fake_init (&fake);
  fake_set_mode (&fake, TRUE, 1024, 768, 5);
  fake_fill (&fake, (HvRect){ 100, 100, 200, 100 }, 0x0000ff00);
  spice = start_server (&fake, path);

  shot = take_screenshot (tool, path, dir);
  g_assert_cmphex (shot[150 * 1024 + 200], ==, 0x00ff00);
  g_mutex_lock (&fake.lock);
  for (int i = 0; i < 1024 * 768; i++)
    g_assert_cmphex (shot[i], ==, fake.pixels[i] & 0xffffff);
  g_mutex_unlock (&fake.lock);

  hv_spice_free (spice);
  g_assert_no_errno (rmdir (dir));
  fake_clear (&fake);
}

/* --- a VM running the display test guest (tests/guests/display.c) --- */

static const uint32_t bar_colours[8] = {
  0xffffff, 0xffff00, 0x00ffff, 0x00ff00, 0xff00ff, 0xff0000, 0x0000ff, 0x808080,
};

/* The pixel the client shows at (@x, @y) as 0xRRGGBB, or -1 while it shows no such pixel. */
static gint64
client_pixel (Client *client, int x, int y)
{
  SpiceDisplayPrimary primary;

  if (!client_get_primary (client, &primary) || x >= primary.width || y >= primary.height)
    return -1;
  return *(const uint32_t *) (primary.data + (gsize) y * primary.stride + (gsize) x * 4) & 0xffffff;
}

/* The guest's test pattern for a @width x @height mode, at the places its description pins down. */
static gboolean
client_shows_pattern (Client *client, int width, int height)
{
  if (!client_has_size (client, width, height))
    return FALSE;
  /* The white square at 100..163 and black around it. */
  if (client_pixel (client, 100, 100) != 0xffffff || client_pixel (client, 163, 163) != 0xffffff
      || client_pixel (client, 99, 100) != 0 || client_pixel (client, 164, 163) != 0
      || client_pixel (client, 10, 10) != 0 || client_pixel (client, width - 1, height / 2 - 1) != 0)
    return FALSE;
  /* The bars: the first and last column of each, at the top and bottom of the lower half. */
  for (int i = 0; i < 8; i++)
    {
      int left = i * width / 8, right = (i + 1) * width / 8 - 1;
      if (client_pixel (client, left, height / 2) != bar_colours[i]
          || client_pixel (client, right, height - 1) != bar_colours[i])
        return FALSE;
    }
  return TRUE;
}

typedef struct
{
  HvVm *vm;
  int output_fd; /* a memfd collecting the guest's serial output */
} Guest;

/* What the guest has written to its serial port so far. */
static char *
guest_output (Guest *guest)
{
  struct stat st;
  char *text;

  g_assert_no_errno (fstat (guest->output_fd, &st));
  text = g_malloc ((gsize) st.st_size + 1);
  g_assert_cmpint (pread (guest->output_fd, text, (size_t) st.st_size, 0), ==, st.st_size);
  text[st.st_size] = '\0';
  return text;
}

static unsigned
guest_count (Guest *guest, const char *needle)
{
  g_autofree char *text = guest_output (guest);
  unsigned count = 0;

  for (const char *p = strstr (text, needle); p; p = strstr (p + 1, needle))
    count++;
  return count;
}

static gboolean
guest_said (Guest *guest, const char *needle)
{
  return guest_count (guest, needle) > 0;
}

/* The display guest in a VM with a display, started; FALSE (skipped) without KVM. */
static gboolean
guest_start (Guest *guest, gboolean display)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *kernel = vireo_test_guest_path ("display");

  memset (guest, 0, sizeof *guest);
  guest->output_fd = -1;
  if (!vireo_test_require_kvm ())
    return FALSE;
  tolerate_spice_warnings ();
  guest->output_fd = memfd_create ("guest-serial", MFD_CLOEXEC);
  g_assert_cmpint (guest->output_fd, >=, 0);
  guest->vm = hv_vm_new (NULL, &error);
  g_assert_no_error (error);
  hv_vm_set_kernel (guest->vm, kernel, NULL, NULL, &error);
  g_assert_no_error (error);
  hv_vm_set_serial (guest->vm, -1, guest->output_fd);
  hv_vm_set_display (guest->vm, display, &error);
  g_assert_no_error (error);
  hv_vm_start (guest->vm, &error);
  g_assert_no_error (error);
  return TRUE;
}

static void
guest_clear (Guest *guest)
{
  g_clear_pointer (&guest->vm, hv_vm_free);
  if (guest->output_fd >= 0)
    close (guest->output_fd);
  guest->output_fd = -1;
}

static int
open_vm_display (gpointer vm, GError **error)
{
  return hv_vm_open_display (vm, error);
}

/* A key typed on the client, as the guest reports it: from the virtio keyboard once its driver runs,
 * from the PS/2 keyboard before. */
static gboolean
guest_got_key (Guest *guest, unsigned linux_code, unsigned value, const char *ps2_bytes)
{
  g_autofree char *virtio = g_strdup_printf ("key: virtio %u %u\n", linux_code, value);
  return guest_said (guest, virtio) || guest_said (guest, ps2_bytes);
}

static void
test_vm_display (void)
{
  const uint32_t mid_x = 512 * 32767 / 1023, mid_y = 384 * 32767 / 767;
  g_autofree char *middle = g_strdup_printf ("tablet: %u %u 0\n", mid_x, mid_y);
  HvExitInfo info = { 0 };
  Guest guest;
  Client client;

  if (!guest_start (&guest, TRUE))
    return;
  WAIT_FOR (guest_said (&guest, "display: pattern ready\n") && guest_said (&guest, "display: input ready\n"),
            "the guest's pattern and input devices");

  client_open (&client, open_vm_display, guest.vm);
  WAIT_FOR (client_shows_pattern (&client, 1024, 768), "the guest's 1024x768 pattern");

  /* Keys reach the guest: "A", then cursor up, an 0xe0 key. */
  WAIT_FOR (client.inputs_open, "the inputs channel");
  spice_inputs_channel_key_press_and_release (client.inputs, 0x1e);
  WAIT_FOR (guest_got_key (&guest, 30, 1, "key: ps2 0x1e\n")
                && guest_got_key (&guest, 30, 0, "key: ps2 0x9e\n"),
            "A pressed and released in the guest");
  spice_inputs_channel_key_press_and_release (client.inputs, 0x148);
  WAIT_FOR (guest_got_key (&guest, 103, 1, "key: ps2 0xe0\nkey: ps2 0x48\n")
                && guest_got_key (&guest, 103, 0, "key: ps2 0xe0\nkey: ps2 0xc8\n"),
            "cursor up pressed and released in the guest");

  /* The tablet, in client mouse mode; the guest draws its pointer where the tablet says. */
  if (client_mouse_mode (&client) != SPICE_MOUSE_MODE_CLIENT)
    spice_main_channel_request_mouse_mode (client.main, SPICE_MOUSE_MODE_CLIENT);
  WAIT_FOR (client_mouse_mode (&client) == SPICE_MOUSE_MODE_CLIENT, "client mouse mode");
  spice_inputs_channel_position (client.inputs, 512, 384, 0, 0);
  WAIT_FOR (guest_said (&guest, middle), "the tablet in the middle");
  WAIT_FOR (client_pixel (&client, 512 + 4, 384 + 4) == 0xff8000, "the guest's pointer in the middle");
  spice_inputs_channel_position (client.inputs, 1023, 767, 0, 0);
  WAIT_FOR (guest_said (&guest, "tablet: 32767 32767 0\n"), "the tablet in the corner");
  spice_inputs_channel_button_press (client.inputs, SPICE_MOUSE_BUTTON_LEFT, 0);
  WAIT_FOR (guest_said (&guest, "tablet: 32767 32767 1\n"), "the left button");
  spice_inputs_channel_button_release (client.inputs, SPICE_MOUSE_BUTTON_LEFT, SPICE_MOUSE_BUTTON_MASK_LEFT);
  WAIT_FOR (guest_count (&guest, "tablet: 32767 32767 0\n") >= 2, "the left button's release");
  spice_inputs_channel_button_press (client.inputs, SPICE_MOUSE_BUTTON_UP, 0);
  spice_inputs_channel_button_release (client.inputs, SPICE_MOUSE_BUTTON_UP, 0);
  WAIT_FOR (guest_said (&guest, "wheel: 1\n"), "a wheel notch up");

  /* M switches the guest to 1280x800. */
  spice_inputs_channel_key_press_and_release (client.inputs, 0x32);
  WAIT_FOR (guest_said (&guest, "display: mode 1280x800\n")
                && guest_count (&guest, "display: pattern ready\n") >= 2,
            "the guest's switch to 1280x800");
  WAIT_FOR (client_shows_pattern (&client, 1280, 800), "the guest's 1280x800 pattern");

  /* Q powers it off. */
  spice_inputs_channel_key_press_and_release (client.inputs, 0x10);
  WAIT_FOR (hv_vm_has_exited (guest.vm), "the guest to power off");
  hv_vm_wait (guest.vm, &info);
  g_assert_cmpint (info.reason, ==, HV_EXIT_POWER_OFF);
  hv_exit_info_clear (&info);

  client_close (&client);
  guest_clear (&guest);
}

static void
test_vm_errors (void)
{
  g_autoptr (GError) error = NULL;
  char long_path[200];
  Guest guest;
  int fd;

  if (!guest_start (&guest, FALSE))
    return;
  /* No display: nothing to open, and no socket to serve it on. */
  fd = hv_vm_open_display (guest.vm, &error);
  g_assert_cmpint (fd, ==, -1);
  g_assert_error (error, HV_ERROR, HV_ERROR_NOT_FOUND);
  g_clear_error (&error);
  hv_vm_stop (guest.vm);
  hv_vm_wait (guest.vm, NULL);
  guest_clear (&guest);

  guest.vm = hv_vm_new (NULL, &error);
  g_assert_no_error (error);
  g_assert_false (hv_vm_set_spice_socket (guest.vm, "/tmp/vireo-display.sock", &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* Before the start there is nothing to connect to; a path too long for a socket is refused. */
  g_assert_true (hv_vm_set_display (guest.vm, TRUE, &error));
  fd = hv_vm_open_display (guest.vm, &error);
  g_assert_cmpint (fd, ==, -1);
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_STATE);
  g_clear_error (&error);
  memset (long_path, 'x', sizeof long_path - 1);
  long_path[0] = '/';
  long_path[sizeof long_path - 1] = '\0';
  g_assert_false (hv_vm_set_spice_socket (guest.vm, long_path, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (hv_vm_set_spice_socket (guest.vm, "", &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  guest_clear (&guest);
}

static void
test_vm_ended (void)
{
  g_autoptr (GError) error = NULL;
  Guest guest;

  if (!guest_start (&guest, TRUE))
    return;
  WAIT_FOR (guest_said (&guest, "display: pattern ready\n"), "the guest's pattern");
  hv_vm_stop (guest.vm);
  hv_vm_wait (guest.vm, NULL);
  g_assert_cmpint (hv_vm_open_display (guest.vm, &error), ==, -1);
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_STATE);
  guest_clear (&guest);
}

/* vireo-run --display spice:PATH, seen by a client on the socket and by spicy-screenshot. */
static void
test_vireo_run (void)
{
  g_autofree char *kernel = vireo_test_guest_path ("display");
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;
  g_autofree char *log = NULL;
  g_autofree char *display_arg = NULL;
  g_autofree char *serial_arg = NULL;
  g_autofree char *tool = g_find_program_in_path ("spicy-screenshot");
  g_autoptr (GSubprocess) process = NULL;
  g_autoptr (GError) error = NULL;
  Client client;
  struct stat st;

  if (!vireo_test_require_kvm ())
    return;
  tolerate_spice_warnings ();
  path = make_socket_path (&dir);
  log = g_build_filename (dir, "serial.log", NULL);
  display_arg = g_strconcat ("spice:", path, NULL);
  serial_arg = g_strconcat ("file:", log, NULL);
  process = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, &error, vireo_test_vireo_run (), "--kernel", kernel,
                              "--display", display_arg, "--serial", serial_arg, NULL);
  g_assert_no_error (error);

#define LOG_SAYS(needle)                                                                                     \
  ({                                                                                                         \
    g_autofree char *text_ = NULL;                                                                           \
    g_file_get_contents (log, &text_, NULL, NULL) && strstr (text_, needle) != NULL;                         \
  })
  WAIT_FOR (LOG_SAYS ("display: pattern ready\n"), "the guest's pattern");

  g_assert_no_errno (stat (path, &st));
  g_assert_true (S_ISSOCK (st.st_mode));
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  client_connect_unix (&client, path);
  WAIT_FOR (client_shows_pattern (&client, 1024, 768), "the pattern over vireo-run's socket");
  client_close (&client);

  if (tool)
    {
      g_autofree uint32_t *shot = take_screenshot (tool, path, dir);

      g_assert_cmphex (shot[100 * 1024 + 100], ==, 0xffffff);
      g_assert_cmphex (shot[10 * 1024 + 10], ==, 0x000000);
      for (int i = 0; i < 8; i++)
        g_assert_cmphex (shot[700 * 1024 + i * 128 + 64], ==, bar_colours[i]);
    }
  else
    g_test_message ("spicy-screenshot is not installed: checked with the test's own client only");

  /* SIGTERM presses the power button; the guest powers off and the socket goes. */
  g_subprocess_send_signal (process, SIGTERM);
  g_subprocess_wait_check (process, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_no_errno (unlink (log));
  g_assert_no_errno (rmdir (dir));
#undef LOG_SAYS
}

/* --- vireo-worker's OpenDisplay --- */

typedef struct
{
  GSubprocess *process;
  char *dir;
  GDBusConnection *connection;
  VireoWorker1 *proxy;
} Worker;

/* Spawns vireo-worker as vireod does, connected over a socketpair. */
static void
worker_spawn (Worker *worker)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocket) socket = NULL;
  g_autoptr (GSocketConnection) stream = NULL;
  g_autofree char *socket_path = NULL;
  const char *binary = g_getenv ("VIREO_WORKER");
  int pair[2];

  memset (worker, 0, sizeof *worker);
  worker->dir = g_dir_make_tmp ("vireo-spice-worker-XXXXXX", &error);
  g_assert_no_error (error);
  socket_path = g_build_filename (worker->dir, "worker.sock", NULL);
  g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair));
  g_subprocess_launcher_take_fd (launcher, pair[1], 3);
  worker->process = g_subprocess_launcher_spawn (
      launcher, &error, binary ? binary : "service/worker/vireo-worker", "--uuid",
      "6d0d7c1e-7f55-4b8e-9a44-3f1a2b9c0d11", "--socket", socket_path, "--connection-fd", "3", NULL);
  g_assert_no_error (error);

  socket = g_socket_new_from_fd (pair[0], &error);
  g_assert_no_error (error);
  stream = g_socket_connection_factory_create_connection (socket);
  worker->connection = g_dbus_connection_new_sync (
      G_IO_STREAM (stream), NULL, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT, NULL, NULL, &error);
  g_assert_no_error (error);
  worker->proxy = vireo_worker1_proxy_new_sync (worker->connection, G_DBUS_PROXY_FLAGS_NONE, NULL,
                                                "/org/vireo/Worker1", NULL, &error);
  g_assert_no_error (error);
}

/* Starts the display guest, with or without a display. */
static void
worker_start (Worker *worker, gboolean display)
{
  g_autofree char *kernel = vireo_test_guest_path ("display");
  g_autoptr (GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr (GError) error = NULL;
  GVariantBuilder builder;
  int kvm_fd = open ("/dev/kvm", O_RDWR | O_CLOEXEC);
  int kernel_fd = open (kernel, O_RDONLY | O_CLOEXEC);

  g_assert_cmpint (kvm_fd, >=, 0);
  g_assert_cmpint (kernel_fd, >=, 0);
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "version", g_variant_new_uint32 (1));
  g_variant_builder_add (&builder, "{sv}", "memory", g_variant_new_uint64 (64 << 20));
  g_variant_builder_add (&builder, "{sv}", "kvm-fd",
                         g_variant_new_handle (g_unix_fd_list_append (fds, kvm_fd, NULL)));
  g_variant_builder_add (&builder, "{sv}", "kernel",
                         g_variant_new_handle (g_unix_fd_list_append (fds, kernel_fd, NULL)));
  g_variant_builder_add (&builder, "{sv}", "devices",
                         display ? g_variant_new_parsed ("[('serial', 'serial0', @a{sv} {}), "
                                                         "('bochs-display', 'display0', @a{sv} {}), "
                                                         "('virtio-keyboard', 'keyboard0', @a{sv} {}), "
                                                         "('virtio-tablet', 'tablet0', @a{sv} {})]")
                                 : g_variant_new_parsed ("[('serial', 'serial0', @a{sv} {})]"));
  close (kvm_fd);
  close (kernel_fd);
  vireo_worker1_call_start_sync (worker->proxy, g_variant_builder_end (&builder), fds, NULL, NULL, &error);
  g_assert_no_error (error);
}

static int
worker_open_display (gpointer proxy, GError **error)
{
  g_autoptr (GVariant) handle = NULL;
  g_autoptr (GUnixFDList) fds = NULL;

  if (!vireo_worker1_call_open_display_sync (proxy, NULL, &handle, &fds, NULL, error))
    return -1;
  return g_unix_fd_list_get (fds, g_variant_get_handle (handle), error);
}

static void
worker_stop (Worker *worker)
{
  g_autoptr (GError) error = NULL;

  vireo_worker1_call_turn_off_sync (worker->proxy, NULL, &error);
  g_assert_no_error (error);
  g_clear_object (&worker->proxy);
  g_dbus_connection_close_sync (worker->connection, NULL, NULL);
  g_clear_object (&worker->connection);
  /* The worker exits once its only peer hangs up after the end. */
  g_subprocess_wait_check (worker->process, NULL, &error);
  g_assert_no_error (error);
  g_clear_object (&worker->process);
  g_assert_no_errno (rmdir (worker->dir));
  g_clear_pointer (&worker->dir, g_free);
}

static void
test_worker_open_display (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *remote = NULL;
  Worker worker;
  Client client;

  if (!vireo_test_require_kvm ())
    return;
  tolerate_spice_warnings ();

  /* With a display: a SPICE connection per call, showing the guest. */
  worker_spawn (&worker);
  worker_start (&worker, TRUE);
  client_open (&client, worker_open_display, worker.proxy);
  WAIT_FOR (client_shows_pattern (&client, 1024, 768), "the guest's pattern through OpenDisplay");
  client_close (&client);
  worker_stop (&worker);

  /* Without one: NotSupported. */
  worker_spawn (&worker);
  worker_start (&worker, FALSE);
  g_assert_cmpint (worker_open_display (worker.proxy, &error), ==, -1);
  remote = g_dbus_error_get_remote_error (error);
  g_assert_cmpstr (remote, ==, "org.vireo.Vireo1.Error.NotSupported");
  worker_stop (&worker);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* spice-server writes to sockets whose client may be gone, as the VMM's processes allow. */
  signal (SIGPIPE, SIG_IGN);
  g_log_set_handler ("Spice", G_LOG_LEVEL_WARNING | G_LOG_FLAG_FATAL, print_spice_warning, NULL);

  g_test_add ("/spice/fake/pixels", Fixture, NULL, fixture_set_up, test_fake_pixels, fixture_tear_down);
  g_test_add ("/spice/fake/mode-change", Fixture, NULL, fixture_set_up, test_fake_mode_change,
              fixture_tear_down);
  g_test_add ("/spice/fake/busy", Fixture, NULL, fixture_set_up, test_fake_busy, fixture_tear_down);
  g_test_add ("/spice/fake/keyboard", Fixture, NULL, fixture_set_up, test_fake_keyboard, fixture_tear_down);
  g_test_add ("/spice/fake/tablet", Fixture, NULL, fixture_set_up, test_fake_tablet, fixture_tear_down);
  g_test_add_func ("/spice/fake/unix-socket", test_fake_unix_socket);
  g_test_add_func ("/spice/fake/bad-socket", test_fake_bad_socket);
  g_test_add_func ("/spice/fake/connection-cap", test_fake_connection_cap);
  g_test_add_func ("/spice/fake/screenshot", test_fake_screenshot);
  g_test_add_func ("/spice/vm/display", test_vm_display);
  g_test_add_func ("/spice/vm/errors", test_vm_errors);
  g_test_add_func ("/spice/vm/ended", test_vm_ended);
  g_test_add_func ("/spice/vm/vireo-run", test_vireo_run);
  g_test_add_func ("/spice/worker/open-display", test_worker_open_display);
  return g_test_run ();
}
