/* test-spice.c — the SPICE server (hypervisor/display/spice-*.c) seen by a spice-client-glib client, with a
 * fake display driven from the test (no KVM).  A VM's display is tested in test-spice-vm.c, the client in
 * spice-test-client.c. */
#include "spice-test-client.h"

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

static int
open_spice_client (gpointer spice, GError **error)
{
  return hv_spice_open_client (spice, error);
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
  spice_add_vm_tests ();
  return g_test_run ();
}
