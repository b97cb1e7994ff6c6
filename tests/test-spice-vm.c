/* test-spice-vm.c — the SPICE display of a VM running the display test guest: in this process, under
 * vireo-run --display and behind vireo-worker's OpenDisplay. */
#include "spice-test-client.h"

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

void
spice_add_vm_tests (void)
{
  g_test_add_func ("/spice/vm/display", test_vm_display);
  g_test_add_func ("/spice/vm/errors", test_vm_errors);
  g_test_add_func ("/spice/vm/ended", test_vm_ended);
  g_test_add_func ("/spice/vm/vireo-run", test_vireo_run);
  g_test_add_func ("/spice/worker/open-display", test_worker_open_display);
}
