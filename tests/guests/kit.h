/* kit.h — the freestanding kit every test guest links: serial console, printf, port I/O, the PVH
 * start info, an ACPI walker, power off / reset / triple fault, running C code in ring 3, and for
 * guests with a screen: PCI enumeration, a Bochs DISPI framebuffer with an 8x16 font, the PS/2
 * keyboard and a polling virtio-input driver.
 *
 * Execution model: the guest starts in ring 0 with interrupts off on one CPU; kit_start() sets up
 * the IDT and TSS, initialises COM1 and calls guest_main().  Ring 0 may be emulated (slow), so
 * guests keep ring-0 work to a few lines of output and move loops into kit_run_user(), where code
 * runs natively with IOPL 3 (port I/O allowed) and every page of the low 4 GiB mapped.  Every kit
 * function works in both rings.  Any CPU exception prints "kit: exception ..." and powers off.
 * Single CPU only: the kit never starts the other processors. */
#pragma once

/* Shared with entry.S. */
#define KIT_SEL_KERNEL_CODE   0x08
#define KIT_SEL_KERNEL_DATA   0x10
#define KIT_SEL_USER_DATA     0x1b /* 0x18 | RPL 3 */
#define KIT_SEL_USER_CODE     0x23 /* 0x20 | RPL 3 */
#define KIT_SEL_TSS           0x28
#define KIT_EXCEPTION_VECTORS 32
#define KIT_KERNEL_STACK_SIZE 16384
#define KIT_USER_STACK_SIZE   65536

#ifndef __ASSEMBLER__

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "x86/layout.h"

/* Each guest defines this; returning from it powers off. */
void guest_main (void);

/* Port I/O (needs ring 0 or IOPL 3, which the kit's ring 3 has). */
static inline void
outb (uint16_t port, uint8_t value)
{
  __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

static inline void
outw (uint16_t port, uint16_t value)
{
  __asm__ volatile("outw %0, %1" : : "a"(value), "Nd"(port));
}

static inline void
outl (uint16_t port, uint32_t value)
{
  __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port));
}

static inline uint8_t
inb (uint16_t port)
{
  uint8_t value;
  __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
  return value;
}

static inline uint16_t
inw (uint16_t port)
{
  uint16_t value;
  __asm__ volatile("inw %1, %0" : "=a"(value) : "Nd"(port));
  return value;
}

static inline uint32_t
inl (uint16_t port)
{
  uint32_t value;
  __asm__ volatile("inl %1, %0" : "=a"(value) : "Nd"(port));
  return value;
}

static inline void
cpu_pause (void)
{
  __asm__ volatile("pause" ::: "memory");
}

/* The time-stamp counter: ring 3 may read it (CR4.TSD is clear). */
static inline uint64_t
kit_rdtsc (void)
{
  uint32_t lo, hi;

  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (uint64_t) hi << 32 | lo;
}

/* Freestanding replacements the compiler may also call on its own. */
void *memset (void *dst, int c, size_t n);
void *memcpy (void *dst, const void *src, size_t n);
void *memmove (void *dst, const void *src, size_t n);
int memcmp (const void *a, const void *b, size_t n);
size_t strlen (const char *s);
size_t kit_strnlen (const char *s, size_t max);

/* Serial console on COM1 (16550, polled).  Bytes go out as given: no "\n" -> "\r\n". */
void kit_putc (char c);
void kit_puts (const char *s);
/* %s %c %d %i %u %x %p %%, with l/ll/z size modifiers, a '0' flag, a field width, and a precision
 * for %s ("%.4s"). */
void kit_printf (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
void kit_vprintf (const char *fmt, va_list ap);
/* The same formatting into @buf, always NUL-terminated when @size > 0; returns the length written
 * (without the NUL), which is at most @size - 1. */
size_t kit_snprintf (char *buf, size_t size, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));
size_t kit_vsnprintf (char *buf, size_t size, const char *fmt, va_list ap);
/* Calls @hook with every byte kit_putc sends, after sending it (NULL: none); a guest that mirrors
 * its console on screen uses it.  The hook must not print. */
void kit_set_console_hook (void (*hook) (char c));
/* TRUE and the byte in *c when COM1 has received one; never blocks. */
bool kit_serial_getc (uint8_t *c);

/* PVH boot data (Xen's public/arch-x86/hvm/start_info.h, version 1). */
#define HVM_START_MAGIC 0x336ec578u

struct hvm_start_info
{
  uint32_t magic;
  uint32_t version;
  uint32_t flags;
  uint32_t nr_modules;
  uint64_t modlist_paddr;
  uint64_t cmdline_paddr;
  uint64_t rsdp_paddr;
  uint64_t memmap_paddr;   /* version >= 1 */
  uint32_t memmap_entries; /* version >= 1 */
  uint32_t reserved;
};

struct hvm_modlist_entry
{
  uint64_t paddr;
  uint64_t size;
  uint64_t cmdline_paddr;
  uint64_t reserved;
};

struct hvm_memmap_table_entry
{
  uint64_t addr;
  uint64_t size;
  uint32_t type;
  uint32_t reserved;
};

/* A pointer to [paddr, paddr + len) when that range lies inside the kit's identity map (the low 4
 * GiB) and paddr is not 0; NULL otherwise.  Everything the boot loader hands over goes through
 * this. */
const void *kit_phys (uint64_t paddr, uint64_t len);

/* The start info when %ebx pointed at one with the right magic, else NULL (the kit prints why). */
const struct hvm_start_info *kit_start_info (void);
/* The command line ("" when there is none); at most HV_CMDLINE_MAX - 1 bytes are looked at. */
const char *kit_cmdline (void);
/* The value of the first "key=N" word on the command line (decimal or 0x-hex), or FALSE. */
bool kit_cmdline_u64 (const char *key, uint64_t *value);
/* The text of the first "key=TEXT" word (up to the next blank) into @buf; FALSE when there is none or
 * it does not fit in @size bytes with its NUL. */
bool kit_cmdline_string (const char *key, char *buf, size_t size);
/* Memory map and modules, bounds-checked: NULL when absent or out of range. */
const struct hvm_memmap_table_entry *kit_memmap (uint32_t *n_entries);
const struct hvm_modlist_entry *kit_modules (uint32_t *n_modules);

/* ACPI. */
struct acpi_header
{
  char signature[4];
  uint32_t length;
  uint8_t revision;
  uint8_t checksum;
  char oem_id[6];
  char oem_table_id[8];
  uint32_t oem_revision;
  uint32_t creator_id;
  uint32_t creator_revision;
} __attribute__ ((packed));

struct acpi_rsdp
{
  char signature[8]; /* "RSD PTR " */
  uint8_t checksum;  /* over the first 20 bytes */
  char oem_id[6];
  uint8_t revision; /* 0: ACPI 1.0 (RSDT only), 2: has the fields below */
  uint32_t rsdt_address;
  uint32_t length;
  uint64_t xsdt_address;
  uint8_t extended_checksum;
  uint8_t reserved[3];
} __attribute__ ((packed));

/* The bytes sum to zero (mod 256). */
bool kit_acpi_checksum_ok (const void *data, size_t len);
/* The RSDP from the start info, else from the legacy scan (EBDA, 0xE0000-0xFFFFF); NULL if none. */
const struct acpi_rsdp *kit_acpi_rsdp (void);
/* The XSDT (revision >= 2 with an XSDT address) or else the RSDT; NULL if unusable. */
const struct acpi_header *kit_acpi_root (void);
/* Entries of the root table.  An entry whose header is out of range or absurdly long is NULL. */
unsigned kit_acpi_root_count (void);
const struct acpi_header *kit_acpi_root_entry (unsigned i);
/* The first root-table entry with this signature, or NULL. */
const struct acpi_header *kit_acpi_find (const char *signature);
/* The DSDT the FADT points at (X_DSDT preferred), or NULL. */
const struct acpi_header *kit_acpi_dsdt (void);

/* What the FADT says about the fixed-feature PM registers; 0 means absent. */
typedef struct
{
  uint16_t pm1a_evt; /* PM1a_EVT_BLK: PM1_STS, then PM1_EN at + pm1_evt_len / 2 */
  uint16_t pm1b_evt;
  uint16_t pm1a_cnt;
  uint16_t pm1b_cnt;
  uint16_t pm_tmr;
  uint8_t pm1_evt_len;
  uint8_t pm1_cnt_len;
} KitAcpiPm;

bool kit_acpi_pm (KitAcpiPm *pm);
/* SLP_TYPa/b of the DSDT's \_S5 package: "_S5_", PackageOp, then the first two elements. */
bool kit_acpi_s5 (uint8_t *slp_typ_a, uint8_t *slp_typ_b);

#define ACPI_PM1_PWRBTN            (1u << 8) /* PWRBTN_STS in PM1_STS, PWRBTN_EN in PM1_EN */
#define ACPI_PM1_CNT_SLP_EN        (1u << 13)
#define ACPI_PM1_CNT_SLP_TYP_SHIFT 10

/* The fixed power button, polled.  Arming sets PWRBTN_EN (FALSE without a usable FADT) and keeps a
 * press latched before it; kit_power_button_pressed() reports a press and clears it. */
bool kit_power_button_arm (void);
bool kit_power_button_pressed (void);

/* The TSC's rate in kHz (cycles per millisecond), counted against the ACPI PM timer over @ms
 * milliseconds (every timer read is an exit, so the error is about one exit, tens of microseconds); 0
 * when the FADT names no PM timer or it does not tick. */
uint64_t kit_measure_tsc_khz (unsigned ms);

/* Machine control. */
/* Enters S5 through PM1a_CNT (and PM1b_CNT); if the machine is still running afterwards it says so
 * on serial and tries an i8042 reset, then a triple fault, so a broken power-off never looks like a
 * hang. */
void kit_poweroff (void) __attribute__ ((noreturn));
/* Pulses the reset line through the i8042 (0xFE to the command port).  Returns if the machine is
 * still running a little while later. */
void kit_reset_i8042 (void);
/* Loads an empty IDT and raises #UD: #UD -> #GP -> #DF -> shutdown.  Called in ring 3, it faults
 * into the kit, which then does it in ring 0. */
void kit_triple_fault (void) __attribute__ ((noreturn));
/* Waits about a second (by the TSC), giving the VMM time to act on a power-off or reset request. */
void kit_settle (void);

/* Ring 3. */
/* Runs fn (arg) in ring 3 (IOPL 3, interrupts off, its own 64 KiB stack) and returns its result.
 * From ring 3 it just calls fn.  A ring-3 function may also end the machine itself (kit_poweroff,
 * port I/O). */
long kit_run_user (long (*fn) (void *), void *arg);
bool kit_in_user (void);

/* PCI (kit-pci.c): configuration mechanism #1 on bus 0, which is all our machine and QEMU's "pc"
 * have.  Every config access is two port accesses (VM exits): a scan of the bus costs about a
 * hundred, milliseconds at most, so guests look devices up once at start. */
typedef struct
{
  uint8_t bus;
  uint8_t slot;
  uint8_t function;
  uint16_t vendor_id;
  uint16_t device_id;
  uint8_t class_code; /* base class, e.g. 0x03 display */
  uint8_t subclass;
} KitPciDevice;

typedef struct
{
  uint64_t address; /* memory or port address, as assigned by the VMM or the firmware */
  uint64_t size;
  bool is_io;
  bool is_64;
} KitPciBar;

#define KIT_PCI_COMMAND         0x04
#define KIT_PCI_COMMAND_IO      0x0001
#define KIT_PCI_COMMAND_MEMORY  0x0002
#define KIT_PCI_COMMAND_MASTER  0x0004
#define KIT_PCI_STATUS          0x06
#define KIT_PCI_STATUS_CAP_LIST 0x0010
#define KIT_PCI_CAPABILITY_LIST 0x34
#define KIT_PCI_CAP_ID_VENDOR   0x09

uint32_t kit_pci_read32 (const KitPciDevice *dev, uint8_t offset);
uint16_t kit_pci_read16 (const KitPciDevice *dev, uint8_t offset);
uint8_t kit_pci_read8 (const KitPciDevice *dev, uint8_t offset);
void kit_pci_write32 (const KitPciDevice *dev, uint8_t offset, uint32_t value);
void kit_pci_write16 (const KitPciDevice *dev, uint8_t offset, uint16_t value);
/* Every function present on bus 0, in slot order; returns how many there are (at most @max are
 * stored). */
unsigned kit_pci_scan (KitPciDevice *devices, unsigned max);
/* The @index-th (from 0) function with this vendor and device ID. */
bool kit_pci_find (uint16_t vendor_id, uint16_t device_id, unsigned index, KitPciDevice *dev);
/* BAR @index (0-5; for a 64-bit BAR the lower of its two slots): its address and size (sized with
 * decoding off for the moment).  FALSE when the BAR is unimplemented or unassigned (address 0). */
bool kit_pci_bar (const KitPciDevice *dev, unsigned index, KitPciBar *bar);
/* A pointer to [offset, offset + len) of a memory BAR when that lies inside the BAR and inside the
 * kit's identity map; NULL otherwise. */
volatile void *kit_pci_bar_map (const KitPciBar *bar, uint64_t offset, uint64_t len);
/* Sets @bits in the command register. */
void kit_pci_enable (const KitPciDevice *dev, uint16_t bits);
/* The config offset of the next capability with ID @cap_id after the one at @previous (0: from the
 * start of the list); 0 when there is none.  A looping or out-of-range list ends the walk. */
uint8_t kit_pci_next_capability (const KitPciDevice *dev, uint8_t previous, uint8_t cap_id);

/* Framebuffer (kit-fb.c): the Bochs DISPI display (PCI 1234:1111: QEMU's bochs-display and
 * std VGA, and Vireo's display).  BAR 0 is the framebuffer; the DISPI registers are at 0x500 in
 * BAR 2 (16 bits each, index * 2) or, without BAR 2, behind the index/data ports 0x1ce/0x1cf.
 * Pixels are 32 bits, 0x00RRGGBB (B, G, R, X in memory).  Drawing goes straight to the
 * framebuffer and clips to the screen. */
#define KIT_FB_VENDOR_ID 0x1234
#define KIT_FB_DEVICE_ID 0x1111

typedef struct
{
  KitPciDevice pci;
  KitPciBar vram_bar;
  volatile uint16_t *dispi; /* the MMIO registers, or NULL to use the ports */
  uint16_t dispi_id;        /* 0xB0C0..0xB0C5 */
  volatile uint32_t *pixels;
  uint32_t width;
  uint32_t height;
  uint32_t pitch; /* pixels per row */
} KitFb;

/* Finds the display and checks its DISPI ID.  FALSE, silently, when there is none (so guests that
 * work without a screen print nothing extra), or with a line on serial when it is unusable. */
bool kit_fb_init (KitFb *fb);
/* Sets @width x @height at 32 bpp with the linear framebuffer on, and reads the mode back; FALSE
 * (and a line on serial) when the device refuses it or the framebuffer BAR is too small. */
bool kit_fb_set_mode (KitFb *fb, uint32_t width, uint32_t height);
void kit_fb_fill_rect (KitFb *fb, int x, int y, int width, int height, uint32_t rgb);
void kit_fb_put_pixel (KitFb *fb, int x, int y, uint32_t rgb);
uint32_t kit_fb_get_pixel (KitFb *fb, int x, int y);
/* Draws text with the kit's 8x16 font, each font pixel @scale x @scale screen pixels; @bg may be
 * KIT_FB_TRANSPARENT.  '\n' starts a new line at @x; bytes outside ASCII 0x20-0x7e draw as '?'.
 * Returns the x after the last character. */
#define KIT_FB_TRANSPARENT 0xff000000u
int kit_fb_text (KitFb *fb, int x, int y, const char *text, uint32_t fg, uint32_t bg, unsigned scale);
void kit_fb_char (KitFb *fb, int x, int y, char c, uint32_t fg, uint32_t bg, unsigned scale);

/* The kit's font (kit-font.c): 8x16 cells, bit 7 of each row byte is the leftmost pixel.  Capitals
 * and digits span rows 3-12, lower case rows 6-12, descenders rows 13-15. */
#define KIT_FONT_WIDTH  8
#define KIT_FONT_HEIGHT 16
/* Row @row (0-15) of @c's glyph; '?' stands in for bytes outside 0x20-0x7e. */
uint8_t kit_font_row (char c, unsigned row);

/* PS/2 keyboard (kit-ps2.c), polled through the i8042. */
/* Flushes the controller, turns its keyboard interrupt off (the kit polls), keeps translation to
 * set 1 on and enables the keyboard.  FALSE when no controller answers. */
bool kit_ps2_init (void);
/* The next set-1 scancode byte from the keyboard (0xe0 prefixes and releases, bit 7, included);
 * bytes from the auxiliary (mouse) port are dropped. */
bool kit_ps2_read (uint8_t *scancode);
/* The character of a key on a US keyboard, or 0.  @code is a set-1 make code, which for 1-88 is
 * also the Linux input key code (KEY_ESC = 1 ... KEY_F12 = 88) that virtio-input reports. */
char kit_key_ascii (unsigned code, bool shift);

/* virtio-input over virtio-pci modern (kit-virtio.c): polled, one event queue, no interrupts. */
#define KIT_VIRTIO_VENDOR_ID       0x1af4
#define KIT_VIRTIO_INPUT_DEVICE_ID 0x1052 /* 0x1040 + device type 18 */
#define KIT_VIRTIO_INPUT_QUEUE     64

/* struct virtio_input_event, and the Linux input event types and codes the kit's guests use. */
typedef struct
{
  uint16_t type;
  uint16_t code;
  uint32_t value;
} KitInputEvent;

#define KIT_EV_SYN     0x00
#define KIT_EV_KEY     0x01
#define KIT_EV_REL     0x02
#define KIT_EV_ABS     0x03
#define KIT_SYN_REPORT 0
#define KIT_ABS_X      0x00
#define KIT_ABS_Y      0x01
#define KIT_REL_WHEEL  0x08
#define KIT_BTN_LEFT   0x110
#define KIT_BTN_RIGHT  0x111
#define KIT_BTN_MIDDLE 0x112
#define KIT_KEY_Q      16
#define KIT_KEY_M      50
#define KIT_KEY_POWER  116

typedef struct
{
  uint16_t flags;
  uint16_t idx;
  uint16_t ring[KIT_VIRTIO_INPUT_QUEUE];
  uint16_t used_event;
} KitVirtqAvail;

typedef struct
{
  uint16_t flags;
  uint16_t idx;
  struct
  {
    uint32_t id;
    uint32_t len;
  } ring[KIT_VIRTIO_INPUT_QUEUE];
  uint16_t avail_event;
} KitVirtqUsed;

typedef struct
{
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
} KitVirtqDesc;

typedef struct
{
  /* The rings and buffers the device reads and writes: guest-physical == virtual in the kit. */
  KitVirtqDesc desc[KIT_VIRTIO_INPUT_QUEUE] __attribute__ ((aligned (4096)));
  KitVirtqAvail avail __attribute__ ((aligned (64)));
  KitVirtqUsed used __attribute__ ((aligned (64)));
  KitInputEvent events[KIT_VIRTIO_INPUT_QUEUE];

  KitPciDevice pci;
  volatile uint8_t *common;  /* struct virtio_pci_common_cfg */
  volatile uint8_t *device;  /* struct virtio_input_config */
  volatile uint16_t *notify; /* this queue's doorbell */
  uint16_t queue_size;
  uint16_t last_used;
  bool need_notify;
  char name[64];       /* VIRTIO_INPUT_CFG_ID_NAME */
  bool is_tablet;      /* has EV_ABS */
  bool is_keyboard;    /* has EV_KEY but no EV_ABS */
  uint32_t abs_min[2]; /* ABS_X, ABS_Y ranges (0..32767 when the device does not say) */
  uint32_t abs_max[2];
} KitVirtioInput;

/* Sets up the @index-th virtio-input PCI function: negotiates VERSION_1, reads its name and event
 * types, fills the event queue and sets DRIVER_OK.  FALSE, silently, when there is no such device;
 * FALSE with a line on serial saying why when it cannot be driven. */
bool kit_virtio_input_init (KitVirtioInput *dev, unsigned index);
/* The next event the device has written, giving its buffer straight back; FALSE when there is
 * none right now (the device is told about returned buffers then, once). */
bool kit_virtio_input_poll (KitVirtioInput *dev, KitInputEvent *event);

/* virtio-blk over virtio-pci modern (kit-virtio-blk.c): polled, one request at a time, no interrupts. */
#define KIT_VIRTIO_BLK_DEVICE_ID 0x1042 /* 0x1040 + device type 2 */
#define KIT_VIRTIO_BLK_SEGMENTS  16     /* data buffers one request may have */

#define KIT_VIRTIO_BLK_T_IN           0
#define KIT_VIRTIO_BLK_T_OUT          1
#define KIT_VIRTIO_BLK_T_FLUSH        4
#define KIT_VIRTIO_BLK_T_GET_ID       8
#define KIT_VIRTIO_BLK_T_DISCARD      11
#define KIT_VIRTIO_BLK_T_WRITE_ZEROES 13
#define KIT_VIRTIO_BLK_S_OK           0
#define KIT_VIRTIO_BLK_S_IOERR        1
#define KIT_VIRTIO_BLK_S_UNSUPP       2

#define KIT_VIRTIO_BLK_F_RO           5
#define KIT_VIRTIO_BLK_F_FLUSH        9
#define KIT_VIRTIO_BLK_F_DISCARD      13
#define KIT_VIRTIO_BLK_F_WRITE_ZEROES 14

typedef struct
{
  void *data;
  uint32_t len;
} KitBlkSegment;

typedef struct
{
  KitVirtqDesc desc[KIT_VIRTIO_INPUT_QUEUE] __attribute__ ((aligned (4096)));
  KitVirtqAvail avail __attribute__ ((aligned (64)));
  KitVirtqUsed used __attribute__ ((aligned (64)));
  uint8_t header[16]; /* struct virtio_blk_req: le32 type, le32 reserved, le64 sector */
  uint8_t ranges[16]; /* one discard / write-zeroes segment */
  volatile uint8_t status;

  KitPciDevice pci;
  volatile uint8_t *common;
  volatile uint8_t *device; /* struct virtio_blk_config */
  volatile uint16_t *notify;
  uint16_t queue_size;
  uint16_t last_used;
  uint32_t features; /* the device-specific feature bits accepted (0-31) */
  uint64_t capacity; /* 512-byte sectors */
} KitVirtioBlk;

/* kit-virtio-serial.c: virtio-serial (1af4:1043) with MULTIPORT, polled.  Ports 1 to
 * KIT_SERIAL_PORTS get queues; a port is found by its name and opened; data moves in buffers of
 * KIT_SERIAL_BUFFER bytes. */
#define KIT_VIRTIO_SERIAL_DEVICE_ID 0x1043 /* 0x1040 + device type 3 */
#define KIT_SERIAL_QUEUE            8
#define KIT_SERIAL_PORTS            2
#define KIT_SERIAL_BUFFER           256

typedef struct
{
  uint16_t flags;
  uint16_t idx;
  uint16_t ring[KIT_SERIAL_QUEUE];
  uint16_t used_event;
} KitSerialAvail;

typedef struct
{
  uint16_t flags;
  uint16_t idx;
  struct
  {
    uint32_t id;
    uint32_t len;
  } ring[KIT_SERIAL_QUEUE];
  uint16_t avail_event;
} KitSerialUsed;

typedef struct
{
  KitVirtqDesc desc[KIT_SERIAL_QUEUE] __attribute__ ((aligned (64)));
  KitSerialAvail avail __attribute__ ((aligned (64)));
  KitSerialUsed used __attribute__ ((aligned (64)));
  volatile uint16_t *notify;
  uint16_t index;
  uint16_t last_used;
} KitSerialQueue;

typedef struct
{
  KitSerialQueue control_rx, control_tx;
  KitSerialQueue rx[KIT_SERIAL_PORTS], tx[KIT_SERIAL_PORTS];
  uint8_t control_in[KIT_SERIAL_QUEUE][128];
  uint8_t control_out[8];
  uint8_t data_in[KIT_SERIAL_PORTS][KIT_SERIAL_QUEUE][KIT_SERIAL_BUFFER];
  uint8_t data_out[KIT_SERIAL_BUFFER];
  bool host_connected[KIT_SERIAL_PORTS];
  unsigned n_ports;
  KitPciDevice pci;
} KitVirtioSerial;

/* Sets up the @index-th virtio-serial function and sends DEVICE_READY.  FALSE, silently, without one;
 * with a line on serial when it cannot be driven. */
bool kit_virtio_serial_init (KitVirtioSerial *dev, unsigned index);
/* Makes the ports ready as the device adds them and opens the one named @name: its id, or -1 when it
 * did not come within a few seconds. */
int kit_virtio_serial_open (KitVirtioSerial *dev, const char *name);
/* What came in one receive buffer (@size at least KIT_SERIAL_BUFFER), 0 when nothing waits. */
size_t kit_virtio_serial_read (KitVirtioSerial *dev, int id, uint8_t *buffer, size_t size);
/* Sends @len bytes and waits for the device to take them; false after a few seconds without. */
bool kit_virtio_serial_write (KitVirtioSerial *dev, int id, const void *data, size_t len);

/* Sets up the @index-th virtio-blk PCI function: negotiates VERSION_1 and the features the kit knows,
 * reads the capacity, sets up one queue and DRIVER_OK.  FALSE, silently, when there is no such
 * device; FALSE with a line on serial saying why when it cannot be driven. */
bool kit_virtio_blk_init (KitVirtioBlk *dev, unsigned index);
/* The same, not accepting the device-specific feature bits in @refused (a driver that does not know
 * them, e.g. one without FLUSH, for which every write must be stable once it completes). */
bool kit_virtio_blk_init_without (KitVirtioBlk *dev, unsigned index, uint32_t refused);
/* Sends one request (@type at @sector with @n_segments data buffers, which the device writes for
 * IN and GET_ID and reads otherwise) and waits for it.  Returns the status byte, or -1 when the
 * device does not answer within about a second of host time. */
int kit_virtio_blk_request (KitVirtioBlk *dev, uint32_t type, uint64_t sector, const KitBlkSegment *segments,
                            unsigned n_segments);
/* A discard or write-zeroes of @count sectors at @sector (one range). */
int kit_virtio_blk_range (KitVirtioBlk *dev, uint32_t type, uint64_t sector, uint32_t count);
/* virtio-net over virtio-pci modern (kit-net.c): polled, no interrupts, VERSION_1 and MAC only (no
 * offloads: frames go out and come in whole, with the checksums the guest wrote). */
#define KIT_VIRTIO_NET_DEVICE_ID 0x1041 /* 0x1040 + device type 1 */
#define KIT_NET_QUEUE            256    /* buffers per queue, each holding a whole frame */

/* Sets up the @index-th virtio-net PCI function and fills its receive queue; its MAC address goes to
 * @mac.  FALSE, silently, when there is no such device; with a line on serial when it cannot be
 * driven. */
bool kit_virtio_net_init (unsigned index, uint8_t mac[6]);
/* Sends one Ethernet frame (at most 2036 bytes); FALSE when it is too long or the device takes none. */
bool kit_virtio_net_send (const void *frame, size_t len);
/* The same without ringing the doorbell (one is rung when the ring is full): a burst of frames costs
 * one VM exit, rung by kit_virtio_net_flush() after the last. */
bool kit_virtio_net_queue_frame (const void *frame, size_t len);
void kit_virtio_net_flush (void);

/* IPv4 over that NIC (kit-ip.c): UDP framing, ARP answers, a DHCP client. */
#define KIT_ETH_LEN     14
#define KIT_UDP_HEADERS (KIT_ETH_LEN + 20 + 8) /* Ethernet, IPv4 without options, UDP */

typedef struct
{
  uint8_t mac[6];
  uint8_t ip[4];
  uint8_t gateway[4];    /* from DHCP; 0.0.0.0 when it named none */
  uint8_t server[4];     /* the DHCP server's identifier */
  uint8_t server_mac[6]; /* the DHCP server's Ethernet address */
} KitIp;

uint16_t kit_get_be16 (const uint8_t *p);
void kit_put_be16 (uint8_t *p, uint16_t value);
/* The Internet checksum (RFC 1071) of @len bytes. */
uint16_t kit_ip_checksum (const uint8_t *data, size_t len);
/* Writes the Ethernet and IPv4 headers of a packet of @protocol from @me to @dst_ip at @dst_mac into
 * @frame, whose IPv4 payload of @payload_len bytes is at @frame + KIT_ETH_LEN + 20; returns the frame's
 * length. */
size_t kit_ipv4_build (const KitIp *me, uint8_t *frame, const uint8_t *dst_mac, const uint8_t *dst_ip,
                       uint8_t protocol, size_t payload_len);
/* Writes the headers of a UDP datagram from @me to @dst_ip at @dst_mac into @frame, whose payload of
 * @payload_len bytes is already at @frame + KIT_UDP_HEADERS; returns the frame's length. */
size_t kit_udp_build (const KitIp *me, uint8_t *frame, const uint8_t *dst_mac, const uint8_t *dst_ip,
                      uint16_t sport, uint16_t dport, size_t payload_len);
/* The payload of the UDP datagram for port @dport in @frame (unfragmented IPv4 without options), or
 * NULL.  Whose address it went to is the caller's to check (bytes 30-33 of the frame). */
const uint8_t *kit_udp_payload (const uint8_t *frame, size_t len, uint16_t dport, size_t *payload_len);
/* Answers @frame when it is an ARP request for @me's address; FALSE when it is no such request. */
bool kit_arp_answer (const KitIp *me, const uint8_t *frame, size_t len);
/* Takes an address from the DHCP server that answers @me->mac: @me's ip, gateway and server.  Frames
 * that come meanwhile and are not for the client are dropped.  FALSE after about ten seconds. */
bool kit_dhcp (KitIp *me);
/* A dotted IPv4 address of exactly @len characters. */
bool kit_parse_ipv4 (const char *text, size_t len, uint8_t ip[4]);
/* The value of the first "key=A.B.C.D" word on the command line, or FALSE. */
bool kit_cmdline_ipv4 (const char *key, uint8_t ip[4]);
/* Copies the next received frame (cut to @max bytes) to @frame and returns its length; 0 when none has
 * come. */
size_t kit_virtio_net_receive (void *frame, size_t max);

/* AHCI (kit-ahci.c): the ICH9 SATA controller (8086:2922, registers in BAR 5), polled, one command at a
 * time per port in slot 0 (or several NCQ commands at once), no interrupts.  Disks take ATA commands,
 * CD-ROMs ATAPI packets. */
#define KIT_AHCI_VENDOR_ID 0x8086
#define KIT_AHCI_DEVICE_ID 0x2922
#define KIT_AHCI_PORTS     6
#define KIT_AHCI_PRDS      8 /* scatter-gather entries per command */
#define KIT_AHCI_NCQ_SLOTS 4 /* NCQ commands the kit queues at once */

#define KIT_AHCI_NONE  0
#define KIT_AHCI_DISK  1
#define KIT_AHCI_CDROM 2

typedef struct
{
  uint8_t list[1024] __attribute__ ((aligned (1024)));
  uint8_t fis[256] __attribute__ ((aligned (256)));
  uint8_t tables[KIT_AHCI_NCQ_SLOTS][256] __attribute__ ((aligned (128)));
} KitAhciPort;

typedef struct
{
  KitAhciPort ports[KIT_AHCI_PORTS];
  KitPciDevice pci;
  volatile uint8_t *abar;
  uint8_t kinds[KIT_AHCI_PORTS]; /* KIT_AHCI_NONE, _DISK or _CDROM, from each port's signature */
} KitAhci;

/* Finds the @index-th controller, resets it and starts every port with a drive.  FALSE silently when
 * there is none; FALSE with a line on serial when it cannot be driven. */
bool kit_ahci_init (KitAhci *hba, unsigned index);
/* One ATA command (@command, @lba, @count, @features) on @port with @n_segments data buffers the device
 * writes (!@write) or reads.  Returns 0, -1 when the device does not answer within about a second of
 * host time, or the task file (error << 8 | status) when it fails; the port is restarted then. */
int kit_ahci_ata (KitAhci *hba, unsigned port, uint8_t command, uint64_t lba, uint32_t count,
                  uint8_t features, const KitBlkSegment *segments, unsigned n_segments, bool write);
/* @n (up to KIT_AHCI_NCQ_SLOTS) queued reads or writes at once: command i covers @count sectors at
 * @lba[i] from or to @data[i].  The same results, for the whole batch. */
int kit_ahci_ncq (KitAhci *hba, unsigned port, bool write, const uint64_t *lba, uint32_t count,
                  void *const *data, unsigned n);
/* One ATAPI command (@cdb, 12 bytes) on @port with @len bytes of data in at @data (@len 0: none).
 * Returns 0, -1 on a timeout, or the sense key the device reported (1-15). */
int kit_ahci_packet (KitAhci *hba, unsigned port, const uint8_t *cdb, void *data, uint32_t len);

#endif /* __ASSEMBLER__ */
