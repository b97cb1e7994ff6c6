/* irq.c — the in-kernel interrupt controllers (PIC, IOAPIC, PIT) and the GSI routing table. */
#include "irq.h"
#include "x86/layout.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#define HV_GSI_MAX 1024

struct _HvIrq
{
  int vm_fd;
  GMutex lock;
  GArray *routes; /* struct kvm_irq_routing_entry */
  unsigned next_msi_gsi;
};

static void
add_irqchip_route (HvIrq *irq, unsigned gsi, unsigned chip, unsigned pin)
{
  struct kvm_irq_routing_entry e = { 0 };
  e.gsi = gsi;
  e.type = KVM_IRQ_ROUTING_IRQCHIP;
  e.u.irqchip.irqchip = chip;
  e.u.irqchip.pin = pin;
  g_array_append_val (irq->routes, e);
}

static gboolean
commit_routes (HvIrq *irq, GError **error)
{
  gsize size = sizeof (struct kvm_irq_routing) + irq->routes->len * sizeof (struct kvm_irq_routing_entry);
  g_autofree struct kvm_irq_routing *table = g_malloc0 (size);

  table->nr = irq->routes->len;
  memcpy (table->entries, irq->routes->data, irq->routes->len * sizeof (struct kvm_irq_routing_entry));
  if (ioctl (irq->vm_fd, KVM_SET_GSI_ROUTING, table) < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "KVM_SET_GSI_ROUTING failed: %s", g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

HvIrq *
hv_irq_new (int vm_fd, GError **error)
{
  g_autoptr (GError) local = NULL;
  struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
  HvIrq *irq;

  if (ioctl (vm_fd, KVM_CREATE_IRQCHIP) < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_NO_KVM, "KVM cannot create an in-kernel irqchip: %s",
                   g_strerror (saved));
      return NULL;
    }
  if (ioctl (vm_fd, KVM_CREATE_PIT2, &pit) < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_NO_KVM, "KVM cannot create an in-kernel PIT: %s",
                   g_strerror (saved));
      return NULL;
    }

  irq = g_new0 (HvIrq, 1);
  irq->vm_fd = vm_fd;
  g_mutex_init (&irq->lock);
  irq->routes = g_array_new (FALSE, TRUE, sizeof (struct kvm_irq_routing_entry));
  irq->next_msi_gsi = HV_IOAPIC_PINS;

  /* The PC wiring: IRQs 0-7 on the master PIC, 8-15 on the slave; IRQ 2 is the cascade.  The IOAPIC sees
   * ISA IRQ n on pin n, except the PIT's IRQ 0, which arrives on pin 2 (the MADT's override says so). */
  for (unsigned gsi = 0; gsi < 16; gsi++)
    if (gsi != 2)
      add_irqchip_route (irq, gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, gsi % 8);
  for (unsigned gsi = 0; gsi < HV_IOAPIC_PINS; gsi++)
    if (gsi != 2)
      add_irqchip_route (irq, gsi, KVM_IRQCHIP_IOAPIC, gsi == 0 ? 2 : gsi);

  if (!commit_routes (irq, error))
    {
      hv_irq_free (irq);
      return NULL;
    }
  return irq;
}

void
hv_irq_free (HvIrq *irq)
{
  if (irq == NULL)
    return;
  g_array_unref (irq->routes);
  g_mutex_clear (&irq->lock);
  g_free (irq);
}

void
hv_irq_set_line (HvIrq *irq, unsigned gsi, gboolean level)
{
  struct kvm_irq_level line = { .irq = gsi, .level = level ? 1 : 0 };
  if (ioctl (irq->vm_fd, KVM_IRQ_LINE, &line) < 0)
    g_warning ("KVM_IRQ_LINE %u=%d failed: %s", gsi, line.level, g_strerror (errno));
}

int
hv_irq_add_msi_route (HvIrq *irq, uint64_t address, uint32_t data, GError **error)
{
  struct kvm_irq_routing_entry e = { 0 };
  int gsi;

  g_mutex_lock (&irq->lock);
  if (irq->next_msi_gsi >= HV_GSI_MAX)
    {
      g_mutex_unlock (&irq->lock);
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "no interrupt routes left for MSI");
      return -1;
    }
  e.gsi = irq->next_msi_gsi;
  e.type = KVM_IRQ_ROUTING_MSI;
  e.u.msi.address_lo = (uint32_t) address;
  e.u.msi.address_hi = (uint32_t) (address >> 32);
  e.u.msi.data = data;
  g_array_append_val (irq->routes, e);
  if (!commit_routes (irq, error))
    {
      g_array_set_size (irq->routes, irq->routes->len - 1);
      g_mutex_unlock (&irq->lock);
      return -1;
    }
  gsi = (int) irq->next_msi_gsi++;
  g_mutex_unlock (&irq->lock);
  return gsi;
}

gboolean
hv_irq_update_msi_route (HvIrq *irq, unsigned gsi, uint64_t address, uint32_t data, GError **error)
{
  gboolean ok = FALSE;

  g_mutex_lock (&irq->lock);
  for (guint i = 0; i < irq->routes->len; i++)
    {
      struct kvm_irq_routing_entry *e = &g_array_index (irq->routes, struct kvm_irq_routing_entry, i);
      if (e->gsi == gsi && e->type == KVM_IRQ_ROUTING_MSI)
        {
          e->u.msi.address_lo = (uint32_t) address;
          e->u.msi.address_hi = (uint32_t) (address >> 32);
          e->u.msi.data = data;
          ok = commit_routes (irq, error);
          break;
        }
    }
  if (!ok && error && *error == NULL)
    g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "GSI %u is not an MSI route", gsi);
  g_mutex_unlock (&irq->lock);
  return ok;
}
