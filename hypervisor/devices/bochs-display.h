/* bochs-display.h — the machine's display adapter: a PCI linear framebuffer programmed through the Bochs
 * VBE "DISPI" registers, as QEMU's bochs-display presents it to Linux's bochs DRM driver. */
#pragma once

#include "devices.h"
#include "display/display.h"

/* Video memory: BAR 0, and what VIDEO_MEMORY_64K reports.  Linux's bochs driver offers modes that fit
 * in half of it, so 32 MiB carries 2560x1600 at 32 bpp. */
#define HV_BOCHS_VRAM_SIZE (32u << 20)
/* BAR 2: EDID at 0, VGA ports 0x3C0..0x3DF at 0x400, DISPI registers at 0x500, QEMU's extended
 * registers at 0x600. */
#define HV_BOCHS_MMIO_SIZE 0x1000u
/* The legacy DISPI ports from HV_PORT_BOCHS_DISPI: index at 0, data at 1 (a 16-bit access to the data
 * port reaches the third). */
#define HV_BOCHS_DISPI_PORTS 3

/* The modes the device scans out: 32 bpp only. */
#define HV_BOCHS_MIN_WIDTH  800
#define HV_BOCHS_MIN_HEIGHT 600
#define HV_BOCHS_MAX_WIDTH  2560
#define HV_BOCHS_MAX_HEIGHT 1600

/* The machine has one display producer, so the device is the HvDisplay itself. */
typedef struct _HvDisplay HvBochsDisplay;

/* Creates the device with blank video memory and places it on @pci.  The framebuffer BAR is host memory
 * that platform->map_memory maps into the guest with dirty tracking; without map_memory, guest
 * accesses to it are served through platform->mmio instead (slow, but the same to the guest).  BAR 2
 * is served through platform->mmio.  Both follow the guest when it moves a BAR or turns memory decoding
 * off. */
HvBochsDisplay *hv_bochs_display_new (const HvPlatform *platform, HvPci *pci, GError **error);
void hv_bochs_display_free (HvBochsDisplay *bochs);

/* Gives the device an option ROM (SeaVGABIOS's vgabios-bochs-display.bin) behind its ROM BAR, for
 * firmware to find and run; before the guest runs.  The "rom" option (an fd) of the device kind does
 * this. */
gboolean hv_bochs_display_set_rom (HvBochsDisplay *bochs, GBytes *rom, GError **error);
HvDisplay *hv_bochs_display_get_display (HvBochsDisplay *bochs);
HvPciDevice *hv_bochs_display_get_pci_device (HvBochsDisplay *bochs);

/* The legacy DISPI ports (register at HV_PORT_BOCHS_DISPI, HV_BOCHS_DISPI_PORTS long). */
void hv_bochs_display_dispi_io (void *bochs, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write);
/* BAR 2, as its MMIO handler sees it (@offset from the start of the BAR). */
void hv_bochs_display_mmio (void *bochs, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write);

/* The registers and the contents of video memory (only its non-zero pages).  Load after the PCI bus,
 * which has already put the BARs back where they were. */
GVariant *hv_bochs_display_save_state (HvBochsDisplay *bochs);
gboolean hv_bochs_display_load_state (HvBochsDisplay *bochs, GVariant *state, GError **error);
