/* devices.h — the platform devices of the x86 machine: 16550A UART, i8042, CMOS RTC, ACPI PM block and
 * the PCI host bridge.  Each lives in its own file; each guards its state with its own lock because its
 * I/O handler runs on whichever vCPU thread touched it. */
#pragma once

#include "platform.h"

/* Saved state (for snapshot.c): each device's save function returns a new floating a{sv} holding all of
 * its state; its load function checks every field (HV_ERROR_BAD_IMAGE naming the device and the field)
 * and applies all of them or none.  Loading raises the device's interrupt line again when the state has an
 * interrupt pending, since the line of a new machine starts low. */

/* serial.c — 16550A UART (COM1, COM2): 16-byte FIFOs, loopback, interrupts as a PC wires them (OUT2
 * gates). */
typedef struct _HvSerial HvSerial;
/* What the guest transmits goes to @output_fd (-1 drops it). */
HvSerial *hv_serial_new (const HvPlatform *platform, unsigned gsi, int output_fd);
void hv_serial_free (HvSerial *serial);
void hv_serial_io (void *serial, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write);
/* Queues bytes for the guest to receive; returns how many fit in the receive FIFO. */
gsize hv_serial_receive (HvSerial *serial, const uint8_t *data, gsize len);
/* Starts a thread that feeds @input_fd into the receiver as the guest drains it (the fd is not owned).
 * The thread ends at end of file, on error, or when the serial port is freed. */
gboolean hv_serial_start_input (HvSerial *serial, int input_fd, GError **error);
/* While held, the input thread reads nothing more from its fd (the VM is paused and may be saved). */
void hv_serial_hold_input (HvSerial *serial, gboolean held);
/* Version 2 added "port" and "gsi" (where the port sits, checked on load; version 1 sections were
 * COM1's). */
#define HV_SERIAL_STATE_VERSION 2
GVariant *hv_serial_save_state (HvSerial *serial);
gboolean hv_serial_load_state (HvSerial *serial, GVariant *state, GError **error);
/* Loads a section of @version (1 to HV_SERIAL_STATE_VERSION). */
gboolean hv_serial_load_state_version (HvSerial *serial, GVariant *state, unsigned version, GError **error);

/* i8042.c — PS/2 controller with keyboard: self-test, command byte, reset line, scancode injection. */
typedef struct _HvI8042 HvI8042;
HvI8042 *hv_i8042_new (const HvPlatform *platform);
void hv_i8042_free (HvI8042 *i8042);
void hv_i8042_data_io (void *i8042, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write);
void hv_i8042_command_io (void *i8042, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write);
/* Queues scancodes (set 1, as the controller presents them after translation) for the guest. */
void hv_i8042_inject_scancodes (HvI8042 *i8042, const uint8_t *codes, gsize n_codes);
void hv_i8042_send_ctrl_alt_del (HvI8042 *i8042);
GVariant *hv_i8042_save_state (HvI8042 *i8042);
gboolean hv_i8042_load_state (HvI8042 *i8042, GVariant *state, GError **error);

/* rtc.c — MC146818 CMOS clock with the host's time, CMOS memory (memory-size bytes set). */
typedef struct _HvRtc HvRtc;
HvRtc *hv_rtc_new (const HvPlatform *platform, uint64_t ram_size);
void hv_rtc_free (HvRtc *rtc);
void hv_rtc_io (void *rtc, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write);
/* The state keeps the guest's offset from the host's clock, so a restored guest's time has moved on with
 * the wall clock. */
GVariant *hv_rtc_save_state (HvRtc *rtc);
gboolean hv_rtc_load_state (HvRtc *rtc, GVariant *state, GError **error);

/* acpi-pm.c — the PM1 event/control block, PM timer and reset register the FADT points to. */
typedef struct _HvAcpiPm HvAcpiPm;
HvAcpiPm *hv_acpi_pm_new (const HvPlatform *platform);
void hv_acpi_pm_free (HvAcpiPm *pm);
void hv_acpi_pm_io (void *pm, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write);
/* Sets PWRBTN_STS and raises the SCI if the guest enabled it. */
void hv_acpi_pm_press_power_button (HvAcpiPm *pm);
/* The PM timer continues from its saved count. */
GVariant *hv_acpi_pm_save_state (HvAcpiPm *pm);
gboolean hv_acpi_pm_load_state (HvAcpiPm *pm, GVariant *state, GError **error);

/* pci.c — PCI host bridge on configuration mechanism #1, bus 0, with the reset control register. */
typedef struct _HvPci HvPci;
typedef struct _HvPciDevice HvPciDevice;

struct _HvPciDevice
{
  const char *name;
  uint8_t config[256];     /* type 0 header and capabilities, as the guest reads them */
  uint8_t write_mask[256]; /* bits the guest may change (BARs are handled by the bridge) */
  uint64_t bar_size[6];    /* 0 = BAR unused; a power of two otherwise */
  gboolean bar_is_io[6];
  gboolean bar_is_64[6];           /* a 64-bit BAR also uses the next slot */
  gboolean bar_is_prefetchable[6]; /* a memory BAR without side effects on reads (a framebuffer) */
  /* The expansion ROM BAR's size: a power of two from 2 KiB, or 0 for none.  Set before
   * hv_pci_add_device; the guest places and enables it, and the device maps it where
   * hv_pci_rom_address says (config_written is called for offset 0x30). */
  uint32_t rom_size;
  /* Called after a config write the bridge did not consume, and after a BAR moves. */
  void (*config_written) (HvPciDevice *device, unsigned offset, unsigned len);
  void (*bar_moved) (HvPciDevice *device, unsigned bar, uint64_t old_addr, uint64_t new_addr);
  void *opaque;
  unsigned slot; /* assigned by hv_pci_add_device */
  unsigned function;
  uint64_t bar_addr[6]; /* where each BAR decodes, kept by the bridge (sizing does not move it) */
};

HvPci *hv_pci_new (void);
void hv_pci_free (HvPci *pci);
void hv_pci_conf1_io (void *pci, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write);
/* Places @device in the next free slot (1..31) and gives its BARs addresses in the MMIO32 window (and
 * ports from 0xC000 for I/O BARs).  The bridge does not own @device. */
gboolean hv_pci_add_device (HvPci *pci, HvPciDevice *device, GError **error);
uint64_t hv_pci_bar_address (const HvPciDevice *device, unsigned bar);
/* @device's path on the bus as firmware names it ("/pci@i0cf8/@name@slot[,function]"), newly allocated;
 * SeaBIOS matches the slot and function, whatever @name says. */
char *hv_pci_boot_path (const HvPciDevice *device, const char *name);
/* Where the ROM BAR decodes: its address when enabled, else 0 (memory decoding is the device's to
 * check, as for BARs). */
uint64_t hv_pci_rom_address (const HvPciDevice *device);
/* The largest option ROM taken: SeaVGABIOS is under 64 KiB, iPXE under 256 KiB; PCI allows 16 MiB,
 * nothing needs that. */
#define HV_PCI_ROM_MAX (1u << 20)
/* Reads an option ROM file (a device's "rom" option) whole: HV_ERROR_BAD_IMAGE past HV_PCI_ROM_MAX. */
GBytes *hv_pci_read_rom (int fd, GError **error);
/* Places @device at a fixed @slot (1..31) and @function (0..7): a chipset's functions.  A function
 * other than 0 is seen only when function 0 of the slot says it has several (header type bit 7). */
gboolean hv_pci_add_function (HvPci *pci, HvPciDevice *device, unsigned slot, unsigned function,
                              GError **error);
/* Slot 0's own configuration space, for the chipset to give it an identity and registers. */
HvPciDevice *hv_pci_get_host_bridge (HvPci *pci);
/* Where writes to the reset control register (port 0xCF9) ask for a reset. */
void hv_pci_set_platform (HvPci *pci, const HvPlatform *platform);
/* Gives the bus @chipset (its functions' storage), freed with @free_func by hv_pci_free. */
void hv_pci_take_chipset (HvPci *pci, void *chipset, GDestroyNotify free_func);

/* i440fx.c — makes the bus the chipset firmware expects (i440FX host bridge with PAM registers,
 * PIIX3 ISA bridge at 00:01.0, PIIX4 PM at 00:01.3 reporting the PM block's port). */
gboolean hv_i440fx_init (HvPci *pci, GError **error);
/* The configuration spaces and BAR addresses of every device on the bus.  Loading needs the same devices
 * in the same slots; a BAR that decodes elsewhere than before is moved (bar_moved is called). */
GVariant *hv_pci_save_state (HvPci *pci);
gboolean hv_pci_load_state (HvPci *pci, GVariant *state, GError **error);
