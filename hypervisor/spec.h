/* spec.h — one description of a machine: what it boots, its processors and memory, and a list of
 * devices {kind, id, options}, with the files the guest will use held as fds.  vireod builds one from a
 * machine's configuration and checks it before answering; it travels to the worker as one versioned
 * message (hv_machine_spec_to_variant); the worker and vireo-run hand it to the core
 * (hv_vm_apply_spec).  Every one of them checks it with the same function, hv_machine_spec_check.
 *
 * Part of libvireo-hv-limits: no KVM, no devices, no display.  The kinds a spec may name, with their
 * options, are listed here (HvDeviceKindInfo); the core's device models point at these entries. */
#pragma once

#include "hv-limits.h"

G_BEGIN_DECLS

/* The version of the message hv_machine_spec_to_variant writes; a reader refuses newer ones. */
#define HV_SPEC_VERSION 1

/* The longest device id, and the most devices a spec may list. */
#define HV_DEVICE_ID_MAX    32
#define HV_SPEC_DEVICES_MAX 64
/* The longest boot menu wait a spec may ask for, in milliseconds. */
#define HV_BOOT_MENU_MS_MAX 60000
/* The SATA drives (kinds "sata-disk" and "cdrom" together) a machine may have: the AHCI controller's
 * ports. */
#define HV_SATA_PORTS 6

typedef enum
{
  HV_SPEC_OPTION_STRING, /* "s" */
  HV_SPEC_OPTION_BOOL,   /* "b" */
  HV_SPEC_OPTION_UINT,   /* "u" */
  HV_SPEC_OPTION_FD,     /* "h": one of the spec's fds */
  HV_SPEC_OPTION_FDS,    /* "ah": several, in order (a disk's chain of backing files) */
} HvSpecOptionType;

typedef struct
{
  const char *name;
  HvSpecOptionType type;
  gboolean required;
  const char *description; /* for vireo-run --device help */
  /* Strings only: the values allowed (NULL-terminated; NULL for any) and the longest in bytes (0: no
   * limit). */
  const char *const *values;
  unsigned max_length;
  /* Numbers only: the range allowed (both 0: any). */
  unsigned min_value;
  unsigned max_value;
  /* Checks a string option's value beyond its type (a MAC address, port forwards); NULL: any. */
  gboolean (*check) (const char *value, GError **error);
} HvSpecOptionInfo;

/* A device kind as a spec sees it. */
typedef struct
{
  const char *name;       /* "serial": what specs and saved sections call the kind */
  const char *id_prefix;  /* instance ids are the prefix and a number from 0: "serial0", "serial1" */
  unsigned max_instances; /* 0: no limit */
  /* Part of every machine (the PCI host bridge, the keyboard controller, the clock, power
   * management): there from the start under a fixed id, never listed in a spec. */
  gboolean board;
  const char *description;
  const HvSpecOptionInfo *options; /* terminated by a NULL name; NULL for none */
  /* What the firmware may boot from it: "disk", "cdrom" or "network"; NULL: nothing. */
  const char *boot_class;
  /* Checks how the options go together, once each is known to be well-formed; @without_fds: fd options
   * may be missing yet.  NULL: any combination. */
  gboolean (*check_options) (GVariant *options, gboolean without_fds, GError **error);
} HvDeviceKindInfo;

/* Every kind, NULL-terminated, and one by name (NULL when unknown). */
extern const HvDeviceKindInfo *const hv_device_kind_infos[];
const HvDeviceKindInfo *hv_device_kind_info_lookup (const char *name);
/* Up to HV_DEVICE_ID_MAX letters, digits, "-" and "_", starting with a letter. */
gboolean hv_device_id_is_valid (const char *id);

/* The entries the core's kinds point at. */
extern const HvDeviceKindInfo hv_kind_info_pci_host, hv_kind_info_serial, hv_kind_info_i8042,
    hv_kind_info_rtc, hv_kind_info_acpi_pm, hv_kind_info_fw_cfg, hv_kind_info_bochs_display,
    hv_kind_info_virtio_keyboard, hv_kind_info_virtio_tablet, hv_kind_info_virtio_blk,
    hv_kind_info_virtio_net, hv_kind_info_sata_disk, hv_kind_info_cdrom, hv_kind_info_virtio_serial;

/* Debian's SeaBIOS (package seabios): the firmware a machine boots when nothing else is named, and the
 * option ROM that gives its Bochs display text modes. */
#define HV_DEFAULT_FIRMWARE "/usr/share/seabios/bios-256k.bin"
#define HV_DISPLAY_ROM      "/usr/share/seabios/vgabios-bochs-display.bin"
/* iPXE for virtio-net (Debian's ipxe-qemu), offered to each NIC when firmware boots. */
#define HV_NET_ROM "/usr/lib/ipxe/qemu/pxe-virtio.rom"
/* Whether vireo-run offers it without rom=on. */
#define HV_NET_ROM_DEFAULT TRUE

typedef enum
{
  HV_BOOT_KERNEL,   /* a kernel (PVH ELF or bzImage), an initrd and a command line */
  HV_BOOT_FIRMWARE, /* a firmware image and a boot order */
} HvBootKind;

typedef struct
{
  char *kind;
  char *id;          /* never NULL once added: the kind's prefix and a free number when not given */
  GVariant *options; /* a{sv}; an "h" is an index into the spec's fds */
} HvDeviceSpec;

typedef struct
{
  uint64_t memory; /* bytes */
  unsigned vcpus;
  char *cpuid_mask; /* "-cx16,-avx512f", "" for none */
  HvBootKind boot;
  int kernel; /* fd handles (indexes into the spec's fds), -1 when not given */
  int initrd;
  char *cmdline;
  int firmware;
  /* What the firmware tries, first to last: device ids ("disk0", "cdrom0") and classes ("disk", "cdrom",
   * "network": every device of the class, in the order the spec lists them).  Devices left out come
   * after, in the firmware's own order.  NULL-terminated, never NULL. */
  char **boot_order;
  /* How long the firmware offers its boot menu (Esc) before booting, in milliseconds; 0: no menu. */
  unsigned boot_menu_ms;
  GPtrArray *devices; /* HvDeviceSpec, in the order the machine realizes them */
  GArray *fds;        /* int, owned: closed by hv_machine_spec_free */
} HvMachineSpec;

/* A machine of 512 MiB with one vCPU booting a kernel, without devices or fds. */
HvMachineSpec *hv_machine_spec_new (void);
void hv_machine_spec_free (HvMachineSpec *spec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HvMachineSpec, hv_machine_spec_free)

/* Takes @fd (also on failure) and returns its handle; -1 when @fd is negative. */
int hv_machine_spec_add_fd (HvMachineSpec *spec, int fd);
/* The fd behind @handle (still the spec's), or -1 for a handle out of range. */
int hv_machine_spec_get_fd (const HvMachineSpec *spec, int handle);
unsigned hv_machine_spec_get_n_fds (const HvMachineSpec *spec);

/* Appends a device; @id NULL picks the kind's prefix and the next free number; @options (a{sv},
 * floating or not, NULL for none) is kept.  Nothing is checked here but the kind's existence (for
 * the id): hv_machine_spec_check checks the rest. */
HvDeviceSpec *hv_machine_spec_add_device (HvMachineSpec *spec, const char *kind, const char *id,
                                          GVariant *options);
HvDeviceSpec *hv_machine_spec_lookup_device (const HvMachineSpec *spec, const char *id);
/* The first device of @kind, or NULL. */
HvDeviceSpec *hv_machine_spec_find_kind (const HvMachineSpec *spec, const char *kind);
/* Sets option @name of @device to a new handle for @fd (taken). */
void hv_device_spec_set_fd (HvMachineSpec *spec, HvDeviceSpec *device, const char *name, int fd);
/* The fd behind @device's option @name, or -1 when it has none. */
int hv_device_spec_get_fd (const HvMachineSpec *spec, const HvDeviceSpec *device, const char *name);

/* Sets option @name of @device to new handles for @fds (@n_fds of them, taken). */
void hv_device_spec_set_fds (HvMachineSpec *spec, HvDeviceSpec *device, const char *name, const int *fds,
                             unsigned n_fds);

/* Rewrites every fd in device options (an "h" value, or each element of an "ah"): the copy has what
 * @map returns for each (>= 0), or -1 with @map's error, after @unmap was called on every value @map
 * made so far (@unmap may be NULL).  A NULL @map drops fd options instead. */
typedef int (*HvSpecFdMap) (void *opaque, const char *name, int fd, GError **error);
GVariant *hv_spec_options_map_fds (GVariant *options, HvSpecFdMap map, void (*unmap) (void *opaque, int fd),
                                   void *opaque, GError **error);
/* Calls @fn with every fd in device options. */
void hv_spec_options_foreach_fd (GVariant *options, void (*fn) (void *opaque, int fd), void *opaque);

/* Parses vireo-run's --device: "KIND[,id=ID][,OPTION=VALUE...]" (a bool is on/off/true/false/yes/no,
 * a number decimal).  Options of type fd cannot be given this way. */
gboolean hv_machine_spec_add_device_text (HvMachineSpec *spec, const char *text, GError **error);

typedef enum
{
  HV_SPEC_CHECK_DEFAULT = 0,
  /* The files are not open yet (vireod answering Create): a missing kernel fd is no error. */
  HV_SPEC_CHECK_WITHOUT_FDS = 1 << 0,
  /* Not for this host (a stored machine): memory is not compared with the host's. */
  HV_SPEC_CHECK_ANY_HOST = 1 << 1,
} HvSpecCheckFlags;

/* The one validation: sizes and counts in range, the CPUID mask and command line well-formed, the
 * boot source complete, every device of a known, requestable kind with a well-formed, unique id,
 * within its kind's instance limit, with known options of the right types (required ones present,
 * fds that exist).  HV_ERROR_INVALID_ARGUMENT naming what is wrong. */
gboolean hv_machine_spec_check (const HvMachineSpec *spec, HvSpecCheckFlags flags, GError **error);

/* The message: a{sv} with "version" u, "memory" t (bytes), "vcpus" u, "cpuid-mask" s, "boot" s
 * ("kernel", "firmware"), "kernel" h, "initrd" h, "cmdline" s, "firmware" h, "boot-order" as, and
 * "devices" a(ssa{sv}) (kind, id, options); absent fds are left out.  Handles index the spec's fds,
 * in order (hv_machine_spec_get_fd). */
GVariant *hv_machine_spec_to_variant (const HvMachineSpec *spec);
/* Reads a message: @fds (not taken) are what its handles index; the spec gets its own duplicates of
 * those it uses.  Keys named in @ignore (NULL-terminated, may be NULL) belong to the caller and are
 * skipped; any other unknown key, a wrong type, a newer version or a handle outside @fds is
 * HV_ERROR_INVALID_ARGUMENT naming the key.  The result is not yet checked. */
HvMachineSpec *hv_machine_spec_new_from_variant (GVariant *variant, const int *fds, unsigned n_fds,
                                                 const char *const *ignore, GError **error);

G_END_DECLS
