/* spec.c — the machine spec (spec.h): the kinds a spec may name, building a spec, checking it, and the
 * message it travels in. */
#include "spec.h"
#include "net-options.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static const HvSpecOptionInfo *
find_option (const HvDeviceKindInfo *info, const char *name)
{
  for (const HvSpecOptionInfo *o = info->options; o && o->name; o++)
    if (strcmp (o->name, name) == 0)
      return o;
  return NULL;
}

static const char *
option_type_string (HvSpecOptionType type)
{
  switch (type)
    {
    case HV_SPEC_OPTION_STRING:
      return "s";
    case HV_SPEC_OPTION_BOOL:
      return "b";
    case HV_SPEC_OPTION_UINT:
      return "u";
    case HV_SPEC_OPTION_FD:
      return "h";
    case HV_SPEC_OPTION_FDS:
      return "ah";
    }
  g_assert_not_reached ();
}

/* Building. */

static void
device_spec_free (gpointer data)
{
  HvDeviceSpec *device = data;

  g_free (device->kind);
  g_free (device->id);
  g_clear_pointer (&device->options, g_variant_unref);
  g_free (device);
}

HvMachineSpec *
hv_machine_spec_new (void)
{
  HvMachineSpec *spec = g_new0 (HvMachineSpec, 1);

  spec->memory = 512ull << 20;
  spec->vcpus = 1;
  spec->cpuid_mask = g_strdup ("");
  spec->boot = HV_BOOT_KERNEL;
  spec->kernel = spec->initrd = spec->firmware = -1;
  spec->cmdline = g_strdup ("");
  spec->boot_order = g_new0 (char *, 1);
  spec->devices = g_ptr_array_new_with_free_func (device_spec_free);
  spec->fds = g_array_new (FALSE, FALSE, sizeof (int));
  return spec;
}

void
hv_machine_spec_free (HvMachineSpec *spec)
{
  if (spec == NULL)
    return;
  for (guint i = 0; i < spec->fds->len; i++)
    close (g_array_index (spec->fds, int, i));
  g_array_unref (spec->fds);
  g_ptr_array_unref (spec->devices);
  g_strfreev (spec->boot_order);
  g_free (spec->cpuid_mask);
  g_free (spec->cmdline);
  g_free (spec);
}

int
hv_machine_spec_add_fd (HvMachineSpec *spec, int fd)
{
  if (fd < 0)
    return -1;
  g_array_append_val (spec->fds, fd);
  return (int) spec->fds->len - 1;
}

int
hv_machine_spec_get_fd (const HvMachineSpec *spec, int handle)
{
  if (handle < 0 || (guint) handle >= spec->fds->len)
    return -1;
  return g_array_index (spec->fds, int, handle);
}

unsigned
hv_machine_spec_get_n_fds (const HvMachineSpec *spec)
{
  return spec->fds->len;
}

HvDeviceSpec *
hv_machine_spec_lookup_device (const HvMachineSpec *spec, const char *id)
{
  for (guint i = 0; i < spec->devices->len; i++)
    {
      HvDeviceSpec *device = spec->devices->pdata[i];
      if (g_strcmp0 (device->id, id) == 0)
        return device;
    }
  return NULL;
}

HvDeviceSpec *
hv_machine_spec_find_kind (const HvMachineSpec *spec, const char *kind)
{
  for (guint i = 0; i < spec->devices->len; i++)
    {
      HvDeviceSpec *device = spec->devices->pdata[i];
      if (g_strcmp0 (device->kind, kind) == 0)
        return device;
    }
  return NULL;
}

HvDeviceSpec *
hv_machine_spec_add_device (HvMachineSpec *spec, const char *kind, const char *id, GVariant *options)
{
  HvDeviceSpec *device = g_new0 (HvDeviceSpec, 1);
  const HvDeviceKindInfo *info = hv_device_kind_info_lookup (kind);

  device->kind = g_strdup (kind);
  if (id)
    device->id = g_strdup (id);
  else
    {
      const char *prefix = info ? info->id_prefix : "device";
      for (unsigned n = 0; device->id == NULL || hv_machine_spec_lookup_device (spec, device->id); n++)
        {
          g_free (device->id);
          device->id = g_strdup_printf ("%s%u", prefix, n);
        }
    }
  device->options = g_variant_ref_sink (options ? options : g_variant_new ("a{sv}", NULL));
  g_ptr_array_add (spec->devices, device);
  return device;
}

/* @device's options with @name set to @value (floating, sunk here). */
static void
set_option (HvDeviceSpec *device, const char *name, GVariant *value)
{
  GVariantDict dict;

  g_variant_dict_init (&dict, device->options);
  g_variant_dict_insert_value (&dict, name, value);
  g_variant_unref (device->options);
  device->options = g_variant_ref_sink (g_variant_dict_end (&dict));
}

void
hv_device_spec_set_fds (HvMachineSpec *spec, HvDeviceSpec *device, const char *name, const int *fds,
                        unsigned n_fds)
{
  g_autofree gint32 *handles = g_new (gint32, MAX (n_fds, 1));

  for (unsigned i = 0; i < n_fds; i++)
    handles[i] = hv_machine_spec_add_fd (spec, fds[i]);
  set_option (device, name,
              g_variant_new_fixed_array (G_VARIANT_TYPE_HANDLE, handles, n_fds, sizeof (gint32)));
}

static void
unmap_all (GPtrArray *made, void (*unmap) (void *opaque, int fd), void *opaque)
{
  for (guint i = 0; unmap && i < made->len; i++)
    unmap (opaque, GPOINTER_TO_INT (made->pdata[i]));
}

GVariant *
hv_spec_options_map_fds (GVariant *options, HvSpecFdMap map, void (*unmap) (void *opaque, int fd),
                         void *opaque, GError **error)
{
  g_autoptr (GPtrArray) made = g_ptr_array_new ();
  GVariantDict dict;
  GVariantIter iter;
  const char *name;
  GVariant *value;

  g_variant_dict_init (&dict, NULL);
  g_variant_iter_init (&iter, options);
  while (g_variant_iter_next (&iter, "{&sv}", &name, &value))
    {
      g_autoptr (GVariant) owned = value;
      gboolean single = g_variant_is_of_type (value, G_VARIANT_TYPE_HANDLE);
      gsize n = 1;
      const gint32 *fds;
      g_autofree gint32 *mapped = NULL;

      if (!single && !g_variant_is_of_type (value, G_VARIANT_TYPE ("ah")))
        {
          g_variant_dict_insert_value (&dict, name, value);
          continue;
        }
      if (map == NULL)
        continue;
      fds = single ? NULL : g_variant_get_fixed_array (value, &n, sizeof (gint32));
      mapped = g_new (gint32, MAX (n, 1));
      for (gsize i = 0; i < n; i++)
        {
          mapped[i] = map (opaque, name, single ? g_variant_get_handle (value) : fds[i], error);
          if (mapped[i] < 0)
            {
              unmap_all (made, unmap, opaque);
              g_variant_dict_clear (&dict);
              return NULL;
            }
          g_ptr_array_add (made, GINT_TO_POINTER (mapped[i]));
        }
      g_variant_dict_insert_value (
          &dict, name,
          single ? g_variant_new_handle (mapped[0])
                 : g_variant_new_fixed_array (G_VARIANT_TYPE_HANDLE, mapped, n, sizeof (gint32)));
    }
  return g_variant_dict_end (&dict);
}

void
hv_spec_options_foreach_fd (GVariant *options, void (*fn) (void *opaque, int fd), void *opaque)
{
  GVariantIter iter;
  GVariant *value;

  g_variant_iter_init (&iter, options);
  while (g_variant_iter_next (&iter, "{&sv}", NULL, &value))
    {
      if (g_variant_is_of_type (value, G_VARIANT_TYPE_HANDLE))
        fn (opaque, g_variant_get_handle (value));
      else if (g_variant_is_of_type (value, G_VARIANT_TYPE ("ah")))
        {
          gsize n;
          const gint32 *fds = g_variant_get_fixed_array (value, &n, sizeof (gint32));
          for (gsize i = 0; i < n; i++)
            fn (opaque, fds[i]);
        }
      g_variant_unref (value);
    }
}

void
hv_device_spec_set_fd (HvMachineSpec *spec, HvDeviceSpec *device, const char *name, int fd)
{
  set_option (device, name, g_variant_new_handle (hv_machine_spec_add_fd (spec, fd)));
}

int
hv_device_spec_get_fd (const HvMachineSpec *spec, const HvDeviceSpec *device, const char *name)
{
  gint32 handle;

  if (!g_variant_lookup (device->options, name, "h", &handle))
    return -1;
  return hv_machine_spec_get_fd (spec, handle);
}

static gboolean
parse_option_value (const HvSpecOptionInfo *option, const char *kind, const char *text, GVariant **value,
                    GError **error)
{
  switch (option->type)
    {
    case HV_SPEC_OPTION_STRING:
      *value = g_variant_new_string (text);
      return TRUE;
    case HV_SPEC_OPTION_BOOL:
      if (g_str_equal (text, "on") || g_str_equal (text, "true") || g_str_equal (text, "yes"))
        *value = g_variant_new_boolean (TRUE);
      else if (g_str_equal (text, "off") || g_str_equal (text, "false") || g_str_equal (text, "no"))
        *value = g_variant_new_boolean (FALSE);
      else
        break;
      return TRUE;
    case HV_SPEC_OPTION_UINT:
      {
        guint64 number;
        if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT32, &number, NULL))
          break;
        *value = g_variant_new_uint32 ((guint32) number);
        return TRUE;
      }
    case HV_SPEC_OPTION_FD:
    case HV_SPEC_OPTION_FDS:
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "the %s option “%s” is a file and cannot be given here", kind, option->name);
      return FALSE;
    }
  g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "“%s” is not a valid value for the %s option “%s”",
               text, kind, option->name);
  return FALSE;
}

gboolean
hv_machine_spec_add_device_text (HvMachineSpec *spec, const char *text, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (text, ",", -1);
  const HvDeviceKindInfo *info;
  const char *id = NULL;
  GVariantDict options;

  info = hv_device_kind_info_lookup (parts[0]);
  if (info == NULL || info->board)
    {
      g_autoptr (GString) kinds = g_string_new (NULL);
      for (gsize i = 0; hv_device_kind_infos[i]; i++)
        if (!hv_device_kind_infos[i]->board)
          g_string_append_printf (kinds, "%s%s", kinds->len ? ", " : "", hv_device_kind_infos[i]->name);
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "“%s” is not a device kind one can add; the kinds are: %s", parts[0], kinds->str);
      return FALSE;
    }
  g_variant_dict_init (&options, NULL);
  for (gsize i = 1; parts[i]; i++)
    {
      char *equals = strchr (parts[i], '=');
      const HvSpecOptionInfo *option;
      GVariant *value;

      if (equals == NULL)
        {
          g_variant_dict_clear (&options);
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "“%s” in “%s” is not OPTION=VALUE",
                       parts[i], text);
          return FALSE;
        }
      *equals = '\0';
      if (strcmp (parts[i], "id") == 0)
        {
          id = equals + 1;
          continue;
        }
      option = find_option (info, parts[i]);
      if (option == NULL)
        {
          g_variant_dict_clear (&options);
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "a %s device has no option “%s”",
                       info->name, parts[i]);
          return FALSE;
        }
      if (!parse_option_value (option, info->name, equals + 1, &value, error))
        {
          g_variant_dict_clear (&options);
          return FALSE;
        }
      g_variant_dict_insert_value (&options, option->name, value);
    }
  hv_machine_spec_add_device (spec, info->name, id, g_variant_dict_end (&options));
  return TRUE;
}

/* Checking. */

static gboolean
check_handle (const HvMachineSpec *spec, int handle, const char *what, GError **error)
{
  if (handle >= 0 && (guint) handle < spec->fds->len)
    return TRUE;
  g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "the %s is file %d of the machine, which has %u",
               what, handle, spec->fds->len);
  return FALSE;
}

static gboolean
check_string_value (const HvDeviceSpec *device, const HvSpecOptionInfo *option, GVariant *value,
                    GError **error)
{
  const char *text = g_variant_get_string (value, NULL);

  if (option->values && !g_strv_contains ((const char *const *) option->values, text))
    {
      g_autofree char *allowed = g_strjoinv (", ", (char **) option->values);
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "device “%s”: the option “%s” is one of %s, not “%s”", device->id, option->name, allowed,
                   text);
      return FALSE;
    }
  if (option->max_length && strlen (text) > option->max_length)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "device “%s”: the option “%s” is at most %u bytes long", device->id, option->name,
                   option->max_length);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_device (const HvMachineSpec *spec, const HvDeviceSpec *device, HvSpecCheckFlags flags, GError **error)
{
  const HvDeviceKindInfo *info = hv_device_kind_info_lookup (device->kind);
  GVariantIter iter;
  const char *name;
  GVariant *value;
  unsigned same_kind = 0;

  if (info == NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "device “%s”: there is no device kind “%s”",
                   device->id, device->kind);
      return FALSE;
    }
  if (info->board)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "device “%s”: a %s is part of every machine and cannot be added", device->id, info->name);
      return FALSE;
    }
  if (!hv_device_id_is_valid (device->id))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "“%s” is not a device id: use up to %d letters, digits, “-” and “_”, starting with a "
                   "letter",
                   device->id, HV_DEVICE_ID_MAX);
      return FALSE;
    }
  for (guint i = 0; i < spec->devices->len; i++)
    {
      const HvDeviceSpec *other = spec->devices->pdata[i];
      if (other == device)
        break;
      if (strcmp (other->id, device->id) == 0)
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "the machine has two devices with the id “%s”", device->id);
          return FALSE;
        }
      if (strcmp (other->kind, device->kind) == 0)
        same_kind++;
    }
  for (gsize i = 0; hv_device_kind_infos[i]; i++)
    if (hv_device_kind_infos[i]->board && g_str_has_prefix (device->id, hv_device_kind_infos[i]->id_prefix)
        && strcmp (device->id + strlen (hv_device_kind_infos[i]->id_prefix), "0") == 0)
      {
        g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "the id “%s” belongs to the machine's %s",
                     device->id, hv_device_kind_infos[i]->name);
        return FALSE;
      }
  if (info->max_instances && same_kind >= info->max_instances)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "a machine has at most %u device%s of kind “%s”", info->max_instances,
                   info->max_instances == 1 ? "" : "s", info->name);
      return FALSE;
    }

  g_variant_iter_init (&iter, device->options);
  while (g_variant_iter_next (&iter, "{&sv}", &name, &value))
    {
      g_autoptr (GVariant) owned = value;
      const HvSpecOptionInfo *option = find_option (info, name);
      const char *type;

      if (option == NULL)
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "device “%s”: a %s has no option “%s”",
                       device->id, info->name, name);
          return FALSE;
        }
      type = option_type_string (option->type);
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE (type)))
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "device “%s”: the option “%s” must be of type “%s”, not “%s”", device->id, name, type,
                       g_variant_get_type_string (value));
          return FALSE;
        }
      if (option->check && option->type == HV_SPEC_OPTION_STRING)
        {
          g_autoptr (GError) local = NULL;
          if (!option->check (g_variant_get_string (value, NULL), &local))
            {
              g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "device “%s”: the option “%s”: %s",
                           device->id, name, local->message);
              return FALSE;
            }
        }
      if (option->type == HV_SPEC_OPTION_FD)
        {
          g_autofree char *what = g_strdup_printf ("%s's “%s”", device->id, name);
          if (!check_handle (spec, g_variant_get_handle (value), what, error))
            return FALSE;
        }
      if (option->type == HV_SPEC_OPTION_FDS)
        {
          gsize n;
          const gint32 *handles = g_variant_get_fixed_array (value, &n, sizeof (gint32));
          g_autofree char *what = g_strdup_printf ("%s's “%s”", device->id, name);
          for (gsize i = 0; i < n; i++)
            if (!check_handle (spec, handles[i], what, error))
              return FALSE;
        }
      if (option->type == HV_SPEC_OPTION_STRING && !check_string_value (device, option, value, error))
        return FALSE;
      if (option->type == HV_SPEC_OPTION_UINT && (option->min_value || option->max_value)
          && (g_variant_get_uint32 (value) < option->min_value
              || g_variant_get_uint32 (value) > option->max_value))
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "device “%s”: the option “%s” is %u to %u, not %u", device->id, name,
                       option->min_value, option->max_value, g_variant_get_uint32 (value));
          return FALSE;
        }
    }
  for (const HvSpecOptionInfo *o = info->options; o && o->name; o++)
    {
      g_autoptr (GVariant) present = NULL;

      if (o->required)
        present = g_variant_lookup_value (device->options, o->name, NULL);
      if (o->required && present == NULL
          && !(o->type == HV_SPEC_OPTION_FD && (flags & HV_SPEC_CHECK_WITHOUT_FDS)))
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "device “%s”: the option “%s” is missing",
                       device->id, o->name);
          return FALSE;
        }
    }
  if (info->check_options)
    {
      g_autoptr (GError) local = NULL;
      if (!info->check_options (device->options, (flags & HV_SPEC_CHECK_WITHOUT_FDS) != 0, &local))
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "device “%s”: %s", device->id,
                       local->message);
          return FALSE;
        }
    }
  return TRUE;
}

static const char *const boot_devices[] = { "disk", "cdrom", "network", NULL };

gboolean
hv_machine_spec_check (const HvMachineSpec *spec, HvSpecCheckFlags flags, GError **error)
{
  gboolean without_fds = (flags & HV_SPEC_CHECK_WITHOUT_FDS) != 0;

  if ((flags & HV_SPEC_CHECK_ANY_HOST) && spec->memory >= HV_MEMORY_MIN && spec->memory <= HV_MEMORY_MAX
      && (spec->memory & 0xfff) == 0)
    ; /* in range for some host: this one's RAM is checked when the machine starts */
  else if (!hv_check_memory_size (spec->memory, error))
    return FALSE;
  if (!hv_check_vcpus (spec->vcpus, error) || !hv_check_cpuid_mask (spec->cpuid_mask, error))
    return FALSE;
  if (strlen (spec->cmdline) >= HV_CMDLINE_MAX)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "the kernel command line is %zu bytes long; the limit is %d", strlen (spec->cmdline),
                   HV_CMDLINE_MAX - 1);
      return FALSE;
    }
  switch (spec->boot)
    {
    case HV_BOOT_KERNEL:
      if (spec->kernel < 0 && !without_fds)
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "the machine boots a kernel but has none");
          return FALSE;
        }
      if ((spec->kernel >= 0 && !check_handle (spec, spec->kernel, "kernel", error))
          || (spec->initrd >= 0 && !check_handle (spec, spec->initrd, "initrd", error)))
        return FALSE;
      break;
    case HV_BOOT_FIRMWARE:
      if (spec->firmware < 0 && !without_fds)
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "the machine boots firmware but has none");
          return FALSE;
        }
      if (spec->firmware >= 0 && !check_handle (spec, spec->firmware, "firmware", error))
        return FALSE;
      break;
    default:
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "unknown boot source %d", spec->boot);
      return FALSE;
    }
  for (gsize i = 0; spec->boot_order[i]; i++)
    {
      const HvDeviceSpec *device = hv_machine_spec_lookup_device (spec, spec->boot_order[i]);
      const HvDeviceKindInfo *info = device ? hv_device_kind_info_lookup (device->kind) : NULL;

      if (device == NULL && !g_strv_contains (boot_devices, spec->boot_order[i]))
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "“%s” in the boot order is neither a device of the machine nor one of disk, cdrom, "
                       "network",
                       spec->boot_order[i]);
          return FALSE;
        }
      if (device && (info == NULL || info->boot_class == NULL))
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "“%s” in the boot order is a %s, which the firmware cannot boot from", device->id,
                       device->kind);
          return FALSE;
        }
      for (gsize j = 0; j < i; j++)
        if (strcmp (spec->boot_order[i], spec->boot_order[j]) == 0)
          {
            g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "“%s” is in the boot order twice",
                         spec->boot_order[i]);
            return FALSE;
          }
    }
  if (spec->boot_menu_ms > HV_BOOT_MENU_MS_MAX)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "the boot menu would wait %u ms; the limit is %d", spec->boot_menu_ms,
                   HV_BOOT_MENU_MS_MAX);
      return FALSE;
    }
  if (spec->devices->len > HV_SPEC_DEVICES_MAX)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "the machine lists %u devices; the limit is %d", spec->devices->len, HV_SPEC_DEVICES_MAX);
      return FALSE;
    }
  for (guint i = 0; i < spec->devices->len; i++)
    if (!check_device (spec, spec->devices->pdata[i], flags, error))
      return FALSE;
  {
    /* SATA disks and CD-ROMs share the AHCI controller's ports. */
    unsigned sata = 0;

    for (guint i = 0; i < spec->devices->len; i++)
      {
        const HvDeviceSpec *device = spec->devices->pdata[i];
        if (strcmp (device->kind, "sata-disk") == 0 || strcmp (device->kind, "cdrom") == 0)
          sata++;
      }
    if (sata > HV_SATA_PORTS)
      {
        g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                     "the machine has %u SATA drives (sata-disk and cdrom); the SATA controller has %d ports",
                     sata, HV_SATA_PORTS);
        return FALSE;
      }
  }
  return TRUE;
}

/* The message. */

static const char *
boot_kind_to_string (HvBootKind boot)
{
  return boot == HV_BOOT_FIRMWARE ? "firmware" : "kernel";
}

GVariant *
hv_machine_spec_to_variant (const HvMachineSpec *spec)
{
  GVariantBuilder dict;
  GVariantBuilder devices;

  /* In a fixed order, so that equal specs make equal messages. */
  g_variant_builder_init (&dict, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&dict, "{sv}", "version", g_variant_new_uint32 (HV_SPEC_VERSION));
  g_variant_builder_add (&dict, "{sv}", "memory", g_variant_new_uint64 (spec->memory));
  g_variant_builder_add (&dict, "{sv}", "vcpus", g_variant_new_uint32 (spec->vcpus));
  g_variant_builder_add (&dict, "{sv}", "cpuid-mask", g_variant_new_string (spec->cpuid_mask));
  g_variant_builder_add (&dict, "{sv}", "boot", g_variant_new_string (boot_kind_to_string (spec->boot)));
  if (spec->kernel >= 0)
    g_variant_builder_add (&dict, "{sv}", "kernel", g_variant_new_handle (spec->kernel));
  if (spec->initrd >= 0)
    g_variant_builder_add (&dict, "{sv}", "initrd", g_variant_new_handle (spec->initrd));
  g_variant_builder_add (&dict, "{sv}", "cmdline", g_variant_new_string (spec->cmdline));
  if (spec->firmware >= 0)
    g_variant_builder_add (&dict, "{sv}", "firmware", g_variant_new_handle (spec->firmware));
  g_variant_builder_add (&dict, "{sv}", "boot-order",
                         g_variant_new_strv ((const char *const *) spec->boot_order, -1));
  if (spec->boot_menu_ms > 0)
    g_variant_builder_add (&dict, "{sv}", "boot-menu-ms", g_variant_new_uint32 (spec->boot_menu_ms));
  g_variant_builder_init (&devices, G_VARIANT_TYPE ("a(ssa{sv})"));
  for (guint i = 0; i < spec->devices->len; i++)
    {
      const HvDeviceSpec *device = spec->devices->pdata[i];
      g_variant_builder_add (&devices, "(ss@a{sv})", device->kind, device->id, device->options);
    }
  g_variant_builder_add (&dict, "{sv}", "devices", g_variant_builder_end (&devices));
  return g_variant_builder_end (&dict);
}

static const struct
{
  const char *key;
  const char *type;
} message_keys[] = {
  { "version", "u" },  { "memory", "t" },      { "vcpus", "u" },        { "cpuid-mask", "s" },
  { "boot", "s" },     { "kernel", "h" },      { "initrd", "h" },       { "cmdline", "s" },
  { "firmware", "h" }, { "boot-order", "as" }, { "boot-menu-ms", "u" }, { "devices", "a(ssa{sv})" },
};

/* Maps a handle of the message to one of the spec's own fds (duplicating each message fd once). */
typedef struct
{
  HvMachineSpec *spec;
  const int *fds;
  unsigned n_fds;
  GHashTable *taken; /* message handle + 1 → spec handle + 1 */
} HandleMap;

static gboolean
map_handle (HandleMap *map, gint32 handle, const char *what, int *out, GError **error)
{
  gpointer found;
  int fd;

  if (handle < 0 || (guint) handle >= map->n_fds)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "the machine spec's “%s” is file descriptor %d, but the message carried %u", what, handle,
                   map->n_fds);
      return FALSE;
    }
  found = g_hash_table_lookup (map->taken, GINT_TO_POINTER (handle + 1));
  if (found)
    {
      *out = GPOINTER_TO_INT (found) - 1;
      return TRUE;
    }
  fd = fcntl (map->fds[handle], F_DUPFD_CLOEXEC, 3);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot take the machine spec's “%s”: %s", what,
                   g_strerror (saved));
      return FALSE;
    }
  *out = hv_machine_spec_add_fd (map->spec, fd);
  g_hash_table_insert (map->taken, GINT_TO_POINTER (handle + 1), GINT_TO_POINTER (*out + 1));
  return TRUE;
}

static gboolean
check_message_keys (GVariant *variant, const char *const *ignore, GError **error)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_variant_iter_init (&iter, variant);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr (GVariant) owned = value;
      gsize i;

      if (ignore && g_strv_contains (ignore, key))
        continue;
      for (i = 0; i < G_N_ELEMENTS (message_keys); i++)
        if (strcmp (key, message_keys[i].key) == 0)
          break;
      if (i == G_N_ELEMENTS (message_keys))
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "the machine spec has an unknown key “%s”",
                       key);
          return FALSE;
        }
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE (message_keys[i].type)))
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "the machine spec's “%s” must be of type “%s”, not “%s”", key, message_keys[i].type,
                       g_variant_get_type_string (value));
          return FALSE;
        }
      if (!g_hash_table_add (seen, (gpointer) message_keys[i].key))
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "the machine spec gives “%s” more than once", key);
          return FALSE;
        }
    }
  return TRUE;
}

typedef struct
{
  HandleMap *map;
  const char *id;
} DeviceHandles;

static int
map_device_handle (void *opaque, const char *name, int handle, GError **error)
{
  DeviceHandles *d = opaque;
  g_autofree char *what = g_strdup_printf ("%s.%s", d->id, name);
  int mapped;

  return map_handle (d->map, handle, what, &mapped, error) ? mapped : -1;
}

/* A device's options with every handle mapped to the spec's own (which the spec owns, also on
 * failure). */
static GVariant *
map_device_options (HandleMap *map, const char *id, GVariant *options, GError **error)
{
  DeviceHandles d = { map, id };
  return hv_spec_options_map_fds (options, map_device_handle, NULL, &d, error);
}

HvMachineSpec *
hv_machine_spec_new_from_variant (GVariant *variant, const int *fds, unsigned n_fds,
                                  const char *const *ignore, GError **error)
{
  g_autoptr (HvMachineSpec) spec = hv_machine_spec_new ();
  g_autoptr (GHashTable) taken = g_hash_table_new (NULL, NULL);
  HandleMap map = { spec, fds, n_fds, taken };
  g_autoptr (GVariant) devices = NULL;
  guint32 version = 0, vcpus = spec->vcpus;
  guint64 memory = spec->memory;
  const char *text;
  gint32 handle;
  GVariantIter iter;
  const char *kind, *id;
  GVariant *options;
  char **order;

  if (!g_variant_is_of_type (variant, G_VARIANT_TYPE_VARDICT))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "a machine spec must be of type “a{sv}”, not “%s”", g_variant_get_type_string (variant));
      return NULL;
    }
  if (!check_message_keys (variant, ignore, error))
    return NULL;
  if (!g_variant_lookup (variant, "version", "u", &version))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "the machine spec has no “version”");
      return NULL;
    }
  if (version == 0 || version > HV_SPEC_VERSION)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "the machine spec is version %u; this build reads versions up to %d", version,
                   HV_SPEC_VERSION);
      return NULL;
    }
  g_variant_lookup (variant, "memory", "t", &memory);
  g_variant_lookup (variant, "vcpus", "u", &vcpus);
  spec->memory = memory;
  spec->vcpus = vcpus;
  if (g_variant_lookup (variant, "cpuid-mask", "&s", &text))
    {
      g_free (spec->cpuid_mask);
      spec->cpuid_mask = g_strdup (text);
    }
  if (g_variant_lookup (variant, "cmdline", "&s", &text))
    {
      g_free (spec->cmdline);
      spec->cmdline = g_strdup (text);
    }
  if (g_variant_lookup (variant, "boot", "&s", &text))
    {
      if (strcmp (text, "kernel") == 0)
        spec->boot = HV_BOOT_KERNEL;
      else if (strcmp (text, "firmware") == 0)
        spec->boot = HV_BOOT_FIRMWARE;
      else
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "the machine spec's “boot” is “%s”, not “kernel” or “firmware”", text);
          return NULL;
        }
    }
  if ((g_variant_lookup (variant, "kernel", "h", &handle)
       && !map_handle (&map, handle, "kernel", &spec->kernel, error))
      || (g_variant_lookup (variant, "initrd", "h", &handle)
          && !map_handle (&map, handle, "initrd", &spec->initrd, error))
      || (g_variant_lookup (variant, "firmware", "h", &handle)
          && !map_handle (&map, handle, "firmware", &spec->firmware, error)))
    return NULL;
  if (g_variant_lookup (variant, "boot-order", "^as", &order))
    {
      g_strfreev (spec->boot_order);
      spec->boot_order = order;
    }
  g_variant_lookup (variant, "boot-menu-ms", "u", &spec->boot_menu_ms);
  devices = g_variant_lookup_value (variant, "devices", G_VARIANT_TYPE ("a(ssa{sv})"));
  if (devices)
    {
      if (g_variant_n_children (devices) > HV_SPEC_DEVICES_MAX)
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "the machine spec lists %zu devices; the limit is %d", g_variant_n_children (devices),
                       HV_SPEC_DEVICES_MAX);
          return NULL;
        }
      g_variant_iter_init (&iter, devices);
      while (g_variant_iter_next (&iter, "(&s&s@a{sv})", &kind, &id, &options))
        {
          g_autoptr (GVariant) owned = options;
          GVariant *mapped = map_device_options (&map, id, options, error);
          if (mapped == NULL)
            return NULL;
          hv_machine_spec_add_device (spec, kind, id, mapped);
        }
    }
  return g_steal_pointer (&spec);
}
