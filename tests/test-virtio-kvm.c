/* test-virtio-kvm.c — virtio-pci and virtio-input under KVM, driven by the display test guest
 * (tests/guests/display.c), whose driver sets the devices up through their registers and polls the
 * event queues: notifications by ioeventfd on the I/O thread, keys and tablet events from
 * hv_vm_input_*(), and a saved VM whose devices carry on in the restored one. */
#include "test-util.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define MEMORY (128ull << 20)

/* The display guest in a VM with a display, started, with its input devices set up. */
static void
guest_boot (VireoTestGuest *guest)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = vireo_test_guest_path ("display");

  vireo_test_guest_init (guest, MEMORY, 1);
  g_assert_true (hv_vm_set_display (guest->vm, TRUE, &error));
  g_assert_true (hv_vm_set_kernel (guest->vm, path, NULL, NULL, &error));
  g_assert_true (hv_vm_start (guest->vm, &error));
  g_assert_no_error (error);
  g_assert_true (vireo_test_guest_wait_for_output (guest,
                                                   "display: virtio-input 0 Vireo Virtio Keyboard "
                                                   "(keyboard)\n",
                                                   60));
  g_assert_true (vireo_test_guest_wait_for_output (guest,
                                                   "display: virtio-input 1 Vireo Virtio Tablet "
                                                   "(tablet)\n",
                                                   60));
  g_assert_true (vireo_test_guest_wait_for_output (guest, "display: input ready\n", 60));
}

static void
type_keys (VireoTestGuest *guest, const uint8_t *fragments, gsize n)
{
  for (gsize i = 0; i < n; i++)
    hv_vm_input_key (guest->vm, fragments[i]);
}

static unsigned
output_count (VireoTestGuest *guest, const char *needle)
{
  g_autofree char *text = vireo_test_guest_output (guest);
  unsigned count = 0;

  for (const char *p = strstr (text, needle); p; p = strstr (p + 1, needle))
    count++;
  return count;
}

/* Q powers the guest off. */
static void
power_off_with_q (VireoTestGuest *guest)
{
  HvExitInfo info = { 0 };

  type_keys (guest, (const uint8_t[]){ 0x10, 0x90 }, 2);
  g_assert_true (vireo_test_guest_wait_for_output (guest, "key: virtio 16 1\n", 30));
  hv_vm_wait (guest->vm, &info);
  g_assert_cmpint (info.reason, ==, HV_EXIT_POWER_OFF);
  hv_exit_info_clear (&info);
  g_assert_true (vireo_test_guest_wait_for_output (guest, "display: power off (q)\n", 1));
}

static void
test_input (void)
{
  VireoTestGuest guest;
  g_autofree char *output = NULL;

  if (!vireo_test_require_kvm ())
    return;
  guest_boot (&guest);

  /* A, then cursor up (an 0xe0 key): each press and release a report of its own. */
  type_keys (&guest, (const uint8_t[]){ 0x1e, 0x9e, 0xe0, 0x48, 0xe0, 0xc8 }, 6);
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "key: virtio 103 0\n", 30));
  output = vireo_test_guest_output (&guest);
  g_assert_nonnull (strstr (output, "key: virtio 30 1\nkey: virtio 30 0\nkey: virtio 103 1\n"));
  /* The virtio keyboard had them all: none went to PS/2. */
  g_assert_null (strstr (output, "key: ps2"));

  /* Many reports in a row: more than the guest's 64 buffers hold at once, none lost, in order. */
  for (unsigned i = 0; i < 100; i++)
    type_keys (&guest, (const uint8_t[]){ 0x30, 0xb0 }, 2);
  {
    gint64 deadline = g_get_monotonic_time () + 30 * G_TIME_SPAN_SECOND;
    while (output_count (&guest, "key: virtio 48 0\n") < 100)
      {
        g_assert_cmpint (g_get_monotonic_time (), <, deadline);
        g_usleep (10000);
      }
    g_assert_cmpuint (output_count (&guest, "key: virtio 48 1\nkey: virtio 48 0\n"), ==, 100);
  }

  /* The tablet: a position, a button, the wheel. */
  hv_vm_input_tablet (guest.vm, 1000, 2000, 0);
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "tablet: 1000 2000 0\n", 30));
  hv_vm_input_tablet (guest.vm, 32767, 0, 1);
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "tablet: 32767 0 1\n", 30));
  hv_vm_input_wheel (guest.vm, -2, 1);
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "wheel: -2\n", 30));

  power_off_with_q (&guest);
  vireo_test_guest_clear (&guest);
}

static void
test_save_restore (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *path = vireo_test_guest_path ("display");
  VireoTestGuest guest;
  int dir_fd;

  if (!vireo_test_require_kvm ())
    return;
  dir = g_dir_make_tmp ("vireo-virtio-XXXXXX", &error);
  g_assert_no_error (error);
  dir_fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_assert_cmpint (dir_fd, >=, 0);

  guest_boot (&guest);
  type_keys (&guest, (const uint8_t[]){ 0x1e, 0x9e }, 2);
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "key: virtio 30 0\n", 30));
  g_assert_true (hv_vm_pause (guest.vm, &error));
  g_assert_true (hv_vm_save (guest.vm, dir_fd, &error));
  g_assert_no_error (error);
  vireo_test_guest_clear (&guest);

  /* A new VM from the saved state: the guest's driver never set the devices up again, yet the keys
   * reach it, through the rings and indices the restored devices carried over. */
  vireo_test_guest_init (&guest, MEMORY, 1);
  g_assert_true (hv_vm_set_display (guest.vm, TRUE, &error));
  g_assert_true (hv_vm_set_restore (guest.vm, dir_fd, &error));
  g_assert_true (hv_vm_start (guest.vm, &error));
  g_assert_no_error (error);
  type_keys (&guest, (const uint8_t[]){ 0x30, 0xb0 }, 2);
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "key: virtio 48 1\nkey: virtio 48 0\n", 30));
  hv_vm_input_tablet (guest.vm, 4, 5, 0);
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "tablet: 4 5 0\n", 30));
  power_off_with_q (&guest);
  vireo_test_guest_clear (&guest);

  unlinkat (dir_fd, "state", 0);
  unlinkat (dir_fd, "memory", 0);
  close (dir_fd);
  g_assert_no_errno (rmdir (dir));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/virtio-kvm/input", test_input);
  g_test_add_func ("/virtio-kvm/save-restore", test_save_restore);
  return g_test_run ();
}
