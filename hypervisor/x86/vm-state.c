/* vm-state.c — the KVM state of the VM's in-kernel PIC (master and slave), IOAPIC, PIT and
 * kvmclock, saved to and restored from a GVariant dictionary.  The chips are stored as byte arrays
 * in the layout of the kernel's x86-64 ABI; every field KVM would take on trust is range-checked
 * first. */
#include "vm-state.h"
#include "layout.h"
#include "state.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#define PIT_MODE_UNSET   0xff /* a channel the guest never programmed */
#define PIT_RW_STATE_MAX 4    /* LSB, MSB, WORD0, WORD1 */
#define PIT_FLAGS        (KVM_PIT_FLAGS_HPET_LEGACY | KVM_PIT_FLAGS_SPEAKER_DATA_ON)

typedef struct
{
  struct kvm_pic_state pic[2];
  struct kvm_ioapic_state ioapic;
  struct kvm_pit_state2 pit;
  uint64_t clock;
} VmState;

static const char *const pic_keys[2] = { "pic-master", "pic-slave" };
static const char *const pic_names[2] = { "the master PIC", "the slave PIC" };

GVariant *
hv_vm_kvm_state_save (int vm_fd, GError **error)
{
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  struct kvm_pit_state2 pit;
  struct kvm_clock_data clock = { 0 };

  for (unsigned chip = 0; chip < KVM_NR_IRQCHIPS; chip++)
    {
      struct kvm_irqchip irqchip = { .chip_id = chip };
      if (ioctl (vm_fd, KVM_GET_IRQCHIP, &irqchip) < 0)
        goto fail;
      if (chip == KVM_IRQCHIP_IOAPIC)
        g_variant_dict_insert_value (&dict, "ioapic",
                                     hv_state_new_bytes (&irqchip.chip.ioapic, sizeof irqchip.chip.ioapic));
      else
        g_variant_dict_insert_value (&dict, pic_keys[chip],
                                     hv_state_new_bytes (&irqchip.chip.pic, sizeof irqchip.chip.pic));
    }
  if (ioctl (vm_fd, KVM_GET_PIT2, &pit) < 0)
    goto fail;
  g_variant_dict_insert_value (&dict, "pit", hv_state_new_bytes (&pit, sizeof pit));
  if (ioctl (vm_fd, KVM_GET_CLOCK, &clock) < 0)
    goto fail;
  g_variant_dict_insert (&dict, "clock", "t", (guint64) clock.clock);
  return g_variant_dict_end (&dict);

fail:
  {
    int saved = errno;
    g_set_error (error, HV_ERROR, HV_ERROR_FAILED,
                 "cannot read the interrupt controllers, timer and "
                 "clock from KVM: %s",
                 g_strerror (saved));
  }
  return NULL;
}

static gboolean
check_pic (const struct kvm_pic_state *pic, const char *what, GError **error)
{
  if (pic->priority_add > 7 || (pic->irq_base & 7) != 0 || pic->read_reg_select > 1 || pic->poll > 1
      || pic->special_mask > 1 || pic->init_state > 3 || pic->auto_eoi > 1 || pic->rotate_on_auto_eoi > 1
      || pic->special_fully_nested_mode > 1 || pic->init4 > 1 || (pic->elcr & ~pic->elcr_mask))
    {
      hv_state_set_bad (error, what, "its registers are out of range");
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_pit (const struct kvm_pit_state2 *pit, GError **error)
{
  for (unsigned i = 0; i < 3; i++)
    {
      const struct kvm_pit_channel_state *c = &pit->channels[i];
      if (c->count > 0x10000 || c->count_latched > 3 || c->status_latched > 1
          || c->read_state > PIT_RW_STATE_MAX || c->write_state > PIT_RW_STATE_MAX || c->rw_mode > 3
          || (c->mode > 5 && c->mode != PIT_MODE_UNSET) || c->bcd > 1 || c->gate > 1)
        {
          hv_state_set_bad (error, "the PIT", "channel %u is out of range", i);
          return FALSE;
        }
    }
  if (pit->flags & ~(uint32_t) PIT_FLAGS)
    {
      hv_state_set_bad (error, "the PIT", "unknown flags 0x%x", pit->flags);
      return FALSE;
    }
  return TRUE;
}

static gboolean
parse_vm_state (GVariant *state, VmState *out, GError **error)
{
  memset (out, 0, sizeof *out);
  if (!g_variant_is_of_type (state, G_VARIANT_TYPE_VARDICT))
    {
      hv_state_set_bad (error, "the interrupt controllers", "it is not a dictionary");
      return FALSE;
    }
  for (unsigned chip = 0; chip < 2; chip++)
    if (!hv_state_get_bytes (state, pic_names[chip], pic_keys[chip], &out->pic[chip], sizeof out->pic[chip],
                             sizeof out->pic[chip], NULL, error)
        || !check_pic (&out->pic[chip], pic_names[chip], error))
      return FALSE;
  if (!hv_state_get_bytes (state, "the IOAPIC", "ioapic", &out->ioapic, sizeof out->ioapic,
                           sizeof out->ioapic, NULL, error))
    return FALSE;
  /* KVM's IOAPIC decodes at the base in its state, so a moved base would move it. */
  if (out->ioapic.base_address != HV_IOAPIC_ADDR || out->ioapic.id > 0xf || out->ioapic.ioregsel > 0xff
      || out->ioapic.irr >> KVM_IOAPIC_NUM_PINS)
    {
      hv_state_set_bad (error, "the IOAPIC", "its registers are out of range");
      return FALSE;
    }
  return hv_state_get_bytes (state, "the PIT", "pit", &out->pit, sizeof out->pit, sizeof out->pit, NULL,
                             error)
         && check_pit (&out->pit, error)
         && hv_state_get (state, "the clock", "clock", "t", &out->clock, error);
}

gboolean
hv_vm_kvm_state_check (GVariant *state, GError **error)
{
  VmState parsed;
  return parse_vm_state (state, &parsed, error);
}

gboolean
hv_vm_kvm_state_restore (int vm_fd, GVariant *state, GError **error)
{
  VmState s;
  struct kvm_clock_data clock = { 0 };
  const char *what = NULL;

  if (!parse_vm_state (state, &s, error))
    return FALSE;

  /* The edge/level mask is wiring, not state: it must be this machine's. */
  for (unsigned chip = 0; chip < 2; chip++)
    {
      struct kvm_irqchip irqchip = { .chip_id = chip };
      if (ioctl (vm_fd, KVM_GET_IRQCHIP, &irqchip) < 0)
        {
          int saved = errno;
          g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "KVM_GET_IRQCHIP failed: %s", g_strerror (saved));
          return FALSE;
        }
      if (irqchip.chip.pic.elcr_mask != s.pic[chip].elcr_mask)
        {
          hv_state_set_bad (error, pic_names[chip], "its trigger-mode mask 0x%02x is not this machine's",
                            s.pic[chip].elcr_mask);
          return FALSE;
        }
    }

  memset (s.pit.reserved, 0, sizeof s.pit.reserved);
  if (ioctl (vm_fd, KVM_SET_PIT2, &s.pit) < 0)
    {
      what = "the PIT";
      goto fail;
    }
  /* The guest's clock continues from the value it had: the time the VM spent saved does not pass
   * for it, as with the TSC.  Wall-clock time is the RTC's business. */
  clock.clock = s.clock;
  if (ioctl (vm_fd, KVM_SET_CLOCK, &clock) < 0)
    {
      what = "the clock";
      goto fail;
    }
  for (unsigned chip = 0; chip < KVM_NR_IRQCHIPS; chip++)
    {
      struct kvm_irqchip irqchip = { .chip_id = chip };
      if (chip == KVM_IRQCHIP_IOAPIC)
        irqchip.chip.ioapic = s.ioapic;
      else
        irqchip.chip.pic = s.pic[chip];
      if (ioctl (vm_fd, KVM_SET_IRQCHIP, &irqchip) < 0)
        {
          what = chip == KVM_IRQCHIP_IOAPIC ? "the IOAPIC" : pic_names[chip];
          goto fail;
        }
    }
  return TRUE;

fail:
  {
    int saved = errno;
    g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "KVM refused the saved state of %s: %s", what,
                 g_strerror (saved));
  }
  return FALSE;
}
