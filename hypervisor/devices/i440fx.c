/* i440fx.c — the chipset a PC's firmware and OS look for on the PCI bus: the i440FX host bridge's
 * identity with its PAM and SMRAM registers (00:00.0), the PIIX3 ISA bridge (00:01.0) and the PIIX4
 * power-management function (00:01.3) that says where the ACPI PM block is.  QEMU's "pc" machine has
 * the same, so SeaBIOS and OVMF take their well-trodden paths (notes/firmware.md §3).
 *
 * Why i440FX and not Q35: firmware only needs one of the two, and Q35 is much more to build and to get
 * right.  Once SeaBIOS sees a Q35 host bridge it programs PCIEXBAR and then reaches every configuration
 * space through ECAM (MMCONFIG at 0xB0000000, which must then exist, be reserved in e820 and described
 * by an MCFG table and a PCIe root in the DSDT), and it wants the ICH9 LPC function with its own PM
 * base, RCBA and SMI registers.  i440FX needs a few registers on the bus we have, and every guest
 * (Linux, Windows, SeaBIOS, OVMF without Secure Boot) runs on it; AHCI works on it as a plain PCI
 * device.  Q35 becomes necessary for OVMF's Secure Boot builds (they need SMM, which needs Q35) and for
 * PCIe-only features; the machine's devices do not depend on this file, so it can be added beside it.
 *
 * Shadow RAM: 0xC0000–0xFFFFF is always RAM here.  The PAM registers keep what firmware writes, so it
 * reads back its own settings (SeaBIOS copies itself down from the image below 4 GiB while they say
 * "not yet RAM"), but they switch nothing: reads never go to the image and write protection is not
 * enforced.  SeaBIOS write-protects only to catch its own stray writes, and operating systems do not
 * rely on it; routing the 13 PAM segments between RAM and ROM would cost a memory slot per segment.
 *
 * SMM is not offered: the PIIX4 function reports APMC_EN already set, which makes SeaBIOS skip its SMM
 * set-up (what QEMU's smm=off does) instead of waiting for an SMI that never comes. */
#include "devices.h"
#include "layout.h"

#include <string.h>

#define INTEL            0x8086
#define I440FX_DEVICE    0x1237
#define PIIX3_ISA_DEVICE 0x7000
#define PIIX4_PM_DEVICE  0x7113
/* The subsystem QEMU's devices carry; SeaBIOS names the machine "QEMU (i440fx)" by it. */
#define SUBSYSTEM_VENDOR 0x1af4
#define SUBSYSTEM_DEVICE 0x1100

#define I440FX_PAM0               0x59 /* 0x59..0x5f: seven PAM registers for 0xC0000..0xFFFFF */
#define I440FX_PAM_COUNT          7
#define I440FX_SMRAM              0x72
#define PIIX_PIRQ                 0x60 /* 0x60..0x63: PCI interrupt routing, bit 7 = disabled */
#define PIIX_PMBASE               0x40
#define PIIX_DEVACTB              0x58
#define PIIX_DEVACTB_APMC_EN_BYTE 0x5b /* bit 25 of DEVACTB */
#define PIIX_PMREGMISC            0x80

#define CHIPSET_SLOT 1
#define PM_FUNCTION  3

typedef struct
{
  HvPciDevice isa;
  HvPciDevice pm;
} HvI440fx;

static void
put16 (uint8_t *config, unsigned offset, uint16_t value)
{
  config[offset] = (uint8_t) value;
  config[offset + 1] = (uint8_t) (value >> 8);
}

static void
set_identity (HvPciDevice *device, uint16_t device_id, uint8_t revision, uint8_t class_code, uint8_t subclass)
{
  put16 (device->config, 0x00, INTEL);
  put16 (device->config, 0x02, device_id);
  device->config[0x08] = revision;
  device->config[0x0a] = subclass;
  device->config[0x0b] = class_code;
  put16 (device->config, 0x2c, SUBSYSTEM_VENDOR);
  put16 (device->config, 0x2e, SUBSYSTEM_DEVICE);
}

gboolean
hv_i440fx_init (HvPci *pci, GError **error)
{
  HvI440fx *chipset = g_new0 (HvI440fx, 1);
  HvPciDevice *bridge = hv_pci_get_host_bridge (pci);

  /* The bus owns its chipset's functions from here on, placed or not. */
  hv_pci_take_chipset (pci, chipset, g_free);

  set_identity (bridge, I440FX_DEVICE, 0x02, 0x06, 0x00);
  bridge->name = "i440FX host bridge";
  for (unsigned i = 0; i < I440FX_PAM_COUNT; i++)
    bridge->write_mask[I440FX_PAM0 + i] = 0xff;
  bridge->config[I440FX_SMRAM] = 0x02; /* C_BASE_SEG: SMRAM would be at 0xA0000 */
  bridge->write_mask[I440FX_SMRAM] = 0x78;

  chipset->isa.name = "PIIX3 ISA bridge";
  set_identity (&chipset->isa, PIIX3_ISA_DEVICE, 0x00, 0x06, 0x01);
  chipset->isa.config[0x0e] = 0x80; /* more functions in this slot */
  for (unsigned i = 0; i < 4; i++)
    {
      chipset->isa.config[PIIX_PIRQ + i] = 0x80;
      chipset->isa.write_mask[PIIX_PIRQ + i] = 0x8f;
    }

  /* The PM base, PM I/O enable and APMC_EN are fixed: the block is where acpi-pm.c serves it, the
   * same 0x600 SeaBIOS would choose with our ACPI tables, and there is no SMM.  The SMBus base stays 0
   * (no SMBus), whatever firmware writes. */
  chipset->pm.name = "PIIX4 power management";
  set_identity (&chipset->pm, PIIX4_PM_DEVICE, 0x03, 0x06, 0x80);
  put16 (chipset->pm.config, PIIX_PMBASE, HV_PORT_ACPI_PM | 0x1);
  chipset->pm.config[PIIX_PMREGMISC] = 0x01;
  chipset->pm.config[PIIX_DEVACTB_APMC_EN_BYTE] = 0x02;

  return hv_pci_add_function (pci, &chipset->isa, CHIPSET_SLOT, 0, error)
         && hv_pci_add_function (pci, &chipset->pm, CHIPSET_SLOT, PM_FUNCTION, error);
}
