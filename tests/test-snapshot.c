/* test-snapshot.c — saving a paused VM to a folder and restoring it into a new VM: the guests carry
 * on where they were (echo, power button, a computation in flight), and damaged, foreign,
 * mismatched or incomplete saved states are refused with a clear error. */
#include "state.h"
#include "test-util.h"
#include "vm-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef VireoTestGuest Guest;

/* A VM with @memory and @cpus, serial output to a memfd and input from a pipe; not started. */
static void
guest_new (Guest *guest, uint64_t memory, unsigned cpus)
{
  vireo_test_guest_init (guest, memory, cpus);
}

/* Boots test guest @name. */
static void
guest_boot (Guest *guest, const char *name, const char *cmdline, uint64_t memory, unsigned cpus)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = vireo_test_guest_path (name);

  guest_new (guest, memory, cpus);
  g_assert_true (hv_vm_set_kernel (guest->vm, path, NULL, cmdline, &error));
  g_assert_true (hv_vm_start (guest->vm, &error));
  g_assert_no_error (error);
}

static void
guest_send (Guest *guest, const char *text)
{
  g_assert_cmpint (write (guest->input_pipe[1], text, strlen (text)), ==, (ssize_t) strlen (text));
}

static HvExitReason
guest_wait_exit (Guest *guest)
{
  HvExitInfo info = { 0 };
  HvExitReason reason;

  hv_vm_wait (guest->vm, &info);
  g_test_message ("the guest ended: %s (%s)", hv_exit_reason_to_string (info.reason), info.message);
  reason = info.reason;
  hv_exit_info_clear (&info);
  return reason;
}

/* A temporary folder for a saved VM, removed with everything in it. */
typedef struct
{
  char *path;
  int fd;
} SaveDir;

static void
save_dir_init (SaveDir *dir)
{
  g_autoptr (GError) error = NULL;

  dir->path = g_dir_make_tmp ("vireo-snapshot-XXXXXX", &error);
  g_assert_no_error (error);
  dir->fd = open (dir->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_assert_cmpint (dir->fd, >=, 0);
}

static void
save_dir_clear (SaveDir *dir)
{
  g_autoptr (GDir) listing = g_dir_open (dir->path, 0, NULL);
  const char *name;

  while (listing && (name = g_dir_read_name (listing)) != NULL)
    g_assert_no_errno (unlinkat (dir->fd, name, 0));
  close (dir->fd);
  g_assert_no_errno (rmdir (dir->path));
  g_free (dir->path);
}

static char *
save_dir_file (SaveDir *dir, const char *name)
{
  return g_build_filename (dir->path, name, NULL);
}

/* Pauses, saves and measures; the VM stays paused.  The memory file must hold at most @touched bytes
 * of data more than a quarter of the guest's memory: saves are sparse. */
static void
save_guest_touched (Guest *guest, SaveDir *dir, const char *label, gint64 touched)
{
  g_autoptr (GError) error = NULL;
  struct stat state_st, memory_st;
  gint64 start;

  g_assert_true (hv_vm_pause (guest->vm, &error));
  g_assert_no_error (error);
  start = g_get_monotonic_time ();
  g_assert_true (hv_vm_save (guest->vm, dir->fd, &error));
  g_assert_no_error (error);
  g_assert_no_errno (fstatat (dir->fd, "state", &state_st, 0));
  g_assert_no_errno (fstatat (dir->fd, "memory", &memory_st, 0));
  g_test_message ("%s: saved in %.1f ms; state %" G_GINT64_FORMAT " bytes, memory %" G_GINT64_FORMAT
                  " MiB apparent, %" G_GINT64_FORMAT " KiB on disk",
                  label, (g_get_monotonic_time () - start) / 1000.0, (gint64) state_st.st_size,
                  (gint64) memory_st.st_size >> 20, (gint64) memory_st.st_blocks / 2);
  /* Guest memory is private to its owner. */
  g_assert_cmpint (state_st.st_mode & 0777, ==, 0600);
  g_assert_cmpint (memory_st.st_mode & 0777, ==, 0600);
  /* Sparse: the guests touch a few MiB of their memory. */
  g_assert_cmpint ((gint64) memory_st.st_blocks * 512, <, memory_st.st_size / 4 + touched);
  g_assert_false (hv_vm_has_exited (guest->vm));
}

static void
save_guest (Guest *guest, SaveDir *dir, const char *label)
{
  save_guest_touched (guest, dir, label, 0);
}

/* Restores @dir into a new VM with @memory and @cpus and starts it. */
static void
restore_guest (Guest *guest, SaveDir *dir, uint64_t memory, unsigned cpus, const char *label)
{
  g_autoptr (GError) error = NULL;
  gint64 start;

  guest_new (guest, memory, cpus);
  start = g_get_monotonic_time ();
  g_assert_true (hv_vm_set_restore (guest->vm, dir->fd, &error));
  g_assert_no_error (error);
  g_assert_true (hv_vm_start (guest->vm, &error));
  g_assert_no_error (error);
  g_test_message ("%s: restored and started in %.1f ms", label, (g_get_monotonic_time () - start) / 1000.0);
}

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

/* Bad saved states: each is a copy of a good one, spoiled one way. */

static void
make_good_save (SaveDir *dir)
{
  Guest guest = { 0 };

  guest_boot (&guest, "echo", NULL, 64ull << 20, 1);
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "echo ready", 60));
  save_dir_init (dir);
  save_guest (&guest, dir, "echo, 64 MiB");
  vireo_test_guest_clear (&guest);
}

static GBytes *
read_saved (SaveDir *dir, const char *name)
{
  g_autofree char *path = save_dir_file (dir, name);
  g_autoptr (GError) error = NULL;
  char *data;
  gsize len;

  g_assert_true (g_file_get_contents (path, &data, &len, &error));
  return g_bytes_new_take (data, len);
}

static void
write_saved (SaveDir *dir, const char *name, const void *data, gsize len)
{
  g_autofree char *path = save_dir_file (dir, name);
  g_autoptr (GError) error = NULL;

  g_assert_true (g_file_set_contents (path, data, (gssize) len, &error));
}

/* Restores into a new VM of the saved shape, expecting @code with @words in the message, either
 * from hv_vm_set_restore or (for problems only the machine can see) from hv_vm_start. */
static void
expect_restore_error (SaveDir *dir, uint64_t memory, unsigned cpus, HvError code, const char *words)
{
  Guest guest = { 0 };
  g_autoptr (GError) error = NULL;

  guest_new (&guest, memory, cpus);
  if (hv_vm_set_restore (guest.vm, dir->fd, &error))
    g_assert_false (hv_vm_start (guest.vm, &error));
  g_assert_nonnull (error);
  g_test_message ("refused: %s", error->message);
  g_assert_error (error, HV_ERROR, (gint) code);
  g_assert_nonnull (strstr (error->message, words));
  vireo_test_guest_clear (&guest);
}

/* Rewrites "state" with @body behind a correct header of format @format_version, as a crafted file
 * would be. */
static void
write_state_body_version (SaveDir *dir, GVariant *body, uint32_t format_version)
{
  gsize len = g_variant_get_size (body);
  g_autofree uint8_t *file = g_malloc0 (32 + len);
  uint64_t crc;
  uint64_t len64 = GUINT64_TO_LE (len);
  uint32_t version = GUINT32_TO_LE (format_version);

  memcpy (file, "VIREOSAV", 8);
  memcpy (file + 8, &version, 4);
  memcpy (file + 16, &len64, 8);
  g_variant_store (body, file + 32);
  crc = GUINT64_TO_LE (hv_crc64 (hv_crc64 (0, file, 24), file + 32, len));
  memcpy (file + 24, &crc, 8);
  write_saved (dir, "state", file, 32 + len);
}

/* The format this Vireo writes. */
static void
write_state_body (SaveDir *dir, GVariant *body)
{
  write_state_body_version (dir, body, 2);
}

/* Format version 1 keyed each device's state on a fixed name; version 2 keeps one section per device
 * id, with its kind and the version of its state. */
static const struct
{
  const char *v1_name;
  const char *id;
} v1_devices[] = {
  { "pci", "pci0" }, { "serial", "serial0" }, { "i8042", "kbc0" }, { "rtc", "rtc0" }, { "acpi-pm", "pm0" },
};

/* A format-2 body as today's saved state, format 1, would have held it: the device states under
 * their old names, without what their sections added since (the serial port's "port" and "gsi"). */
static GVariant *
body_as_v1 (GVariant *body)
{
  g_autoptr (GVariant) sections = g_variant_lookup_value (body, "devices", G_VARIANT_TYPE ("a{sa{sv}}"));
  GVariantBuilder devices;
  GVariantDict dict;

  g_assert_nonnull (sections);
  g_variant_builder_init (&devices, G_VARIANT_TYPE ("a{sa{sv}}"));
  for (gsize i = 0; i < G_N_ELEMENTS (v1_devices); i++)
    {
      g_autoptr (GVariant) section = g_variant_lookup_value (sections, v1_devices[i].id, NULL);
      g_autoptr (GVariant) state = NULL;
      GVariantDict old;

      g_assert_nonnull (section);
      state = g_variant_lookup_value (section, "state", G_VARIANT_TYPE_VARDICT);
      g_assert_nonnull (state);
      g_variant_dict_init (&old, state);
      g_variant_dict_remove (&old, "port");
      g_variant_dict_remove (&old, "gsi");
      g_variant_builder_add (&devices, "{s@a{sv}}", v1_devices[i].v1_name, g_variant_dict_end (&old));
    }
  g_assert_cmpuint (g_variant_n_children (sections), ==, G_N_ELEMENTS (v1_devices));
  g_variant_dict_init (&dict, body);
  g_variant_dict_insert_value (&dict, "devices", g_variant_builder_end (&devices));
  return g_variant_ref_sink (g_variant_dict_end (&dict));
}

/* A crafted-state path of format 1 ("devices/serial/rx") in format 2 ("devices/serial0/state/rx"). */
static char *
path_as_v2 (const char *path)
{
  g_auto (GStrv) parts = g_strsplit (path, "/", 3);

  if (g_strcmp0 (parts[0], "devices") != 0 || parts[1] == NULL)
    return g_strdup (path);
  for (gsize i = 0; i < G_N_ELEMENTS (v1_devices); i++)
    if (strcmp (parts[1], v1_devices[i].v1_name) == 0)
      return parts[2] ? g_strdup_printf ("devices/%s/state/%s", v1_devices[i].id, parts[2])
                      : g_strdup_printf ("devices/%s/state", v1_devices[i].id);
  return g_strdup (path);
}

/* The saved state's dictionary with @path (keys separated by '/') replaced by @value. */
static GVariant *
replace_in_state (GVariant *dict, const char *path, GVariant *value)
{
  g_auto (GStrv) keys = g_strsplit (path, "/", 2);
  GVariantDict d;

  g_variant_ref_sink (value);
  g_variant_dict_init (&d, dict);
  if (keys[1] == NULL)
    g_variant_dict_insert_value (&d, keys[0], value);
  else
    {
      g_autoptr (GVariant) inner = g_variant_dict_lookup_value (&d, keys[0], NULL);
      g_assert_nonnull (inner);
      if (g_variant_is_of_type (inner, G_VARIANT_TYPE ("aa{sv}")))
        {
          /* "vcpus/key": in the first vCPU's dictionary. */
          GVariantBuilder list;
          g_variant_builder_init (&list, G_VARIANT_TYPE ("aa{sv}"));
          for (gsize i = 0; i < g_variant_n_children (inner); i++)
            {
              g_autoptr (GVariant) child = g_variant_get_child_value (inner, i);
              g_variant_builder_add_value (&list, i == 0 ? replace_in_state (child, keys[1], value)
                                                         : g_variant_ref (child));
            }
          g_variant_dict_insert_value (&d, keys[0], g_variant_builder_end (&list));
        }
      else if (g_variant_is_of_type (inner, G_VARIANT_TYPE ("a{sa{sv}}")))
        {
          /* "devices/name/key", or "devices/name" for the device's whole dictionary. */
          g_auto (GStrv) rest = g_strsplit (keys[1], "/", 2);
          GVariantBuilder devices;
          GVariantIter iter;
          const char *name;
          GVariant *device;
          gboolean found = FALSE;
          g_variant_builder_init (&devices, G_VARIANT_TYPE ("a{sa{sv}}"));
          g_variant_iter_init (&iter, inner);
          while (g_variant_iter_next (&iter, "{&s@a{sv}}", &name, &device))
            {
              found = found || strcmp (name, rest[0]) == 0;
              if (strcmp (name, rest[0]) != 0)
                g_variant_builder_add (&devices, "{s@a{sv}}", name, device);
              else if (rest[1] == NULL)
                g_variant_builder_add (&devices, "{s@a{sv}}", name, value);
              else
                {
                  g_autoptr (GVariant) changed = replace_in_state (device, rest[1], value);
                  g_variant_builder_add (&devices, "{s@a{sv}}", name, changed);
                }
              g_variant_unref (device);
            }
          /* "devices/name" of a device the machine lacks adds it. */
          if (!found && rest[1] == NULL)
            g_variant_builder_add (&devices, "{s@a{sv}}", rest[0], value);
          g_variant_dict_insert_value (&d, keys[0], g_variant_builder_end (&devices));
        }
      else
        g_variant_dict_insert_value (&d, keys[0], replace_in_state (inner, keys[1], value));
    }
  g_variant_unref (value);
  return g_variant_ref_sink (g_variant_dict_end (&d));
}

static void
test_bad_files (void)
{
  SaveDir dir;
  g_autoptr (GBytes) state = NULL;
  g_autoptr (GBytes) memory = NULL;
  g_autoptr (GVariant) body = NULL;
  const uint8_t *data;
  gsize len;

  if (!vireo_test_require_kvm ())
    return;
  make_good_save (&dir);
  state = read_saved (&dir, "state");
  memory = read_saved (&dir, "memory");
  data = g_bytes_get_data (state, &len);

  /* The good one first, so that the failures below are the spoiling's doing. */
  {
    Guest guest = { 0 };
    g_autoptr (GError) error = NULL;
    guest_new (&guest, 64ull << 20, 1);
    g_assert_true (hv_vm_set_restore (guest.vm, dir.fd, &error));
    g_assert_no_error (error);
    vireo_test_guest_clear (&guest);
  }

  /* Truncated, at several places. */
  write_saved (&dir, "state", data, len - 1);
  expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, "truncated");
  write_saved (&dir, "state", data, 20);
  expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, "truncated");
  write_saved (&dir, "state", data, 4);
  expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, "not a Vireo saved state");
  write_saved (&dir, "state", "", 0);
  expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, "not a Vireo saved state");

  /* One flipped byte, in the header's length, in the body, in the checksum. */
  for (gsize at = 0; at < 3; at++)
    {
      gsize offsets[] = { 17, len / 2, 30 };
      g_autofree uint8_t *copy = g_memdup2 (data, len);
      copy[offsets[at]] ^= 0x10;
      write_saved (&dir, "state", copy, len);
      expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, at == 0 ? "truncated" : "checksum");
    }

  /* A foreign file, and a state of another format version. */
  write_saved (&dir, "state", "\177ELF\2\1\1\0\0\0\0\0\0\0\0\0\3\0>\0\1\0\0\0 and the rest of a program", 50);
  expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, "not a Vireo saved state");
  {
    g_autofree uint8_t *copy = g_memdup2 (data, len);
    copy[8] = 3;
    write_saved (&dir, "state", copy, len);
    expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, "version 3");
  }

  /* Good state, but a VM configured differently. */
  write_saved (&dir, "state", data, len);
  expect_restore_error (&dir, 128ull << 20, 1, HV_ERROR_INVALID_ARGUMENT, "64 MiB of memory");
  expect_restore_error (&dir, 64ull << 20, 2, HV_ERROR_INVALID_ARGUMENT, "1 vCPUs");

  /* The memory file missing, cut short, or from another save. */
  g_assert_no_errno (unlinkat (dir.fd, "memory", 0));
  expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_NOT_FOUND, "memory");
  {
    gsize memory_len;
    const uint8_t *memory_data = g_bytes_get_data (memory, &memory_len);
    g_autofree uint8_t *copy = g_memdup2 (memory_data, memory_len);
    write_saved (&dir, "memory", memory_data, memory_len - 4096);
    expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, "memory is");
    copy[30] ^= 1; /* the id */
    write_saved (&dir, "memory", copy, memory_len);
    expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, "memory");
    write_saved (&dir, "memory", "hello", 5);
    expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, "not the memory");
    write_saved (&dir, "memory", memory_data, memory_len);
  }
  g_assert_no_errno (unlinkat (dir.fd, "state", 0));
  expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_NOT_FOUND, "state");

  /* Crafted: a correct checksum over content that is wrong. */
  body = g_variant_new_from_bytes (G_VARIANT_TYPE_VARDICT, g_bytes_new_from_bytes (state, 32, len - 32),
                                   FALSE);
  g_variant_ref_sink (body);
  {
    static const struct
    {
      const char *path;
      const char *value;
      const char *words;
    } cases[] = {
      { "vcpu-count", "uint32 0", "out of range" },
      { "vcpus/mp-state", "uint32 99", "mp-state" },
      { "vcpus/regs", "[byte 1, 2, 3]", "regs" },
      { "vcpus/msrs", "[(uint32 0xdeadbeef, uint64 0)]", "MSR 0xdeadbeef" },
      { "vcpus/cpuid", "@a(uuuuuuu) []", "CPUID" },
      { "vm/clock", "'a string'", "clock" },
      { "memory-id", "[byte 1]", "memory-id" },
      { "devices/serial/rx", "[byte 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]", "rx" },
      { "devices/serial/trigger-level", "byte 5", "trigger level" },
      { "devices/i8042/scancode-set", "byte 9", "scancode set" },
      { "devices/i8042/keyboard-queue", "[uint16 0x1234]", "keyboard-queue" },
      { "devices/rtc/index", "byte 0x80", "index" },
      { "devices/rtc/offset-usec", "int64 9000000000000000000", "RTC" },
      { "devices/acpi-pm/pm1-enable", "uint16 0xffff", "ACPI" },
      { "devices/pci/devices", "[(byte 0, 'host bridge', [byte 1], [uint64 0])]", "PCI" },
      { "devices/pci/devices", "[(byte 3, 'host bridge', [byte 1], [uint64 0])]", "slot 3" },
      { "devices/pci/devices", "@a(ysayat) []", "missing" },
      { "devices/serial", "@a{sv} {}", "“ier” is missing" },
      { "devices/floppy", "@a{sv} {}", "“floppy”, which this machine lacks" },
    };

    g_autoptr (GVariant) body_v1 = body_as_v1 (body);

    /* Each in today's format, and in format 1 as it was written before device sections. */
    for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
      {
        g_autoptr (GError) error = NULL;
        g_autoptr (GVariant) value = g_variant_parse (NULL, cases[i].value, NULL, NULL, &error);
        g_autoptr (GVariant) crafted = NULL;
        g_autoptr (GVariant) crafted_v1 = NULL;
        g_autofree char *path = path_as_v2 (cases[i].path);
        g_assert_no_error (error);
        g_test_message ("crafted: %s = %s", path, cases[i].value);
        crafted = replace_in_state (body, path, value);
        write_state_body (&dir, crafted);
        /* The memory-id case is caught before the memory file is looked at; a vcpu-count of 0
         * before the configuration is compared. */
        expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, cases[i].words);

        g_test_message ("crafted, format 1: %s = %s", cases[i].path, cases[i].value);
        crafted_v1 = replace_in_state (body_v1, cases[i].path, value);
        write_state_body_version (&dir, crafted_v1, 1);
        expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, cases[i].words);
      }
  }
  /* A well-formed variant of the wrong type at the top. */
  {
    g_autoptr (GVariant) other = g_variant_ref_sink (g_variant_new_string ("not a dictionary"));
    write_state_body (&dir, other);
    expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, "");
  }

  save_dir_clear (&dir);
}

/* The body of a saved "state" file, its header checked away. */
static GVariant *
read_state_body (SaveDir *dir)
{
  g_autoptr (GBytes) state = read_saved (dir, "state");
  gsize len = g_bytes_get_size (state);
  g_autoptr (GBytes) body = g_bytes_new_from_bytes (state, 32, len - 32);

  g_assert_cmpuint (len, >, 32);
  g_assert_cmpint (memcmp (g_bytes_get_data (state, NULL), "VIREOSAV\2\0\0\0", 12), ==, 0);
  return g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE_VARDICT, body, FALSE));
}

/* The restored echo guest carries on: what it is sent comes back, then it powers off. */
static void
expect_echo_carries_on (SaveDir *dir, const char *label)
{
  Guest guest = { 0 };
  g_autofree char *out = NULL;

  restore_guest (&guest, dir, 64ull << 20, 1, label);
  guest_send (&guest, "carried on q");
  g_assert_cmpint (guest_wait_exit (&guest), ==, HV_EXIT_POWER_OFF);
  out = vireo_test_guest_output (&guest);
  g_assert_cmpstr (out, ==, "carried on echo done\n");
  vireo_test_guest_clear (&guest);
}

/* A state saved in format 1, before device sections, restores: its devices' states become version 1
 * sections, and the fields added since take their defaults. */
static void
test_format_1_restores (void)
{
  SaveDir dir;
  g_autoptr (GVariant) body = NULL;
  g_autoptr (GVariant) body_v1 = NULL;

  if (!vireo_test_require_kvm ())
    return;
  make_good_save (&dir);
  body = read_state_body (&dir);
  body_v1 = body_as_v1 (body);
  write_state_body_version (&dir, body_v1, 1);
  expect_echo_carries_on (&dir, "echo, format 1");
  save_dir_clear (&dir);
}

/* Each device's section has its own version: an older one loads, with the fields added since at
 * their defaults; a newer one is refused, naming the device and the version. */
static void
test_section_versions (void)
{
  SaveDir dir;
  g_autoptr (GVariant) body = NULL;
  g_autoptr (GVariant) old_serial = NULL;
  g_autoptr (GVariant) trimmed = NULL;
  g_autoptr (GVariant) newer = NULL;
  g_autoptr (GVariant) value = NULL;
  g_autoptr (GVariant) serial_state = NULL;
  GVariantDict dict;

  if (!vireo_test_require_kvm ())
    return;
  make_good_save (&dir);
  body = read_state_body (&dir);
  {
    g_autoptr (GVariant) sections = g_variant_lookup_value (body, "devices", NULL);
    g_autoptr (GVariant) section = g_variant_lookup_value (sections, "serial0", NULL);
    uint32_t version = 0;
    g_assert_true (g_variant_lookup (section, "version", "u", &version));
    g_assert_cmpuint (version, ==, 2);
    serial_state = g_variant_lookup_value (section, "state", G_VARIANT_TYPE_VARDICT);
  }

  /* serial0 as version 1 wrote it: no "port" or "gsi" (COM1's, then). */
  g_variant_dict_init (&dict, serial_state);
  g_assert_true (g_variant_dict_remove (&dict, "port"));
  g_assert_true (g_variant_dict_remove (&dict, "gsi"));
  trimmed = g_variant_ref_sink (g_variant_dict_end (&dict));
  old_serial = replace_in_state (body, "devices/serial0/state", trimmed);
  value = g_variant_ref_sink (g_variant_new_uint32 (1));
  {
    g_autoptr (GVariant) old = replace_in_state (old_serial, "devices/serial0/version", value);
    write_state_body (&dir, old);
  }
  expect_echo_carries_on (&dir, "echo, serial section version 1");

  /* Version 2 has them: without them it is refused. */
  write_state_body (&dir, old_serial);
  expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, "“port” is missing");

  g_clear_pointer (&value, g_variant_unref);
  value = g_variant_ref_sink (g_variant_new_uint32 (3));
  newer = replace_in_state (body, "devices/serial0/version", value);
  write_state_body (&dir, newer);
  expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE,
                        "device “serial0” (serial) has version 3; this version of Vireo reads "
                        "versions 1 to 2");
  g_clear_pointer (&newer, g_variant_unref);
  newer = replace_in_state (body, "devices/rtc0/version", value);
  write_state_body (&dir, newer);
  expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, "device “rtc0” (rtc) has version 3");
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
  g_test_add_func ("/snapshot/bad-files", test_bad_files);
  g_test_add_func ("/snapshot/format-1-restores", test_format_1_restores);
  g_test_add_func ("/snapshot/section-versions", test_section_versions);
  g_test_add_func ("/snapshot/two-serial-ports", test_two_serial_ports);
  g_test_add_func ("/snapshot/quiesce", test_quiesce);
  g_test_add_func ("/snapshot/revert", test_revert);
  g_test_add_func ("/snapshot/revert-large", test_revert_large);
  g_test_add_func ("/snapshot/revert-refused", test_revert_refused);
  return g_test_run ();
}
