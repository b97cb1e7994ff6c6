/* test-irq.c — the in-kernel irqchip and GSI routing on a real KVM VM: PC routing, MSI routes. */
#include "test-util.h"
#include "irq.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>

static int
create_vm (int *kvm_fd)
{
  int vm_fd;
  *kvm_fd = open ("/dev/kvm", O_RDWR | O_CLOEXEC);
  g_assert_cmpint (*kvm_fd, >=, 0);
  vm_fd = ioctl (*kvm_fd, KVM_CREATE_VM, 0);
  g_assert_cmpint (vm_fd, >=, 0);
  return vm_fd;
}

static void
test_routing (void)
{
  g_autoptr (GError) error = NULL;
  struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
  HvIrq *irq;
  int kvm_fd, vm_fd, gsi_a, gsi_b;

  if (!vireo_test_require_kvm ())
    return;
  vm_fd = create_vm (&kvm_fd);
  irq = hv_irq_new (vm_fd, &error);
  g_assert_no_error (error);
  g_assert_nonnull (irq);

  /* ISA lines can be driven, and a level line shows in the IOAPIC's IRR only when unmasked; here we
   * just check that the kernel accepts every PC line. */
  for (unsigned gsi = 0; gsi < 24; gsi++)
    {
      hv_irq_set_line (irq, gsi, TRUE);
      hv_irq_set_line (irq, gsi, FALSE);
    }
  g_assert_cmpint (ioctl (vm_fd, KVM_GET_IRQCHIP, &chip), ==, 0);

  /* MSI routes get GSIs above the IOAPIC's pins, one each, and can be reprogrammed. */
  gsi_a = hv_irq_add_msi_route (irq, 0xfee00000, 0x4041, &error);
  g_assert_no_error (error);
  gsi_b = hv_irq_add_msi_route (irq, 0xfee01000, 0x4042, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gsi_a, >=, 24);
  g_assert_cmpint (gsi_b, ==, gsi_a + 1);
  g_assert_true (hv_irq_update_msi_route (irq, (unsigned) gsi_b, 0xfee02000, 0x4043, &error));
  g_assert_no_error (error);
  /* A PC line is not an MSI route. */
  g_assert_false (hv_irq_update_msi_route (irq, 4, 0xfee00000, 0x40, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);

  hv_irq_free (irq);
  close (vm_fd);
  close (kvm_fd);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/irq/routing", test_routing);
  return g_test_run ();
}
