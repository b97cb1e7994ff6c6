/* machine-config.c — a machine's settings: defaults, checked updates from a{sv}, validation and the
 * a{sv} form.  The libvirt domain XML form is machine-xml.c. */
#include "machine-config-private.h"
#include "vireo-text.h"
#include "vireo-error.h"
#include "open-as.h"
#include "hv-limits.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME_MAX_BYTES 4096
/* How much of an unknown key an error message repeats. */
#define KEY_SHOWN_MAX   64
#define MEMORY_MIB_MIN  (HV_MEMORY_MIN >> 20)
#define NOTES_MAX_BYTES (64 * 1024)
#define CPUID_MASK_MAX  4096
#define PATH_MAX_BYTES  4095

void
vireo_disk_config_free (VireoDiskConfig *disk)
{
  if (disk == NULL)
    return;
  g_free (disk->path);
  g_free (disk->format);
  g_free (disk->device);
  g_free (disk->bus);
  g_free (disk->target);
  g_free (disk->cache);
  g_free (disk);
}

static void
disk_config_free (gpointer data)
{
  vireo_disk_config_free (data);
}

static void
nic_config_free (gpointer data)
{
  vireo_nic_config_free (data);
}

VireoDiskConfig *
vireo_disk_config_new (const char *path, const char *format, gboolean readonly)
{
  VireoDiskConfig *disk = g_new0 (VireoDiskConfig, 1);

  disk->path = g_strdup (path);
  disk->format = g_strdup (format);
  disk->readonly = readonly;
  disk->device = g_strdup ("disk");
  disk->bus = g_strdup ("virtio");
  disk->cache = g_strdup ("default");
  return disk;
}

VireoDiskConfig *
vireo_disk_config_copy (const VireoDiskConfig *disk)
{
  VireoDiskConfig *copy = vireo_disk_config_new (disk->path, disk->format, disk->readonly);

  take_string (&copy->device, g_strdup (disk->device));
  take_string (&copy->bus, g_strdup (disk->bus));
  copy->target = g_strdup (disk->target);
  copy->boot_order = disk->boot_order;
  take_string (&copy->cache, g_strdup (disk->cache));
  return copy;
}

VireoDiskConfig *
vireo_machine_config_find_disk (const VireoMachineConfig *config, const char *target)
{
  for (guint i = 0; config->disks != NULL && i < config->disks->len; i++)
    {
      VireoDiskConfig *disk = g_ptr_array_index (config->disks, i);
      if (g_strcmp0 (disk->target, target) == 0)
        return disk;
    }
  return NULL;
}

void
vireo_machine_config_assign_targets (VireoMachineConfig *config)
{
  for (guint i = 0; i < config->disks->len; i++)
    {
      VireoDiskConfig *disk = g_ptr_array_index (config->disks, i);
      const char *prefix = g_strcmp0 (disk->bus, "sata") == 0 ? "sd" : "vd";

      if (disk->target != NULL && *disk->target != '\0')
        continue;
      /* DISKS_MAX is below 26: one letter is always enough. */
      for (char letter = 'a'; letter <= 'z'; letter++)
        {
          char target[] = { prefix[0], prefix[1], letter, '\0' };
          if (vireo_machine_config_find_disk (config, target) == NULL)
            {
              take_string (&disk->target, g_strdup (target));
              break;
            }
        }
    }
}

VireoMachineConfig *
vireo_machine_config_new (void)
{
  VireoMachineConfig *config = g_new0 (VireoMachineConfig, 1);

  config->uuid = g_uuid_string_random ();
  /* An empty string rather than NULL, so every field can go into a GVariant or XML as it is. */
  config->name = g_strdup ("");
  config->memory_mib = 512;
  config->vcpus = 1;
  config->boot = g_strdup ("kernel");
  config->kernel = g_strdup ("");
  config->initrd = g_strdup ("");
  config->cmdline = g_strdup ("");
  config->disks = g_ptr_array_new_with_free_func (disk_config_free);
  config->nics = g_ptr_array_new_with_free_func (nic_config_free);
  config->network = g_strdup ("none");
  config->display = FALSE;
  config->boot_menu = FALSE;
  config->cpuid_mask = g_strdup ("");
  config->notes = g_strdup ("");
  config->auto_start = g_strdup ("none");
  config->auto_stop = g_strdup ("save");
  config->checkpoint_kind = g_strdup ("standard");
  config->files_uid = VIREO_OWN_UID;
  return config;
}

VireoMachineConfig *
vireo_machine_config_copy (const VireoMachineConfig *config)
{
  VireoMachineConfig *copy;

  g_return_val_if_fail (config != NULL, NULL);

  copy = g_new0 (VireoMachineConfig, 1);
  copy->uuid = g_strdup (config->uuid);
  copy->name = g_strdup (config->name);
  copy->memory_mib = config->memory_mib;
  copy->vcpus = config->vcpus;
  copy->boot = g_strdup (config->boot);
  copy->kernel = g_strdup (config->kernel);
  copy->initrd = g_strdup (config->initrd);
  copy->cmdline = g_strdup (config->cmdline);
  copy->disks = g_ptr_array_new_with_free_func (disk_config_free);
  for (guint i = 0; config->disks != NULL && i < config->disks->len; i++)
    {
      const VireoDiskConfig *disk = g_ptr_array_index (config->disks, i);
      g_ptr_array_add (copy->disks, vireo_disk_config_copy (disk));
    }
  copy->nics = g_ptr_array_new_with_free_func (nic_config_free);
  for (guint i = 0; config->nics != NULL && i < config->nics->len; i++)
    g_ptr_array_add (copy->nics, vireo_nic_config_copy (g_ptr_array_index (config->nics, i)));
  copy->network = g_strdup (config->network);
  copy->display = config->display;
  copy->boot_menu = config->boot_menu;
  copy->cpuid_mask = g_strdup (config->cpuid_mask);
  copy->notes = g_strdup (config->notes);
  copy->auto_start = g_strdup (config->auto_start);
  copy->auto_stop = g_strdup (config->auto_stop);
  copy->checkpoint_kind = g_strdup (config->checkpoint_kind);
  copy->automatic_checkpoints = config->automatic_checkpoints;
  copy->guest_agent = config->guest_agent;
  copy->files_uid = config->files_uid;
  return copy;
}

void
vireo_machine_config_free (VireoMachineConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->uuid);
  g_free (config->name);
  g_free (config->boot);
  g_free (config->kernel);
  g_free (config->initrd);
  g_free (config->cmdline);
  g_clear_pointer (&config->disks, g_ptr_array_unref);
  g_clear_pointer (&config->nics, g_ptr_array_unref);
  g_free (config->network);
  g_free (config->cpuid_mask);
  g_free (config->notes);
  g_free (config->auto_start);
  g_free (config->auto_stop);
  g_free (config->checkpoint_kind);
  g_free (config);
}

gboolean
vireo_machine_config_is_canonical_uuid (const char *text)
{
  if (text == NULL || strlen (text) != 36 || !g_uuid_string_is_valid (text))
    return FALSE;
  for (const char *p = text; *p != '\0'; p++)
    if (g_ascii_isupper (*p))
      return FALSE;
  return TRUE;
}

/* ---- checks shared by apply_settings, validate and the XML parser ---- */

static char *
quoted_list (const char *const *values)
{
  GString *text = g_string_new (NULL);

  for (guint i = 0; values[i] != NULL; i++)
    g_string_append_printf (text, "%s“%s”", i == 0 ? "" : (values[i + 1] == NULL ? " or " : ", "), values[i]);
  return g_string_free (text, FALSE);
}

/* XML 1.0 cannot carry most control characters (a stored definition would not load back), and none
 * belongs in a name, a path or a command line.  Notes may keep line breaks and tabs. */
static gboolean
check_text (const char *key, const char *value, gsize max_bytes, gboolean multi_line, GError **error)
{
  if (value == NULL || !g_utf8_validate (value, -1, NULL))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT, "Setting “%s” is not valid UTF-8 text.",
                   key);
      return FALSE;
    }
  if (strlen (value) > max_bytes)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “%s” is %zu bytes long; the limit is %zu.", key, strlen (value), max_bytes);
      return FALSE;
    }
  for (const char *p = value; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (multi_line && (c == '\n' || c == '\t'))
        continue;
      if (g_unichar_iscntrl (c) || c == 0xfffe || c == 0xffff)
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                       "Setting “%s” contains a control character (U+%04X).", key, c);
          return FALSE;
        }
    }
  return TRUE;
}

gboolean
vireo_machine_config_check_enum (const char *key, const char *value, const char *const *values,
                                 GError **error)
{
  g_autofree char *allowed = NULL;

  if (string_in (value, values))
    return TRUE;
  allowed = quoted_list (values);
  g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT, "Setting “%s” must be %s, not “%s”.", key,
               allowed, value != NULL ? value : "");
  return FALSE;
}

/* @name is already trimmed. */
static gboolean
check_name (const char *name, GError **error)
{
  glong chars;

  if (!check_text ("name", name, NAME_MAX_BYTES, FALSE, error))
    return FALSE;
  if (*name == '\0')
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                           "Setting “name” may not be empty.");
      return FALSE;
    }
  chars = g_utf8_strlen (name, -1);
  if (chars > NAME_MAX_CHARS)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “name” is %ld characters long; the limit is %d.", chars, NAME_MAX_CHARS);
      return FALSE;
    }
  return TRUE;
}

/* The form of a path; whether the file exists is checked only when a setting changes. */
static gboolean
check_path_text (const char *key, const char *path, GError **error)
{
  if (!check_text (key, path, PATH_MAX_BYTES, FALSE, error))
    return FALSE;
  if (!g_path_is_absolute (path))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “%s” must be an absolute path, not “%s”.", key, path);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_memory_mib (uint64_t mib, uint64_t max_mib, GError **error)
{
  if (mib < MEMORY_MIB_MIN)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “memory-mib”: %" G_GUINT64_FORMAT " MiB is too little; the minimum is %llu MiB.",
                   mib, MEMORY_MIB_MIN);
      return FALSE;
    }
  if (mib > max_mib)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “memory-mib”: %" G_GUINT64_FORMAT
                   " MiB is more than this host has (%" G_GUINT64_FORMAT " MiB).",
                   mib, max_mib);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_vcpus (uint64_t vcpus, GError **error)
{
  if (vcpus < HV_VCPUS_MIN || vcpus > HV_VCPUS_MAX)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “vcpus”: %" G_GUINT64_FORMAT " is out of range; a machine has %d to %d.", vcpus,
                   HV_VCPUS_MIN, HV_VCPUS_MAX);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_cpuid_mask (const char *mask, GError **error)
{
  g_autoptr (GError) local_error = NULL;

  if (!check_text ("cpuid-mask", mask, CPUID_MASK_MAX, FALSE, error))
    return FALSE;
  if (!hv_check_cpuid_mask (mask, &local_error))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT, "Setting “cpuid-mask”: %s.",
                   local_error->message);
      return FALSE;
    }
  return TRUE;
}

/* A target the guest and libvirt agree on: "vd" (virtio) or "sd" (SATA) and one or two letters. */
gboolean
vireo_disk_target_fits_bus (const char *target, const char *bus)
{
  const char *prefix = strcmp (bus, "sata") == 0 ? "sd" : "vd";
  size_t len = strlen (target);

  if (!g_str_has_prefix (target, prefix) || len < 3 || len > 4)
    return FALSE;
  for (size_t i = 2; i < len; i++)
    if (target[i] < 'a' || target[i] > 'z')
      return FALSE;
  return TRUE;
}

/* One disk on its own (whether its file opens is checked when a setting names it). */
static gboolean
check_disk (const VireoDiskConfig *disk, guint index, GError **error)
{
  gboolean cdrom = g_strcmp0 (disk->device, "cdrom") == 0;

  if (!vireo_machine_config_check_enum ("disks", disk->format, format_values, error)
      || !vireo_machine_config_check_enum ("disks", disk->device, disk_device_values, error)
      || !vireo_machine_config_check_enum ("disks", disk->bus, disk_bus_values, error)
      || !vireo_machine_config_check_enum ("disks", disk->cache, disk_cache_values, error))
    return FALSE;
  if (!(cdrom && *disk->path == '\0') && !check_path_text ("disks", disk->path, error))
    return FALSE;
  if (cdrom && (!disk->readonly || strcmp (disk->bus, "sata") != 0))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “disks”: disk %u is a CD-ROM, which is read-only and on the “sata” bus.",
                   index + 1);
      return FALSE;
    }
  if (disk->target == NULL || !vireo_disk_target_fits_bus (disk->target, disk->bus))
    {
      g_autofree char *shown = vireo_text_for_message (disk->target != NULL ? disk->target : "",
                                                       KEY_SHOWN_MAX);
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “disks”: the target “%s” of disk %u does not fit its bus “%s” (use “%s” and a "
                   "letter, or leave it out).",
                   shown, index + 1, disk->bus, strcmp (disk->bus, "sata") == 0 ? "sd" : "vd");
      return FALSE;
    }
  if (disk->boot_order > DISKS_MAX)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “disks”: the boot order %u of disk %u is out of range (0 to %d).",
                   disk->boot_order, index + 1, DISKS_MAX);
      return FALSE;
    }
  return TRUE;
}

gboolean
vireo_machine_config_validate (const VireoMachineConfig *config, GError **error)
{
  g_autoptr (GHashTable) paths = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *trimmed = NULL;

  g_return_val_if_fail (config != NULL, FALSE);

  if (!vireo_machine_config_is_canonical_uuid (config->uuid))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT, "“%s” is not a UUID in canonical form.",
                   config->uuid != NULL ? config->uuid : "");
      return FALSE;
    }
  if (config->name == NULL || !g_utf8_validate (config->name, -1, NULL))
    return check_name (NULL, error);
  trimmed = vireo_utf8_strip (config->name);
  if (!check_name (trimmed, error))
    return FALSE;
  if (strcmp (trimmed, config->name) != 0)
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                           "Setting “name” may not begin or end with white space.");
      return FALSE;
    }
  if (!check_memory_mib (config->memory_mib, MEMORY_MIB_MAX, error) || !check_vcpus (config->vcpus, error)
      || !vireo_machine_config_check_enum ("boot", config->boot, boot_values, error)
      || !vireo_machine_config_check_enum ("network", config->network, network_values, error)
      || !vireo_machine_config_check_enum ("auto-start", config->auto_start, auto_start_values, error)
      || !vireo_machine_config_check_enum ("auto-stop", config->auto_stop, auto_stop_values, error)
      || !check_cpuid_mask (config->cpuid_mask, error)
      || !check_text ("notes", config->notes, NOTES_MAX_BYTES, TRUE, error)
      || !check_text ("cmdline", config->cmdline, HV_CMDLINE_MAX - 1, FALSE, error)
      || !check_text ("kernel", config->kernel, PATH_MAX_BYTES, FALSE, error)
      || !check_text ("initrd", config->initrd, PATH_MAX_BYTES, FALSE, error))
    return FALSE;
  if (*config->kernel != '\0' && !check_path_text ("kernel", config->kernel, error))
    return FALSE;
  if (*config->initrd != '\0' && !check_path_text ("initrd", config->initrd, error))
    return FALSE;

  if (config->disks == NULL || config->disks->len > DISKS_MAX)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “disks”: a machine has at most %d disks.", DISKS_MAX);
      return FALSE;
    }
  for (guint i = 0; i < config->disks->len; i++)
    {
      const VireoDiskConfig *disk = g_ptr_array_index (config->disks, i);

      if (!check_disk (disk, i, error))
        return FALSE;
      if (*disk->path != '\0' && !g_hash_table_add (paths, g_canonicalize_filename (disk->path, NULL)))
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT, "Setting “disks” names “%s” twice.",
                       disk->path);
          return FALSE;
        }
      for (guint j = 0; j < i; j++)
        {
          const VireoDiskConfig *other = g_ptr_array_index (config->disks, j);
          if (strcmp (other->target, disk->target) == 0)
            {
              g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                           "Setting “disks”: two disks have the target “%s”.", disk->target);
              return FALSE;
            }
          if (disk->boot_order != 0 && other->boot_order == disk->boot_order)
            {
              g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                           "Setting “disks”: disks “%s” and “%s” both have boot order %u.", other->target,
                           disk->target, disk->boot_order);
              return FALSE;
            }
        }
    }

  if (!vireo_machine_config_check_nics (config, error))
    return FALSE;
  if ((config->nics->len > 0) != (strcmp (config->network, "nat") == 0))
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                           "Setting “network” must be “nat” when the machine has NICs and “none” otherwise.");
      return FALSE;
    }

  {
    /* The machine as the core will see it, checked as the core checks it (files come at Start). */
    /* SATA disks and CD-ROMs are left out while this build's core has no AHCI: such a machine is
     * defined, and Start says what is missing. */
    g_autoptr (HvMachineSpec) spec = vireo_machine_config_to_spec (config);
    g_autoptr (GError) local = NULL;

    if (!hv_machine_spec_check (spec, HV_SPEC_CHECK_WITHOUT_FDS | HV_SPEC_CHECK_ANY_HOST, &local))
      {
        g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT, "The machine cannot be built: %s.",
                     local->message);
        return FALSE;
      }
  }
  if (strcmp (config->boot, "kernel") == 0 && *config->kernel == '\0')
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                           "Setting “kernel” is required when “boot” is “kernel”.");
      return FALSE;
    }
  if (strcmp (config->boot, "disk") == 0 && config->disks->len == 0)
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                           "Setting “disks” needs at least one disk when “boot” is “disk”.");
      return FALSE;
    }
  return TRUE;
}

static gint
compare_boot_order (gconstpointer a, gconstpointer b)
{
  const VireoDiskConfig *x = *(const VireoDiskConfig *const *) a;
  const VireoDiskConfig *y = *(const VireoDiskConfig *const *) b;
  return x->boot_order < y->boot_order ? -1 : x->boot_order > y->boot_order;
}

/* The spec's boot order: the drives the definition gives a boot order, by their targets (the spec's
 * device ids), first to last; with none marked, hard disks and then CD-ROMs as the definition lists them. */
static char **
boot_order_of (const VireoMachineConfig *config)
{
  g_autoptr (GPtrArray) ordered = g_ptr_array_new ();
  g_autoptr (GStrvBuilder) order = g_strv_builder_new ();

  for (guint i = 0; i < config->disks->len; i++)
    {
      VireoDiskConfig *disk = g_ptr_array_index (config->disks, i);
      if (disk->boot_order != 0)
        g_ptr_array_add (ordered, disk);
    }
  g_ptr_array_sort (ordered, compare_boot_order);
  for (guint i = 0; i < ordered->len; i++)
    g_strv_builder_add (order, ((const VireoDiskConfig *) g_ptr_array_index (ordered, i))->target);
  if (ordered->len == 0)
    g_strv_builder_add_many (order, "disk", "cdrom", NULL);
  return g_strv_builder_end (order);
}

/* The core's device kind for a disk: virtio-blk, or on SATA the AHCI controller's sata-disk and cdrom. */
static const char *
disk_kind (const VireoDiskConfig *disk)
{
  if (strcmp (disk->device, "cdrom") == 0)
    return "cdrom";
  return strcmp (disk->bus, "sata") == 0 ? "sata-disk" : "virtio-blk";
}

HvMachineSpec *
vireo_machine_config_to_spec (const VireoMachineConfig *config)
{
  HvMachineSpec *spec = hv_machine_spec_new ();

  spec->memory = config->memory_mib << 20;
  spec->vcpus = config->vcpus;
  g_free (spec->cpuid_mask);
  spec->cpuid_mask = g_strdup (config->cpuid_mask);
  g_free (spec->cmdline);
  spec->cmdline = g_strdup (config->cmdline);
  if (g_strcmp0 (config->boot, "disk") == 0)
    {
      spec->boot = HV_BOOT_FIRMWARE;
      g_strfreev (spec->boot_order);
      spec->boot_order = boot_order_of (config);
      spec->boot_menu_ms = config->boot_menu ? VIREO_BOOT_MENU_MS : 0;
    }
  /* COM1 always: its host side is the worker's serial console. */
  hv_machine_spec_add_device (spec, "serial", "serial0", NULL);
  /* Disks in the definition's order, each under its target as id ("vda", "sda"): vireod adds each
   * image and its chain of backing files as fds when it starts the machine. */
  for (guint i = 0; config->disks && i < config->disks->len; i++)
    {
      const VireoDiskConfig *disk = g_ptr_array_index (config->disks, i);
      const char *kind = disk_kind (disk);
      GVariantDict options;

      g_variant_dict_init (&options, NULL);
      /* An empty CD-ROM drive has neither file nor format. */
      if (disk->format && *disk->path != '\0')
        g_variant_dict_insert (&options, "format", "s", disk->format);
      /* A CD-ROM is read-only by nature and reads through the page cache: the kind has neither option. */
      if (disk->readonly && strcmp (kind, "cdrom") != 0)
        g_variant_dict_insert (&options, "read-only", "b", TRUE);
      if (disk->cache && strcmp (disk->cache, "default") != 0 && strcmp (kind, "cdrom") != 0)
        g_variant_dict_insert (&options, "cache", "s", disk->cache);
      hv_machine_spec_add_device (spec, kind, disk->target, g_variant_dict_end (&options));
    }
  vireo_machine_config_add_nics_to_spec (config, spec);
  /* No fd: the worker makes the host end of the agent's port itself. */
  if (config->guest_agent)
    hv_machine_spec_add_device (spec, "virtio-serial", VIREO_GUEST_AGENT_DEVICE,
                                g_variant_new_parsed ("{'ports': <%s>}", VIREO_GUEST_AGENT_PORT));
  if (config->display)
    {
      hv_machine_spec_add_device (spec, "bochs-display", "display0", NULL);
      hv_machine_spec_add_device (spec, "virtio-keyboard", "keyboard0", NULL);
      hv_machine_spec_add_device (spec, "virtio-tablet", "tablet0", NULL);
    }
  return spec;
}

/* ---- files named by settings ---- */

static char *storage_root;

void
vireo_machine_config_set_storage_root (const char *root)
{
  g_free (storage_root);
  storage_root = root != NULL ? realpath (root, NULL) : NULL;
}

gboolean
vireo_machine_config_in_own_folder (const VireoMachineConfig *config, const char *path)
{
  g_autofree char *canonical = NULL;
  g_autofree char *parent = NULL;
  g_autofree char *parent_real = NULL;
  g_autofree char *folder = NULL;
  g_autofree char *base = NULL;

  if (storage_root == NULL || path == NULL || !g_path_is_absolute (path)
      || !vireo_machine_config_is_canonical_uuid (config->uuid))
    return FALSE;
  canonical = g_canonicalize_filename (path, NULL);
  parent = g_path_get_dirname (canonical);
  base = g_path_get_basename (canonical);
  parent_real = realpath (parent, NULL);
  folder = g_build_filename (storage_root, config->uuid, NULL);
  /* Never the definition (nor its temporary copies), the saved state, or an import in progress:
   * images only. */
  return parent_real != NULL && strcmp (parent_real, folder) == 0 && *base != '.' && *base != '/'
         && !g_str_has_prefix (base, "machine.xml") && strcmp (base, "state") != 0;
}

int
vireo_machine_config_open_image (const VireoMachineConfig *config, const char *path, int flags)
{
  g_autofree char *folder = NULL;
  g_autofree char *base = NULL;
  int dir_fd, fd, saved;

  if (!vireo_machine_config_in_own_folder (config, path))
    return vireo_open_as (config->files_uid, path, flags);
  folder = g_build_filename (storage_root, config->uuid, NULL);
  base = g_path_get_basename (path);
  dir_fd = open (folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir_fd < 0)
    return -1;
  fd = openat (dir_fd, base, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  saved = errno;
  close (dir_fd);
  errno = saved;
  return fd;
}

/* Opens a file a setting names, with the rights of user @uid (open-as.h), and checks that it can serve,
 * with the error a user can act on.  Returns the descriptor, or -1. */
static int
open_setting_file (const char *key, const char *path, gboolean writable, const VireoMachineConfig *config,
                   gboolean image, GError **error)
{
  struct stat st;
  int fd;

  if (!check_path_text (key, path, error))
    return -1;
  /* Without blocking (vireo_open_as): a FIFO put where an image was expected must not hang the service. */
  fd = image ? vireo_machine_config_open_image (config, path, O_RDONLY)
             : vireo_open_as (config->files_uid, path, O_RDONLY);
  if (fd < 0)
    {
      int saved_errno = errno;

      if (saved_errno == ENOENT || saved_errno == ENOTDIR)
        g_set_error (error, VIREO_ERROR, VIREO_ERROR_NOT_FOUND, "Setting “%s”: “%s” does not exist.", key,
                     path);
      else if (saved_errno == EACCES || saved_errno == EPERM)
        g_set_error (error, VIREO_ERROR, VIREO_ERROR_PERMISSION_DENIED,
                     "Setting “%s”: “%s” cannot be read (permission denied).", key, path);
      else
        g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "Setting “%s”: cannot open “%s”: %s.", key, path,
                     g_strerror (saved_errno));
      return -1;
    }
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “%s”: “%s” is not a regular file.", key, path);
      close (fd);
      return -1;
    }
  if (writable)
    {
      int write_fd = image ? vireo_machine_config_open_image (config, path, O_WRONLY)
                           : vireo_open_as (config->files_uid, path, O_WRONLY);
      int saved_errno = errno;

      if (write_fd >= 0)
        close (write_fd);
      else if (saved_errno == EACCES || saved_errno == EPERM || saved_errno == EROFS)
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_PERMISSION_DENIED,
                       "Setting “%s”: “%s” cannot be written; make it writable or mark the disk read-only.",
                       key, path);
          close (fd);
          return -1;
        }
    }
  return fd;
}

static gboolean
check_setting_file (const char *key, const char *path, const VireoMachineConfig *config, GError **error)
{
  int fd = open_setting_file (key, path, FALSE, config, FALSE, error);

  if (fd < 0)
    return FALSE;
  close (fd);
  return TRUE;
}

static gboolean
check_files (const VireoMachineConfig *config, gboolean trust_own_folder, GError **error)
{
  if (*config->kernel != '\0' && !check_setting_file ("kernel", config->kernel, config, error))
    return FALSE;
  if (*config->initrd != '\0' && !check_setting_file ("initrd", config->initrd, config, error))
    return FALSE;
  for (guint i = 0; config->disks && i < config->disks->len; i++)
    {
      const VireoDiskConfig *disk = g_ptr_array_index (config->disks, i);
      int fd;

      if (*disk->path == '\0')
        continue;
      fd = open_setting_file ("disks", disk->path, !disk->readonly, config, trust_own_folder, error);
      if (fd < 0)
        return FALSE;
      close (fd);
    }
  return TRUE;
}

gboolean
vireo_machine_config_check_files (const VireoMachineConfig *config, GError **error)
{
  return check_files (config, TRUE, error);
}

gboolean
vireo_machine_config_check_imported_files (const VireoMachineConfig *config, GError **error)
{
  return check_files (config, FALSE, error);
}

/* Whether the definition already names @path as a disk: only then may an image in the machine's own
 * folder be opened with vireod's rights for a caller.  A folder may hold images of an earlier machine
 * of the same UUID (deleted, its disks kept) that the caller must not reach. */
static gboolean
definition_names (const VireoMachineConfig *config, const char *path)
{
  g_autofree char *canonical = g_canonicalize_filename (path, NULL);

  for (guint i = 0; config->disks && i < config->disks->len; i++)
    {
      const VireoDiskConfig *disk = g_ptr_array_index (config->disks, i);
      g_autofree char *other = g_canonicalize_filename (disk->path, NULL);
      if (*disk->path != '\0' && strcmp (other, canonical) == 0)
        return TRUE;
    }
  return FALSE;
}

/* What the image really is, whatever its name says: a raw image declared qcow2 would not open, and
 * a qcow2 image declared raw would hand the guest the image's metadata. */
static gboolean
read_image_format (int fd, const char *path, const char **format, GError **error)
{
  unsigned char magic[4];
  ssize_t n;

  do
    n = pread (fd, magic, sizeof magic, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "Setting “disks”: cannot read “%s”: %s.", path,
                   g_strerror (errno));
      return FALSE;
    }
  *format = n == (ssize_t) sizeof magic && memcmp (magic, "QFI\xfb", 4) == 0 ? "qcow2" : "raw";
  return TRUE;
}

/* ---- apply_settings ---- */

typedef struct _SettingInfo SettingInfo;
typedef gboolean (*SettingApply) (VireoMachineConfig *config, const SettingInfo *info, GVariant *value,
                                  GError **error);

struct _SettingInfo
{
  const char *key;
  const char *type;
  SettingApply apply;
  size_t offset;             /* of the char * field, for string settings */
  const char *const *values; /* for enumerations */
  gboolean while_running;    /* may change while the machine runs */
};

static void
replace_string (VireoMachineConfig *config, const SettingInfo *info, const char *value)
{
  take_string (G_STRUCT_MEMBER_P (config, info->offset), g_strdup (value));
}

static gboolean
apply_name (VireoMachineConfig *config, const SettingInfo *info, GVariant *value, GError **error)
{
  const char *name = g_variant_get_string (value, NULL);
  g_autofree char *trimmed = NULL;

  /* Surrounding tabs and line breaks are trimmed away; inside the name they are refused below. */
  if (!check_text ("name", name, NAME_MAX_BYTES, TRUE, error))
    return FALSE;
  trimmed = vireo_utf8_strip (name);
  if (!check_name (trimmed, error))
    return FALSE;
  replace_string (config, info, trimmed);
  return TRUE;
}

static gboolean
apply_enum (VireoMachineConfig *config, const SettingInfo *info, GVariant *value, GError **error)
{
  const char *text = g_variant_get_string (value, NULL);

  if (!vireo_machine_config_check_enum (info->key, text, info->values, error))
    return FALSE;
  replace_string (config, info, text);
  return TRUE;
}

static gboolean
apply_memory (VireoMachineConfig *config, const SettingInfo *info, GVariant *value, GError **error)
{
  uint64_t mib = g_variant_get_uint64 (value);

  if (!check_memory_mib (mib, MIN (hv_host_memory_limit () >> 20, MEMORY_MIB_MAX), error))
    return FALSE;
  config->memory_mib = mib;
  return TRUE;
}

static gboolean
apply_vcpus (VireoMachineConfig *config, const SettingInfo *info, GVariant *value, GError **error)
{
  guint32 vcpus = g_variant_get_uint32 (value);

  if (!check_vcpus (vcpus, error))
    return FALSE;
  config->vcpus = vcpus;
  return TRUE;
}

/* kernel and initrd: "" clears the setting; anything else must be a readable file. */
static gboolean
apply_boot_file (VireoMachineConfig *config, const SettingInfo *info, GVariant *value, GError **error)
{
  const char *path = g_variant_get_string (value, NULL);

  if (*path != '\0' && !check_setting_file (info->key, path, config, error))
    return FALSE;
  replace_string (config, info, path);
  return TRUE;
}

static gboolean
apply_cmdline (VireoMachineConfig *config, const SettingInfo *info, GVariant *value, GError **error)
{
  const char *cmdline = g_variant_get_string (value, NULL);

  if (!check_text (info->key, cmdline, HV_CMDLINE_MAX - 1, FALSE, error))
    return FALSE;
  replace_string (config, info, cmdline);
  return TRUE;
}

static gboolean
apply_notes (VireoMachineConfig *config, const SettingInfo *info, GVariant *value, GError **error)
{
  const char *notes = g_variant_get_string (value, NULL);

  if (!check_text (info->key, notes, NOTES_MAX_BYTES, TRUE, error))
    return FALSE;
  replace_string (config, info, notes);
  return TRUE;
}

static gboolean
apply_cpuid_mask (VireoMachineConfig *config, const SettingInfo *info, GVariant *value, GError **error)
{
  const char *mask = g_variant_get_string (value, NULL);

  if (!check_cpuid_mask (mask, error))
    return FALSE;
  replace_string (config, info, mask);
  return TRUE;
}

static gboolean
apply_display (VireoMachineConfig *config, const SettingInfo *info, GVariant *value, GError **error)
{
  config->display = g_variant_get_boolean (value);
  return TRUE;
}

static gboolean
apply_automatic_checkpoints (VireoMachineConfig *config, const SettingInfo *info, GVariant *value,
                             GError **error)
{
  config->automatic_checkpoints = g_variant_get_boolean (value);
  return TRUE;
}

static gboolean
apply_guest_agent (VireoMachineConfig *config, const SettingInfo *info, GVariant *value, GError **error)
{
  config->guest_agent = g_variant_get_boolean (value);
  return TRUE;
}

static gboolean
apply_boot_menu (VireoMachineConfig *config, const SettingInfo *info, GVariant *value, GError **error)
{
  config->boot_menu = g_variant_get_boolean (value);
  return TRUE;
}

gboolean
vireo_machine_config_check_entry_keys (GVariant *entry, const VireoEntryKey *keys, guint n_keys,
                                       const char *setting, const char *item, guint index, GError **error)
{
  GVariantIter iter;
  const char *key;
  GVariant *value;

  if (!g_variant_is_of_type (entry, G_VARIANT_TYPE_VARDICT))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “%s”: %s %u must be a dictionary of type “a{sv}”.", setting, item, index + 1);
      return FALSE;
    }
  g_variant_iter_init (&iter, entry);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr (GVariant) owned = value;
      const char *type = NULL;

      for (guint i = 0; i < n_keys; i++)
        if (strcmp (key, keys[i].key) == 0)
          type = keys[i].type;
      if (type == NULL)
        {
          g_autofree char *shown = vireo_text_for_message (key, KEY_SHOWN_MAX);
          g_autoptr (GString) known = g_string_new (NULL);

          for (guint i = 0; i < n_keys; i++)
            g_string_append_printf (known, "%s“%s”", i == 0 ? "" : ", ", keys[i].key);
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                       "Setting “%s”: %s %u has an unknown key “%s” (known: %s).", setting, item, index + 1,
                       shown, known->str);
          return FALSE;
        }
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE (type)))
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                       "Setting “%s”: “%s” of %s %u must be of type “%s”, not “%s”.", setting, key, item,
                       index + 1, type, g_variant_get_type_string (value));
          return FALSE;
        }
    }
  return TRUE;
}

static const VireoEntryKey disk_keys[] = {
  { "path", "s" }, { "format", "s" }, { "readonly", "b" },   { "device", "s" },
  { "bus", "s" },  { "target", "s" }, { "boot-order", "u" }, { "cache", "s" },
};

VireoDiskConfig *
vireo_disk_config_parse (const VireoMachineConfig *config, GVariant *entry, guint index, GError **error)
{
  g_autoptr (GVariantDict) dict = NULL;
  g_autoptr (VireoDiskConfig) disk = NULL;
  const char *format = NULL;
  const char *actual = "raw";
  const char *text;
  gboolean cdrom;
  int fd;

  if (!vireo_machine_config_check_entry_keys (entry, disk_keys, G_N_ELEMENTS (disk_keys), "disks", "disk",
                                              index, error))
    return NULL;
  dict = g_variant_dict_new (entry);

  disk = vireo_disk_config_new (NULL, NULL, FALSE);
  if (g_variant_dict_lookup (dict, "device", "&s", &text))
    take_string (&disk->device, g_strdup (text));
  if (!vireo_machine_config_check_enum ("disks", disk->device, disk_device_values, error))
    return NULL;
  cdrom = strcmp (disk->device, "cdrom") == 0;
  /* A CD-ROM is read-only on SATA whether or not the caller says so; saying otherwise is refused. */
  disk->readonly = cdrom;
  if (cdrom)
    take_string (&disk->bus, g_strdup ("sata"));
  if (!g_variant_dict_lookup (dict, "path", "s", &disk->path))
    {
      if (!cdrom)
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                       "Setting “disks”: disk %u has no “path”.", index + 1);
          return NULL;
        }
      disk->path = g_strdup ("");
    }
  g_variant_dict_lookup (dict, "readonly", "b", &disk->readonly);
  g_variant_dict_lookup (dict, "boot-order", "u", &disk->boot_order);
  if (g_variant_dict_lookup (dict, "bus", "&s", &text))
    take_string (&disk->bus, g_strdup (text));
  if (g_variant_dict_lookup (dict, "cache", "&s", &text))
    take_string (&disk->cache, g_strdup (text));
  if (g_variant_dict_lookup (dict, "target", "&s", &text) && *text != '\0')
    disk->target = g_strdup (text);
  g_variant_dict_lookup (dict, "format", "&s", &format);
  if ((format != NULL && !vireo_machine_config_check_enum ("disks", format, format_values, error))
      || !vireo_machine_config_check_enum ("disks", disk->bus, disk_bus_values, error)
      || !vireo_machine_config_check_enum ("disks", disk->cache, disk_cache_values, error))
    return NULL;
  if (cdrom && (!disk->readonly || strcmp (disk->bus, "sata") != 0))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “disks”: disk %u is a CD-ROM, which is read-only and on the “sata” bus.",
                   index + 1);
      return NULL;
    }

  if (*disk->path != '\0')
    {
      fd = open_setting_file ("disks", disk->path, !disk->readonly, config,
                              definition_names (config, disk->path), error);
      if (fd < 0)
        return NULL;
      if (!read_image_format (fd, disk->path, &actual, error))
        {
          close (fd);
          return NULL;
        }
      close (fd);
    }
  if (format != NULL && strcmp (format, actual) != 0)
    {
      if (strcmp (actual, "qcow2") == 0)
        g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                     "Setting “disks”: “%s” is a qcow2 image, not raw; set its format to “qcow2”.",
                     disk->path);
      else
        g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                     "Setting “disks”: “%s” is not a qcow2 image (it has no qcow2 header); set its format "
                     "to “raw”.",
                     disk->path);
      return NULL;
    }
  disk->format = g_strdup (actual);
  return g_steal_pointer (&disk);
}

static gboolean
apply_disks (VireoMachineConfig *config, const SettingInfo *info, GVariant *value, GError **error)
{
  g_autoptr (GPtrArray) disks = g_ptr_array_new_with_free_func (disk_config_free);
  gsize n = g_variant_n_children (value);

  if (n > DISKS_MAX)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “disks” lists %zu disks; a machine has at most %d.", n, DISKS_MAX);
      return FALSE;
    }
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr (GVariant) entry = g_variant_get_child_value (value, i);
      VireoDiskConfig *disk = vireo_disk_config_parse (config, entry, (guint) i, error);

      if (disk == NULL)
        return FALSE;
      g_ptr_array_add (disks, disk);
    }
  g_clear_pointer (&config->disks, g_ptr_array_unref);
  config->disks = g_steal_pointer (&disks);
  vireo_machine_config_assign_targets (config);
  return TRUE;
}

static gboolean
apply_nics (VireoMachineConfig *config, const SettingInfo *info, GVariant *value, GError **error)
{
  g_autoptr (GPtrArray) nics = g_ptr_array_new_with_free_func (nic_config_free);
  gsize n = g_variant_n_children (value);

  if (n > VIREO_NICS_MAX)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “nics” lists %zu NICs; a machine has at most %d.", n, VIREO_NICS_MAX);
      return FALSE;
    }
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr (GVariant) entry = g_variant_get_child_value (value, i);
      VireoNicConfig *nic = vireo_nic_config_parse (entry, (guint) i, error);

      if (nic == NULL)
        return FALSE;
      /* A NIC given without a MAC at the position of one that had a MAC keeps it: the guest sees the
       * same adapter after an update that changed only, say, its switch. */
      if (nic->mac == NULL && i < config->nics->len)
        {
          const VireoNicConfig *old = g_ptr_array_index (config->nics, i);
          nic->mac = g_strdup (old->mac);
        }
      g_ptr_array_add (nics, nic);
    }
  g_clear_pointer (&config->nics, g_ptr_array_unref);
  config->nics = g_steal_pointer (&nics);
  vireo_machine_config_assign_macs (config);
  vireo_machine_config_sync_network (config);
  return TRUE;
}

/* The shorthand (applied only when "nics" is not given too): "nat" keeps the NICs there are, or makes one
 * on the Default Switch; "none" removes them. */
static gboolean
apply_network (VireoMachineConfig *config, const SettingInfo *info, GVariant *value, GError **error)
{
  const char *text = g_variant_get_string (value, NULL);

  if (!vireo_machine_config_check_enum (info->key, text, info->values, error))
    return FALSE;
  if (strcmp (text, "none") == 0)
    g_ptr_array_set_size (config->nics, 0);
  else if (config->nics->len == 0)
    {
      g_ptr_array_add (config->nics, vireo_nic_config_new (NULL, VIREO_DEFAULT_SWITCH));
      vireo_machine_config_assign_macs (config);
    }
  vireo_machine_config_sync_network (config);
  return TRUE;
}

static const SettingInfo settings_info[] = {
  { "name", "s", apply_name, STRING_FIELD (name), NULL, TRUE },
  { "memory-mib", "t", apply_memory, 0, NULL, FALSE },
  { "vcpus", "u", apply_vcpus, 0, NULL, FALSE },
  { "boot", "s", apply_enum, STRING_FIELD (boot), boot_values, FALSE },
  { "kernel", "s", apply_boot_file, STRING_FIELD (kernel), NULL, FALSE },
  { "initrd", "s", apply_boot_file, STRING_FIELD (initrd), NULL, FALSE },
  { "cmdline", "s", apply_cmdline, STRING_FIELD (cmdline), NULL, FALSE },
  { "disks", "aa{sv}", apply_disks, 0, NULL, FALSE },
  { "nics", "aa{sv}", apply_nics, 0, NULL, FALSE },
  { "network", "s", apply_network, STRING_FIELD (network), network_values, FALSE },
  { "display", "b", apply_display, 0, NULL, FALSE },
  { "boot-menu", "b", apply_boot_menu, 0, NULL, FALSE },
  { "cpuid-mask", "s", apply_cpuid_mask, STRING_FIELD (cpuid_mask), NULL, FALSE },
  { "notes", "s", apply_notes, STRING_FIELD (notes), NULL, TRUE },
  { "auto-start", "s", apply_enum, STRING_FIELD (auto_start), auto_start_values, TRUE },
  { "auto-stop", "s", apply_enum, STRING_FIELD (auto_stop), auto_stop_values, TRUE },
  { "checkpoint-kind", "s", apply_enum, STRING_FIELD (checkpoint_kind), checkpoint_kind_values, TRUE },
  { "automatic-checkpoints", "b", apply_automatic_checkpoints, 0, NULL, TRUE },
  { "guest-agent", "b", apply_guest_agent, 0, NULL, FALSE },
};

static const SettingInfo *
find_setting (const char *key)
{
  for (guint i = 0; i < G_N_ELEMENTS (settings_info); i++)
    if (strcmp (settings_info[i].key, key) == 0)
      return &settings_info[i];
  return NULL;
}

gboolean
vireo_machine_config_apply_settings (VireoMachineConfig *config, GVariant *settings, gboolean creating,
                                     GError **error)
{
  g_autoptr (VireoMachineConfig) copy = NULL;
  VireoMachineConfig swap;
  GVariantIter iter;
  const char *key;
  GVariant *value;
  gboolean has_name = FALSE;
  gboolean has_nics;
  g_autoptr (GVariant) nics_value = NULL;

  g_return_val_if_fail (config != NULL, FALSE);

  if (settings == NULL || !g_variant_is_of_type (settings, G_VARIANT_TYPE_VARDICT))
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                           "Settings must be a dictionary of type “a{sv}”.");
      return FALSE;
    }

  has_nics = (nics_value = g_variant_lookup_value (settings, "nics", NULL)) != NULL;
  /* Work on a copy so that a failure halfway leaves @config as it was. */
  copy = vireo_machine_config_copy (config);
  g_variant_iter_init (&iter, settings);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr (GVariant) owned = value;
      const SettingInfo *info = find_setting (key);

      if (info == NULL)
        {
          g_autofree char *shown = vireo_text_for_message (key, KEY_SHOWN_MAX);
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT, "“%s” is not a setting.", shown);
          return FALSE;
        }
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE (info->type)))
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                       "Setting “%s” must be of type “%s”, not “%s”.", key, info->type,
                       g_variant_get_type_string (value));
          return FALSE;
        }
      /* Both given: the NICs say more than the shorthand. */
      if (strcmp (key, "network") == 0 && has_nics)
        continue;
      if (!info->apply (copy, info, value, error))
        return FALSE;
      has_name |= strcmp (key, "name") == 0;
    }
  if (creating && !has_name)
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                           "Setting “name” is required for a new machine.");
      return FALSE;
    }
  if (!vireo_machine_config_validate (copy, error))
    return FALSE;

  swap = *config;
  *config = *copy;
  *copy = swap;
  return TRUE;
}

char *
vireo_machine_config_keys_needing_off (GVariant *settings)
{
  GString *keys = NULL;
  GVariantIter iter;
  const char *key;

  g_return_val_if_fail (settings != NULL && g_variant_is_of_type (settings, G_VARIANT_TYPE_VARDICT), NULL);

  g_variant_iter_init (&iter, settings);
  while (g_variant_iter_next (&iter, "{&sv}", &key, NULL))
    {
      const SettingInfo *info = find_setting (key);

      if (info != NULL && info->while_running)
        continue;
      if (keys == NULL)
        keys = g_string_new (NULL);
      else
        g_string_append (keys, ", ");
      g_string_append (keys, key);
    }
  return keys != NULL ? g_string_free (keys, FALSE) : NULL;
}

GVariant *
vireo_machine_config_to_settings (const VireoMachineConfig *config)
{
  GVariantBuilder builder;
  GVariantBuilder disks;

  g_return_val_if_fail (config != NULL, NULL);

  g_variant_builder_init (&disks, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; i < config->disks->len; i++)
    {
      const VireoDiskConfig *disk = g_ptr_array_index (config->disks, i);

      g_variant_builder_open (&disks, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&disks, "{sv}", "path", g_variant_new_string (disk->path));
      g_variant_builder_add (&disks, "{sv}", "format", g_variant_new_string (disk->format));
      g_variant_builder_add (&disks, "{sv}", "readonly", g_variant_new_boolean (disk->readonly));
      g_variant_builder_add (&disks, "{sv}", "device", g_variant_new_string (disk->device));
      g_variant_builder_add (&disks, "{sv}", "bus", g_variant_new_string (disk->bus));
      g_variant_builder_add (&disks, "{sv}", "target",
                             g_variant_new_string (disk->target ? disk->target : ""));
      g_variant_builder_add (&disks, "{sv}", "boot-order", g_variant_new_uint32 (disk->boot_order));
      g_variant_builder_add (&disks, "{sv}", "cache", g_variant_new_string (disk->cache));
      g_variant_builder_close (&disks);
    }

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "name", g_variant_new_string (config->name));
  g_variant_builder_add (&builder, "{sv}", "memory-mib", g_variant_new_uint64 (config->memory_mib));
  g_variant_builder_add (&builder, "{sv}", "vcpus", g_variant_new_uint32 (config->vcpus));
  g_variant_builder_add (&builder, "{sv}", "boot", g_variant_new_string (config->boot));
  g_variant_builder_add (&builder, "{sv}", "kernel", g_variant_new_string (config->kernel));
  g_variant_builder_add (&builder, "{sv}", "initrd", g_variant_new_string (config->initrd));
  g_variant_builder_add (&builder, "{sv}", "cmdline", g_variant_new_string (config->cmdline));
  g_variant_builder_add (&builder, "{sv}", "disks", g_variant_builder_end (&disks));
  g_variant_builder_add (&builder, "{sv}", "nics", vireo_machine_config_nics_to_variant (config));
  g_variant_builder_add (&builder, "{sv}", "network",
                         g_variant_new_string (config->nics->len > 0 ? "nat" : "none"));
  g_variant_builder_add (&builder, "{sv}", "display", g_variant_new_boolean (config->display));
  g_variant_builder_add (&builder, "{sv}", "boot-menu", g_variant_new_boolean (config->boot_menu));
  g_variant_builder_add (&builder, "{sv}", "cpuid-mask", g_variant_new_string (config->cpuid_mask));
  g_variant_builder_add (&builder, "{sv}", "notes", g_variant_new_string (config->notes));
  g_variant_builder_add (&builder, "{sv}", "auto-start", g_variant_new_string (config->auto_start));
  g_variant_builder_add (&builder, "{sv}", "auto-stop", g_variant_new_string (config->auto_stop));
  g_variant_builder_add (&builder, "{sv}", "checkpoint-kind", g_variant_new_string (config->checkpoint_kind));
  g_variant_builder_add (&builder, "{sv}", "automatic-checkpoints",
                         g_variant_new_boolean (config->automatic_checkpoints));
  g_variant_builder_add (&builder, "{sv}", "guest-agent", g_variant_new_boolean (config->guest_agent));
  return g_variant_builder_end (&builder);
}
