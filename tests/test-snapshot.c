/* test-snapshot.c — saving a paused VM to a folder and restoring it into a new VM: the guests carry
 * on where they were (echo, power button, a computation in flight, two serial ports), quiesce and
 * revert in place.  Damaged and older saved states are in test-snapshot-files.c. */
#include "snapshot-fixture.h"

static void
test_crc64 (void)
{
  /* The CRC-64/XZ check value. */
  g_assert_cmphex (hv_crc64 (0, "123456789", 9), ==, G_GUINT64_CONSTANT (0x995DC9BBDF1939FA));
  g_assert_cmphex (hv_crc64 (hv_crc64 (0, "1234", 4), "56789", 5), ==,
                   G_GUINT64_CONSTANT (0x995DC9BBDF1939FA));
  g_assert_cmphex (hv_crc64 (0, "", 0), ==, 0);
}

/* The echo guest, waiting in a polling IN loop on the UART, echoes after a restore what it is sent.
 */
static void
test_echo (void)
{
  Guest old = { 0 }, new = { 0 };
  SaveDir dir;
  g_autoptr (GError) error = NULL;
  g_autofree char *restored_output = NULL;

  if (!vireo_test_require_kvm ())
    return;
  guest_boot (&old, "echo", NULL, 256ull << 20, 1);
  g_assert_true (vireo_test_guest_wait_for_output (&old, "echo ready", 60));
  guest_send (&old, "before ");
  g_assert_true (vireo_test_guest_wait_for_output (&old, "before ", 30));

  save_dir_init (&dir);
  save_guest (&old, &dir, "echo, 256 MiB");
  /* Saving does not disturb the VM: resumed, it still echoes. */
  g_assert_true (hv_vm_resume (old.vm, &error));
  guest_send (&old, "still here ");
  g_assert_true (vireo_test_guest_wait_for_output (&old, "still here ", 30));
  vireo_test_guest_clear (&old);

  restore_guest (&new, &dir, 256ull << 20, 1, "echo, 256 MiB");
  guest_send (&new, "after restore ");
  g_assert_true (vireo_test_guest_wait_for_output (&new, "after restore ", 30));
  guest_send (&new, "q");
  g_assert_cmpint (guest_wait_exit (&new), ==, HV_EXIT_POWER_OFF);
  /* It carried on rather than booting again. */
  restored_output = vireo_test_guest_output (&new);
  g_assert_cmpstr (restored_output, ==, "after restore echo done\n");
  vireo_test_guest_clear (&new);
  save_dir_clear (&dir);
}

/* Saved and restored again and again while it echoes a stream: no byte may be lost or repeated,
 * which needs every vCPU's last port access completed before its registers are read (a pause often
 * lands right after an IN from the receive buffer or an OUT to the transmitter). */
static void
test_echo_stream (void)
{
  Guest guest = { 0 };
  SaveDir dir;
  GString *sent = g_string_new (NULL);
  GString *echoed = g_string_new (NULL);
  g_autofree char *tail = NULL;

  if (!vireo_test_require_kvm ())
    return;
  guest_boot (&guest, "echo", NULL, 64ull << 20, 1);
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "echo ready", 60));
  save_dir_init (&dir);
  for (unsigned round = 0; round < 30; round++)
    {
      g_autofree char *out = NULL;
      g_autofree char *chunk = g_strdup_printf ("<%02u:abcdefghij>", round % 100);
      int queued;

      /* No more than the receive FIFO holds, so all of it is in the UART (not the pipe) when the VM
       * is saved, and the pause lands while the guest is echoing it. */
      g_assert_cmpuint (strlen (chunk), <=, 16);
      guest_send (&guest, chunk);
      g_string_append (sent, chunk);
      do
        g_assert_no_errno (ioctl (guest.input_pipe[0], FIONREAD, &queued));
      while (queued > 0);
      g_usleep ((gulong) g_test_rand_int_range (0, 600));
      save_guest (&guest, &dir, "echo stream");
      out = vireo_test_guest_output (&guest);
      g_string_append (echoed, out);
      vireo_test_guest_clear (&guest);
      restore_guest (&guest, &dir, 64ull << 20, 1, "echo stream");
    }
  guest_send (&guest, "q");
  g_assert_cmpint (guest_wait_exit (&guest), ==, HV_EXIT_POWER_OFF);
  tail = vireo_test_guest_output (&guest);
  g_string_append (echoed, tail);
  g_string_append (sent, "echo done\n");
  g_string_prepend (sent, "echo ready\n");
  g_assert_cmpstr (echoed->str, ==, sent->str);
  g_string_free (sent, TRUE);
  g_string_free (echoed, TRUE);
  vireo_test_guest_clear (&guest);
  save_dir_clear (&dir);
}

/* A restored VM can be saved again, into the same folder, and restored again. */
static void
test_save_restored (void)
{
  Guest first = { 0 }, second = { 0 }, third = { 0 };
  SaveDir dir;

  if (!vireo_test_require_kvm ())
    return;
  guest_boot (&first, "echo", NULL, 64ull << 20, 1);
  g_assert_true (vireo_test_guest_wait_for_output (&first, "echo ready", 60));
  save_dir_init (&dir);
  save_guest (&first, &dir, "echo, first save");
  vireo_test_guest_clear (&first);

  restore_guest (&second, &dir, 64ull << 20, 1, "echo, first restore");
  guest_send (&second, "one ");
  g_assert_true (vireo_test_guest_wait_for_output (&second, "one ", 30));
  save_guest (&second, &dir, "echo, second save");
  vireo_test_guest_clear (&second);

  restore_guest (&third, &dir, 64ull << 20, 1, "echo, second restore");
  guest_send (&third, "two q");
  g_assert_cmpint (guest_wait_exit (&third), ==, HV_EXIT_POWER_OFF);
  {
    g_autofree char *out = vireo_test_guest_output (&third);
    g_assert_cmpstr (out, ==, "two echo done\n");
  }
  vireo_test_guest_clear (&third);
  save_dir_clear (&dir);
}

/* A guest waiting for the power button still reacts to it: two vCPUs, memory above 4 GiB. */
static void
test_power_button (void)
{
  Guest old = { 0 }, new = { 0 };
  SaveDir dir;
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;

  if (!vireo_test_require_kvm ())
    return;
  guest_boot (&old, "shutdown", NULL, 5ull << 30, 2);
  g_assert_true (vireo_test_guest_wait_for_output (&old, "waiting for power button", 60));
  save_dir_init (&dir);
  save_guest (&old, &dir, "shutdown, 5 GiB, 2 vCPUs");
  vireo_test_guest_clear (&old);

  restore_guest (&new, &dir, 5ull << 30, 2, "shutdown, 5 GiB, 2 vCPUs");
  /* Running the restored guest a moment first: it must be waiting, not ending by itself. */
  g_usleep (100000);
  g_assert_false (hv_vm_has_exited (new.vm));
  g_assert_true (hv_vm_request_shutdown (new.vm, &error));
  g_assert_no_error (error);
  g_assert_cmpint (guest_wait_exit (&new), ==, HV_EXIT_POWER_OFF);
  out = vireo_test_guest_output (&new);
  g_assert_cmpstr (out, ==, "power button pressed\n");
  vireo_test_guest_clear (&new);
  save_dir_clear (&dir);
}

/* A computation saved half-way finishes with the right answer: registers and memory of ring 3 code
 * in the middle of its loop. */
static void
test_compute (void)
{
  Guest old = { 0 }, new = { 0 };
  SaveDir dir;
  g_autofree char *before = NULL;
  g_autofree char *out = NULL;

  if (!vireo_test_require_kvm ())
    return;
  guest_boot (&old, "compute", "rounds=400", 64ull << 20, 1);
  g_usleep (300000);
  save_dir_init (&dir);
  save_guest (&old, &dir, "compute");
  before = vireo_test_guest_output (&old);
  g_assert_cmpstr (before, ==, ""); /* still computing */
  vireo_test_guest_clear (&old);

  restore_guest (&new, &dir, 64ull << 20, 1, "compute");
  g_assert_cmpint (guest_wait_exit (&new), ==, HV_EXIT_POWER_OFF);
  out = vireo_test_guest_output (&new);
  g_assert_cmpstr (out, ==, "compute: 148933\n");
  vireo_test_guest_clear (&new);
  save_dir_clear (&dir);
}

static void
test_wrong_state (void)
{
  Guest guest = { 0 };
  SaveDir dir;
  g_autoptr (GError) error = NULL;

  if (!vireo_test_require_kvm ())
    return;
  save_dir_init (&dir);
  guest_new (&guest, 64ull << 20, 1);
  /* Not started: nothing to save. */
  g_assert_false (hv_vm_save (guest.vm, dir.fd, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_STATE);
  g_clear_error (&error);
  vireo_test_guest_clear (&guest);

  guest_boot (&guest, "shutdown", NULL, 64ull << 20, 1);
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "waiting for power button", 60));
  /* Running: it must be paused first. */
  g_assert_false (hv_vm_save (guest.vm, dir.fd, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_STATE);
  g_assert_nonnull (strstr (error->message, "pause"));
  g_clear_error (&error);
  /* Started: too late to restore into it. */
  g_assert_false (hv_vm_set_restore (guest.vm, dir.fd, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_STATE);
  g_clear_error (&error);
  /* Nothing was left behind by the refused save. */
  g_assert_cmpint (faccessat (dir.fd, "state", F_OK, 0), <, 0);
  g_assert_cmpint (faccessat (dir.fd, "memory", F_OK, 0), <, 0);
  vireo_test_guest_clear (&guest);
  save_dir_clear (&dir);
}

/* A VM with @extra_serial adds a second serial port, "serial1" (COM2), its output to @extra_output. */
static void
guest_new_with (Guest *guest, gboolean extra_serial, int extra_output)
{
  g_autoptr (GError) error = NULL;

  guest_new (guest, 64ull << 20, 1);
  if (!extra_serial)
    return;
  g_assert_true (hv_vm_add_device (guest->vm, "serial", NULL, &error));
  g_assert_no_error (error);
  g_assert_true (hv_vm_set_device_io (guest->vm, "serial1", -1, extra_output, &error));
  g_assert_no_error (error);
}

/* Two serial ports in one VM: each saves its own section, and a restore needs both. */
static void
test_two_serial_ports (void)
{
  Guest guest = { 0 };
  SaveDir dir;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) body = NULL;
  g_autoptr (GVariant) sections = NULL;
  g_autofree char *path = vireo_test_guest_path ("echo");
  int extra_output = memfd_create ("serial1", MFD_CLOEXEC);
  uint16_t port = 0;

  if (!vireo_test_require_kvm ())
    {
      close (extra_output);
      return;
    }
  guest_new_with (&guest, TRUE, extra_output);
  g_assert_false (hv_vm_add_device (guest.vm, "serial", NULL, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (hv_vm_set_device_io (guest.vm, "rtc0", -1, -1, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_true (hv_vm_set_kernel (guest.vm, path, NULL, NULL, &error));
  g_assert_true (hv_vm_start (guest.vm, &error));
  g_assert_no_error (error);
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "echo ready", 60));
  save_dir_init (&dir);
  save_guest (&guest, &dir, "echo, two serial ports");
  vireo_test_guest_clear (&guest);

  body = read_state_body (&dir);
  sections = g_variant_lookup_value (body, "devices", G_VARIANT_TYPE ("a{sa{sv}}"));
  for (unsigned i = 0; i < 2; i++)
    {
      g_autofree char *id = g_strdup_printf ("serial%u", i);
      g_autoptr (GVariant) section = g_variant_lookup_value (sections, id, NULL);
      g_autoptr (GVariant) state = NULL;
      const char *kind;
      g_assert_nonnull (section);
      g_assert_true (g_variant_lookup (section, "kind", "&s", &kind));
      g_assert_cmpstr (kind, ==, "serial");
      state = g_variant_lookup_value (section, "state", NULL);
      g_assert_true (g_variant_lookup (state, "port", "q", &port));
      g_assert_cmpuint (port, ==, i == 0 ? 0x3f8 : 0x2f8);
    }

  /* Into a VM without the second port: refused, naming it. */
  expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, "“serial1”, which this machine lacks");
  /* Into one with it: the guest carries on. */
  guest_new_with (&guest, TRUE, extra_output);
  g_assert_true (hv_vm_set_restore (guest.vm, dir.fd, &error));
  g_assert_no_error (error);
  g_assert_true (hv_vm_start (guest.vm, &error));
  g_assert_no_error (error);
  guest_send (&guest, "two q");
  g_assert_cmpint (guest_wait_exit (&guest), ==, HV_EXIT_POWER_OFF);
  {
    g_autofree char *out = vireo_test_guest_output (&guest);
    g_assert_cmpstr (out, ==, "two echo done\n");
  }
  vireo_test_guest_clear (&guest);
  close (extra_output);
  save_dir_clear (&dir);
}

static void
assert_all_quiesced (HvVm *vm, gboolean quiesced)
{
  for (unsigned i = 0; i < hv_devices_get_count (vm->devices); i++)
    {
      HvDevice *device = hv_devices_get (vm->devices, i);
      g_test_message ("%s (%s): %s", device->id, device->kind->info->name,
                      device->quiesced ? "quiesced" : "running");
      g_assert_true (device->realized);
      g_assert_cmpint (device->quiesced, ==, quiesced);
    }
}

/* Pausing quiesces every device of the VM, whatever its kind and however many of it; saving finds
 * them so; resuming lets them all go. */
static void
test_quiesce (void)
{
  Guest guest = { 0 };
  SaveDir dir;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = vireo_test_guest_path ("echo");

  if (!vireo_test_require_kvm ())
    return;
  guest_new_with (&guest, TRUE, -1);
  g_assert_true (hv_vm_set_display (guest.vm, TRUE, &error));
  g_assert_true (hv_vm_add_device (guest.vm, "virtio-keyboard", NULL, &error));
  g_assert_true (hv_vm_add_device (guest.vm, "virtio-tablet", "pen", &error));
  g_assert_no_error (error);
  g_assert_true (hv_vm_set_kernel (guest.vm, path, NULL, NULL, &error));
  g_assert_true (hv_vm_start (guest.vm, &error));
  g_assert_no_error (error);
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "echo ready", 60));
  g_assert_cmpuint (hv_devices_get_count (guest.vm->devices), ==, 11);
  g_assert_nonnull (hv_devices_lookup (guest.vm->devices, "keyboard1"));
  g_assert_nonnull (hv_devices_lookup (guest.vm->devices, "pen"));
  assert_all_quiesced (guest.vm, FALSE);

  g_assert_true (hv_vm_pause (guest.vm, &error));
  g_assert_no_error (error);
  assert_all_quiesced (guest.vm, TRUE);
  /* A quiesced serial port takes nothing more from its input: typing waits in the pipe, where a
   * save does not need it. */
  guest_send (&guest, "held ");
  g_usleep (200000);
  {
    int queued = 0;
    g_assert_no_errno (ioctl (guest.input_pipe[0], FIONREAD, &queued));
    g_assert_cmpint (queued, ==, 5);
  }
  save_dir_init (&dir);
  save_guest (&guest, &dir, "echo with a display and extra devices");
  assert_all_quiesced (guest.vm, TRUE);
  g_assert_true (hv_vm_resume (guest.vm, &error));
  g_assert_no_error (error);
  assert_all_quiesced (guest.vm, FALSE);
  /* Running again, and what waited is delivered. */
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "held ", 30));
  vireo_test_guest_clear (&guest);
  save_dir_clear (&dir);
}

/* The number of the last complete "tick N" line in @text after byte @from, skipping a first line cut
 * at @from; 0 when there is none. */
static uint64_t
last_tick (const char *text, gsize from, uint64_t *first)
{
  const char *p = text + from;
  uint64_t last = 0;

  if (from > 0 && text[from - 1] != '\n')
    {
      p = strchr (p, '\n');
      p = p ? p + 1 : text + strlen (text);
    }
  *first = 0;
  while (*p)
    {
      const char *end = strchr (p, '\n');
      if (end == NULL)
        break;
      if (g_str_has_prefix (p, "tick "))
        {
          last = g_ascii_strtoull (p + 5, NULL, 10);
          if (*first == 0)
            *first = last;
        }
      p = end + 1;
    }
  return last;
}

typedef struct
{
  Guest *guest;
  uint64_t at_least;
  gsize from;
} TickWait;

static gboolean
ticked (gpointer data)
{
  TickWait *wait = data;
  g_autofree char *out = vireo_test_guest_output (wait->guest);
  uint64_t first;

  return last_tick (out, MIN (wait->from, strlen (out)), &first) >= wait->at_least;
}

/* The guest's count after the revert starts again from the checkpoint's; then saving the reverted
 * VM (memory mapped from the checkpoint, plus what it wrote since) and restoring that into a new VM
 * carries on from there too.  With @touch_mib, that much guest memory is dirtied first (from the
 * host, as the guest would) and the revert is timed: the benchmark's "Apply to running". */
static void
check_revert (uint64_t memory, uint64_t touch_mib)
{
  Guest guest = { 0 }, again = { 0 };
  SaveDir dir, later;
  g_autoptr (GError) error = NULL;
  g_autofree char *at_save = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  TickWait wait = { .guest = &guest };
  uint64_t saved_tick, first, last;
  gint64 start, reverted, resumed;

  guest_boot (&guest, "tick-counter", "spin=3000000", memory, 1);
  wait.at_least = 3;
  g_assert_true (vireo_test_wait_until (ticked, &wait, 60));
  for (uint64_t mib = 0; mib < touch_mib; mib++)
    memset (guest.vm->memory.base + (64ull << 20) + (mib << 20), (int) (mib | 1), 1u << 20);

  save_dir_init (&dir);
  save_guest_touched (&guest, &dir, "tick-counter checkpoint", (gint64) touch_mib << 20);
  at_save = vireo_test_guest_output (&guest);
  saved_tick = last_tick (at_save, 0, &first);
  g_assert_true (hv_vm_resume (guest.vm, &error));

  /* Well past the checkpoint, and memory changed since. */
  wait.at_least = saved_tick + 5;
  g_assert_true (vireo_test_wait_until (ticked, &wait, 60));
  if (touch_mib > 0)
    memset (guest.vm->memory.base + (64ull << 20), 0xee, touch_mib << 20);
  g_assert_true (hv_vm_pause (guest.vm, &error));
  before = vireo_test_guest_output (&guest);

  start = g_get_monotonic_time ();
  g_assert_true (hv_vm_revert (guest.vm, dir.fd, &error));
  g_assert_no_error (error);
  reverted = g_get_monotonic_time ();
  g_assert_true (hv_vm_resume (guest.vm, &error));
  resumed = g_get_monotonic_time ();
  g_test_message ("%" G_GUINT64_FORMAT " MiB guest, %" G_GUINT64_FORMAT " MiB touched: reverted in %.3f ms, "
                  "running again after %.3f ms",
                  memory >> 20, touch_mib, (reverted - start) / 1000.0, (resumed - start) / 1000.0);
  for (uint64_t mib = 0; mib < touch_mib; mib += 64)
    g_assert_cmpint (guest.vm->memory.base[(64ull << 20) + (mib << 20)], ==, (uint8_t) (mib | 1));

  /* Counting again from the checkpoint's count, not from the present's. */
  wait.from = strlen (before);
  wait.at_least = 1;
  g_assert_true (vireo_test_wait_until (ticked, &wait, 60));
  after = vireo_test_guest_output (&guest);
  last = last_tick (after, strlen (before), &first);
  g_test_message ("ticks: %" G_GUINT64_FORMAT " at the checkpoint, %" G_GUINT64_FORMAT
                  " before the revert, %" G_GUINT64_FORMAT " first after it",
                  saved_tick, last_tick (before, 0, &(uint64_t){ 0 }), first);
  g_assert_cmpuint (first, >=, saved_tick);
  g_assert_cmpuint (first, <=, saved_tick + 2);
  g_assert_cmpuint (last_tick (before, 0, &(uint64_t){ 0 }), >=, saved_tick + 5);

  /* The reverted VM saves and restores like any other. */
  save_dir_init (&later);
  save_guest_touched (&guest, &later, "tick-counter after the revert", (gint64) touch_mib << 20);
  g_free (after);
  after = vireo_test_guest_output (&guest);
  last = last_tick (after, 0, &first);
  vireo_test_guest_clear (&guest);
  restore_guest (&again, &later, memory, 1, "tick-counter after the revert");
  wait.guest = &again;
  wait.from = 0;
  wait.at_least = last + 2;
  g_assert_true (vireo_test_wait_until (ticked, &wait, 60));
  for (uint64_t mib = 0; mib < touch_mib; mib += 64)
    g_assert_cmpint (again.vm->memory.base[(64ull << 20) + (mib << 20)], ==, (uint8_t) (mib | 1));
  vireo_test_guest_clear (&again);
  save_dir_clear (&later);
  save_dir_clear (&dir);
}

static void
test_revert (void)
{
  if (!vireo_test_require_kvm ())
    return;
  check_revert (64ull << 20, 0);
}

/* The benchmark's case: 1 GiB with 512 MiB touched. */
static void
test_revert_large (void)
{
  if (!vireo_test_require_kvm ())
    return;
  check_revert (1ull << 30, 512);
}

/* Reverting needs a paused VM, and a folder of the same configuration. */
static void
test_revert_refused (void)
{
  Guest guest = { 0 }, other = { 0 };
  SaveDir dir;
  g_autoptr (GError) error = NULL;

  if (!vireo_test_require_kvm ())
    return;
  guest_boot (&other, "echo", NULL, 64ull << 20, 1);
  g_assert_true (vireo_test_guest_wait_for_output (&other, "echo ready", 60));
  save_dir_init (&dir);
  save_guest (&other, &dir, "echo");
  vireo_test_guest_clear (&other);

  guest_boot (&guest, "echo", NULL, 128ull << 20, 1);
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "echo ready", 60));
  g_assert_false (hv_vm_revert (guest.vm, dir.fd, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_STATE);
  g_clear_error (&error);
  g_assert_true (hv_vm_pause (guest.vm, &error));
  g_assert_false (hv_vm_revert (guest.vm, dir.fd, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  /* Refused before anything changed: the guest carries on. */
  g_assert_true (hv_vm_resume (guest.vm, &error));
  guest_send (&guest, "still q");
  g_assert_cmpint (guest_wait_exit (&guest), ==, HV_EXIT_POWER_OFF);
  vireo_test_guest_clear (&guest);
  save_dir_clear (&dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/snapshot/crc64", test_crc64);
  g_test_add_func ("/snapshot/echo", test_echo);
  g_test_add_func ("/snapshot/echo-stream", test_echo_stream);
  g_test_add_func ("/snapshot/save-restored", test_save_restored);
  g_test_add_func ("/snapshot/power-button", test_power_button);
  g_test_add_func ("/snapshot/compute", test_compute);
  g_test_add_func ("/snapshot/wrong-state", test_wrong_state);
  g_test_add_func ("/snapshot/two-serial-ports", test_two_serial_ports);
  g_test_add_func ("/snapshot/quiesce", test_quiesce);
  g_test_add_func ("/snapshot/revert", test_revert);
  g_test_add_func ("/snapshot/revert-large", test_revert_large);
  g_test_add_func ("/snapshot/revert-refused", test_revert_refused);
  snapshot_add_file_tests ();
  return g_test_run ();
}
