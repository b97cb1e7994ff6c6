/* test-util.c — helpers shared by the test programs. */
#include "test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

gboolean
vireo_test_require_kvm (void)
{
  int fd = open ("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    {
      g_autofree char *why = g_strdup_printf ("needs /dev/kvm, which cannot be opened: %s",
                                              g_strerror (errno));
      g_test_skip (why);
      return FALSE;
    }
  close (fd);
  return TRUE;
}

char *
vireo_test_guest_path (const char *name)
{
  const char *dir = g_getenv ("VIREO_GUESTS_DIR");
  g_autofree char *file = g_strconcat (name, ".elf", NULL);
  if (dir == NULL)
    dir = "tests/guests";
  return g_build_filename (dir, file, NULL);
}

const char *
vireo_test_vireo_run (void)
{
  const char *path = g_getenv ("VIREO_RUN");
  return path ? path : "hypervisor/vireo-run";
}

void
vireo_test_guest_init (VireoTestGuest *guest, uint64_t memory, unsigned cpus)
{
  g_autoptr (GError) error = NULL;

  guest->vm = hv_vm_new (NULL, &error);
  g_assert_no_error (error);
  g_assert_true (hv_vm_set_memory (guest->vm, memory, &error));
  g_assert_true (hv_vm_set_vcpus (guest->vm, cpus, &error));
  guest->output_fd = memfd_create ("guest-serial", MFD_CLOEXEC);
  g_assert_cmpint (guest->output_fd, >=, 0);
  g_assert_no_errno (pipe2 (guest->input_pipe, O_CLOEXEC));
  hv_vm_set_serial (guest->vm, guest->input_pipe[0], guest->output_fd);
}

void
vireo_test_guest_clear (VireoTestGuest *guest)
{
  g_clear_pointer (&guest->vm, hv_vm_free);
  if (guest->output_fd >= 0)
    close (guest->output_fd);
  for (int i = 0; i < 2; i++)
    if (guest->input_pipe[i] >= 0)
      close (guest->input_pipe[i]);
  guest->output_fd = guest->input_pipe[0] = guest->input_pipe[1] = -1;
}

char *
vireo_test_guest_output (VireoTestGuest *guest)
{
  off_t size = lseek (guest->output_fd, 0, SEEK_END);
  char *text = g_malloc0 ((gsize) size + 1);
  g_assert_cmpint (pread (guest->output_fd, text, (gsize) size, 0), ==, size);
  return text;
}

gboolean
vireo_test_guest_wait_for_output (VireoTestGuest *guest, const char *needle, unsigned seconds)
{
  gint64 deadline = g_get_monotonic_time () + seconds * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < deadline)
    {
      g_autofree char *text = vireo_test_guest_output (guest);
      if (strstr (text, needle))
        return TRUE;
      if (hv_vm_has_exited (guest->vm))
        return FALSE;
      g_usleep (5000);
    }
  return FALSE;
}

uint32_t
vireo_test_io_read (HvIoHandler handler, void *opaque, uint64_t offset, unsigned len)
{
  uint8_t buffer[4] = { 0xff, 0xff, 0xff, 0xff };
  uint32_t value = 0;

  g_assert_cmpuint (len, <=, sizeof buffer);
  handler (opaque, offset, buffer, len, FALSE);
  for (unsigned i = 0; i < len; i++)
    value |= (uint32_t) buffer[i] << (8 * i);
  return value;
}

void
vireo_test_io_write (HvIoHandler handler, void *opaque, uint64_t offset, unsigned len, uint32_t value)
{
  uint8_t buffer[4];

  g_assert_cmpuint (len, <=, sizeof buffer);
  for (unsigned i = 0; i < sizeof buffer; i++)
    buffer[i] = (uint8_t) (value >> (8 * i));
  handler (opaque, offset, buffer, len, TRUE);
}

GVariant *
vireo_test_state_through_bytes (GVariant *state)
{
  g_autoptr (GVariant) sunk = g_variant_ref_sink (state);
  g_autoptr (GBytes) bytes = g_variant_get_data_as_bytes (sunk);
  return g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE_VARDICT, bytes, FALSE));
}

GVariant *
vireo_test_state_spoiled (GVariant *good, const char *key, const char *value)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) parsed = g_variant_parse (NULL, value, NULL, NULL, &error);
  GVariantDict dict;

  g_assert_no_error (error);
  g_variant_dict_init (&dict, good);
  g_variant_dict_insert_value (&dict, key, parsed);
  return g_variant_ref_sink (g_variant_dict_end (&dict));
}

static void
record_irq (void *opaque, unsigned gsi, gboolean level)
{
  VireoTestPlatform *tp = opaque;
  g_assert_cmpuint (gsi, <, G_N_ELEMENTS (tp->irq_level));
  g_mutex_lock (&tp->lock);
  if (level && !tp->irq_level[gsi])
    tp->irq_raises[gsi]++;
  tp->irq_level[gsi] = level;
  g_mutex_unlock (&tp->lock);
}

static void
record_exit (void *opaque, HvExitReason reason, const char *message)
{
  VireoTestPlatform *tp = opaque;
  g_mutex_lock (&tp->lock);
  if (tp->exit_reason == HV_EXIT_NONE)
    {
      tp->exit_reason = reason;
      tp->exit_message = g_strdup (message);
    }
  tp->exit_requests++;
  g_mutex_unlock (&tp->lock);
}

void
vireo_test_platform_init (VireoTestPlatform *tp)
{
  memset (tp, 0, sizeof *tp);
  g_mutex_init (&tp->lock);
  tp->platform.set_irq = record_irq;
  tp->platform.request_exit = record_exit;
  tp->platform.opaque = tp;
}

void
vireo_test_platform_clear (VireoTestPlatform *tp)
{
  g_clear_pointer (&tp->exit_message, g_free);
  g_mutex_clear (&tp->lock);
}
