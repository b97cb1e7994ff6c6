/* spec-kinds.c — the device kinds a machine spec may name (spec.h): each kind's id prefix, limits and
 * options with their own checks, the table of them, and what a device id may be. */
#include "spec.h"
#include "net-options.h"

#include <string.h>

/* The kinds.  Keep in step with the core's device models (devices/kinds.c), which point at these. */

const HvDeviceKindInfo hv_kind_info_pci_host = {
  .name = "pci-host",
  .id_prefix = "pci",
  .max_instances = 1,
  .board = TRUE,
  .description = "PCI host bridge (i440FX-like configuration mechanism #1)",
};

static const HvSpecOptionInfo serial_options[] = {
  { "input", HV_SPEC_OPTION_FD, FALSE, "what the guest's receiver reads" },
  { "output", HV_SPEC_OPTION_FD, FALSE, "where what the guest transmits goes (dropped without)" },
  { NULL },
};

const HvDeviceKindInfo hv_kind_info_serial = {
  .name = "serial",
  .id_prefix = "serial",
  .max_instances = 2,
  .description = "16550A serial port (COM1, COM2)",
  .options = serial_options,
};

const HvDeviceKindInfo hv_kind_info_i8042 = {
  .name = "i8042",
  .id_prefix = "kbc",
  .max_instances = 1,
  .board = TRUE,
  .description = "PS/2 keyboard controller",
};

const HvDeviceKindInfo hv_kind_info_rtc = {
  .name = "rtc",
  .id_prefix = "rtc",
  .max_instances = 1,
  .board = TRUE,
  .description = "MC146818 real-time clock and CMOS",
};

const HvDeviceKindInfo hv_kind_info_acpi_pm = {
  .name = "acpi-pm",
  .id_prefix = "pm",
  .max_instances = 1,
  .board = TRUE,
  .description = "ACPI power management (power button, sleep states, reset register)",
};

const HvDeviceKindInfo hv_kind_info_fw_cfg = {
  .name = "fw-cfg",
  .id_prefix = "fwcfg",
  .max_instances = 1,
  .board = TRUE,
  .description = "firmware configuration (QEMU's fw_cfg), part of machines that boot firmware",
};

static const HvSpecOptionInfo bochs_display_options[] = {
  { "rom", HV_SPEC_OPTION_FD, FALSE, "option ROM for firmware (vgabios-bochs-display.bin)" },
  { NULL },
};

const HvDeviceKindInfo hv_kind_info_bochs_display = {
  .name = "bochs-display",
  .id_prefix = "display",
  .max_instances = 1,
  .description = "PCI linear framebuffer (Bochs DISPI), served over SPICE",
  .options = bochs_display_options,
};

const HvDeviceKindInfo hv_kind_info_virtio_keyboard = {
  .name = "virtio-keyboard",
  .id_prefix = "keyboard",
  .description = "virtio-input keyboard",
};

const HvDeviceKindInfo hv_kind_info_virtio_tablet = {
  .name = "virtio-tablet",
  .id_prefix = "tablet",
  .description = "virtio-input tablet (absolute pointer)",
};

static const char *const disk_formats[] = { "auto", "raw", "qcow2", NULL };
static const char *const disk_caches[] = { "none", "writeback", NULL };

/* What every drive backed by an image takes (virtio-blk, sata-disk; a CD-ROM the chain and format only). */
/* clang-format off */
#define OPTION_BACKING \
  { "backing", HV_SPEC_OPTION_FDS, FALSE, "the image's backing files, in chain order (opened read-only)" }
#define OPTION_FORMAT \
  { "format", HV_SPEC_OPTION_STRING, FALSE, "the image format: auto (the default), raw or qcow2", \
    .values = disk_formats }
#define OPTIONS_DISK_IMAGE \
  { "file", HV_SPEC_OPTION_FD, TRUE, "the disk image (opened read-write unless read-only)" }, \
  OPTION_BACKING, \
  OPTION_FORMAT, \
  { "read-only", HV_SPEC_OPTION_BOOL, FALSE, "the guest may not write (the image is only read)" }, \
  { "cache", HV_SPEC_OPTION_STRING, FALSE, \
    "none (direct I/O) or writeback (the host page cache); direct where possible by default", \
    .values = disk_caches }, \
  { "serial", HV_SPEC_OPTION_STRING, FALSE, "the serial number the guest reads (up to 20 bytes)", \
    .max_length = 20 }
/* clang-format on */

static const HvSpecOptionInfo virtio_blk_options[] = {
  OPTIONS_DISK_IMAGE,
  { "queues", HV_SPEC_OPTION_UINT, FALSE, "request queues the guest may use in parallel (1 to 16, default 1)",
    .min_value = 1, .max_value = 16 },
  { NULL },
};

const HvDeviceKindInfo hv_kind_info_virtio_blk = {
  .name = "virtio-blk",
  .id_prefix = "disk",
  .description = "virtio block device (a disk image)",
  .options = virtio_blk_options,
  .boot_class = "disk",
};

static const HvSpecOptionInfo sata_disk_options[] = {
  OPTIONS_DISK_IMAGE,
  { NULL },
};

/* SATA drives share one AHCI controller, made with the first of them; each takes the next of its six
 * ports in the order the spec lists them. */
const HvDeviceKindInfo hv_kind_info_sata_disk = {
  .name = "sata-disk",
  .id_prefix = "sata",
  .max_instances = 6,
  .description = "SATA hard disk on the AHCI controller (a disk image)",
  .options = sata_disk_options,
  .boot_class = "disk",
};

static const HvSpecOptionInfo cdrom_options[] = {
  { "file", HV_SPEC_OPTION_FD, FALSE, "the disc image (ISO), read-only; none: an empty drive" },
  OPTION_BACKING,
  OPTION_FORMAT,
  { NULL },
};

const HvDeviceKindInfo hv_kind_info_cdrom = {
  .name = "cdrom",
  .id_prefix = "cdrom",
  .max_instances = 6,
  .description = "ATAPI CD/DVD-ROM drive on the AHCI controller (its disc can be changed while running)",
  .options = cdrom_options,
  .boot_class = "cdrom",
};

static gboolean
check_net_backend (const char *value, GError **error)
{
  if (strcmp (value, "user") == 0 || strcmp (value, "tap") == 0)
    return TRUE;
  g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
               "“%s” is not a network backend; there are: user (NAT), tap (a TAP device)", value);
  return FALSE;
}

static gboolean
check_mac (const char *value, GError **error)
{
  return hv_net_parse_mac (value, NULL, error);
}

static gboolean
check_hostfwd (const char *value, GError **error)
{
  return hv_net_parse_hostfwd (value, NULL, error);
}

static const HvSpecOptionInfo virtio_net_options[] = {
  { "backend", HV_SPEC_OPTION_STRING, FALSE,
    "user: NAT through libslirp (the default); tap: the TAP device given as “tap”",
    .check = check_net_backend },
  { "tap", HV_SPEC_OPTION_FDS, FALSE,
    "for backend tap: a TAP device made with IFF_TAP, IFF_NO_PI and IFF_VNET_HDR (a bridge's port); with "
    "several queue pairs one fd per pair, each a queue of one TAP made with IFF_MULTI_QUEUE" },
  { "queues", HV_SPEC_OPTION_UINT, FALSE,
    "queue pairs the guest may use in parallel (1 to 8, default 1); more than one for backend tap only",
    .min_value = 1, .max_value = HV_NET_QUEUES_MAX },
  { "link", HV_SPEC_OPTION_BOOL, FALSE, "the cable is connected (default on)" },
  { "rom", HV_SPEC_OPTION_FD, FALSE, "an option ROM (iPXE's pxe-virtio.rom) for network boot" },
  { "mac", HV_SPEC_OPTION_STRING, FALSE, "MAC address aa:bb:cc:dd:ee:ff (default 52:54:00:12:34:56 + n)",
    .check = check_mac },
  { "hostfwd", HV_SPEC_OPTION_STRING, FALSE,
    "port forwards tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT, separated by ; (HOSTADDR "
    "defaults to 127.0.0.1)",
    .check = check_hostfwd },
  { "restrict", HV_SPEC_OPTION_BOOL, FALSE, "isolate the guest: no connections out, port forwards only" },
  { "tftp", HV_SPEC_OPTION_FD, FALSE, "a directory the built-in TFTP server serves" },
  { NULL },
};

static gboolean
has_option (GVariant *options, const char *name)
{
  g_autoptr (GVariant) value = g_variant_lookup_value (options, name, NULL);
  return value != NULL;
}

/* A TAP NIC needs its TAP, one fd per queue pair, and has no NAT to configure; a NAT NIC has no TAP
 * and one pair. */
static gboolean
check_net_options (GVariant *options, gboolean without_fds, GError **error)
{
  static const char *const nat_only[] = { "hostfwd", "restrict", "tftp" };
  g_autoptr (GVariant) taps = g_variant_lookup_value (options, "tap", G_VARIANT_TYPE ("ah"));
  gboolean has_tap = has_option (options, "tap");
  const char *backend = "user";
  guint32 queues = 1;

  g_variant_lookup (options, "backend", "&s", &backend);
  g_variant_lookup (options, "queues", "u", &queues);
  if (strcmp (backend, "tap") != 0)
    {
      if (queues > 1)
        {
          /* libslirp runs on one thread and gives all its frames to the first pair. */
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "the NAT (backend “user”) has one queue pair, not %u: only a TAP has several", queues);
          return FALSE;
        }
      if (!has_tap)
        return TRUE;
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "a TAP device (“tap”) needs the backend “tap”");
      return FALSE;
    }
  if (!has_tap && !without_fds)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "the backend “tap” needs a TAP device (“tap”)");
      return FALSE;
    }
  if (taps && g_variant_n_children (taps) != queues)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "%u queue pair%s need%s %u TAP fd%s, not %" G_GSIZE_FORMAT, queues, queues == 1 ? "" : "s",
                   queues == 1 ? "s" : "", queues, queues == 1 ? "" : "s", g_variant_n_children (taps));
      return FALSE;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (nat_only); i++)
    if (has_option (options, nat_only[i]))
      {
        g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                     "the option “%s” is the NAT's (backend “user”), not a TAP's", nat_only[i]);
        return FALSE;
      }
  return TRUE;
}

const HvDeviceKindInfo hv_kind_info_virtio_net = {
  .name = "virtio-net",
  .id_prefix = "net",
  .max_instances = 8,
  .description
  = "virtio-net NIC with user-mode networking (NAT, DHCP, port forwards) or a TAP device (bridged)",
  .options = virtio_net_options,
  .boot_class = "network",
  .check_options = check_net_options,
};

/* Port names as virtio-serial carries them: printable ASCII without the comma that separates them. */
static gboolean
check_serial_ports (const char *value, GError **error)
{
  g_auto (GStrv) names = g_strsplit (value, ",", -1);
  guint n = g_strv_length (names);

  if (n == 0 || n > 8)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "a virtio-serial device has 1 to 8 ports");
      return FALSE;
    }
  for (guint i = 0; i < n; i++)
    {
      gsize len = strlen (names[i]);

      if (len == 0 || len > 64)
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "a port name has 1 to 64 characters");
          return FALSE;
        }
      for (gsize j = 0; j < len; j++)
        if (!g_ascii_isgraph (names[i][j]))
          {
            g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                         "the port name “%s” has a character other than printable ASCII", names[i]);
            return FALSE;
          }
      for (guint j = 0; j < i; j++)
        if (strcmp (names[i], names[j]) == 0)
          {
            g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "two ports are named “%s”", names[i]);
            return FALSE;
          }
    }
  return TRUE;
}

static const HvSpecOptionInfo virtio_serial_options[] = {
  { "ports", HV_SPEC_OPTION_STRING, TRUE,
    "the ports' names, comma-separated (org.qemu.guest_agent.0 for the QEMU guest agent)", .max_length = 600,
    .check = check_serial_ports },
  { "fds", HV_SPEC_OPTION_FDS, FALSE, "each port's host side (a socket end), in the order of the names" },
  { NULL },
};

/* As many fds as ports, once they are known. */
static gboolean
check_serial_options (GVariant *options, gboolean without_fds, GError **error)
{
  g_autoptr (GVariant) fds = g_variant_lookup_value (options, "fds", NULL);
  const char *ports = "";
  g_auto (GStrv) names = NULL;

  if (fds == NULL)
    return TRUE;
  g_variant_lookup (options, "ports", "&s", &ports);
  names = g_strsplit (ports, ",", -1);
  if (g_variant_n_children (fds) != g_strv_length (names))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "%u port names and %" G_GSIZE_FORMAT " fds",
                   g_strv_length (names), g_variant_n_children (fds));
      return FALSE;
    }
  return TRUE;
}

const HvDeviceKindInfo hv_kind_info_virtio_serial = {
  .name = "virtio-serial",
  .id_prefix = "vserial",
  .max_instances = 4,
  .description = "virtio-serial (virtio-console, multiport): named channels such as the QEMU guest agent's",
  .options = virtio_serial_options,
  .check_options = check_serial_options,
};

const HvDeviceKindInfo *const hv_device_kind_infos[] = {
  &hv_kind_info_pci_host,      &hv_kind_info_serial,          &hv_kind_info_i8042,
  &hv_kind_info_rtc,           &hv_kind_info_acpi_pm,         &hv_kind_info_fw_cfg,
  &hv_kind_info_bochs_display, &hv_kind_info_virtio_keyboard, &hv_kind_info_virtio_tablet,
  &hv_kind_info_virtio_blk,    &hv_kind_info_virtio_net,      &hv_kind_info_sata_disk,
  &hv_kind_info_cdrom,         &hv_kind_info_virtio_serial,   NULL,
};

const HvDeviceKindInfo *
hv_device_kind_info_lookup (const char *name)
{
  for (gsize i = 0; name && hv_device_kind_infos[i]; i++)
    if (strcmp (hv_device_kind_infos[i]->name, name) == 0)
      return hv_device_kind_infos[i];
  return NULL;
}

gboolean
hv_device_id_is_valid (const char *id)
{
  gsize len = strlen (id);

  if (len == 0 || len > HV_DEVICE_ID_MAX || !g_ascii_isalpha (id[0]))
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isalnum (id[i]) && id[i] != '-' && id[i] != '_')
      return FALSE;
  return TRUE;
}
