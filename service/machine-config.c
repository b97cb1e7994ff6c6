/* machine-config.c — a machine's settings: defaults, checked updates from a{sv} and the a{sv} form.  The
 * checks and validation are machine-config-checks.c, the files settings name machine-config-files.c, the
 * libvirt domain XML form machine-xml.c. */
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
  if (!vireo_config_check_text ("name", name, NAME_MAX_BYTES, TRUE, error))
    return FALSE;
  trimmed = vireo_utf8_strip (name);
  if (!vireo_config_check_name (trimmed, error))
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

  if (!vireo_config_check_memory_mib (mib, MIN (hv_host_memory_limit () >> 20, MEMORY_MIB_MAX), error))
    return FALSE;
  config->memory_mib = mib;
  return TRUE;
}

static gboolean
apply_vcpus (VireoMachineConfig *config, const SettingInfo *info, GVariant *value, GError **error)
{
  guint32 vcpus = g_variant_get_uint32 (value);

  if (!vireo_config_check_vcpus (vcpus, error))
    return FALSE;
  config->vcpus = vcpus;
  return TRUE;
}

/* kernel and initrd: "" clears the setting; anything else must be a readable file. */
static gboolean
apply_boot_file (VireoMachineConfig *config, const SettingInfo *info, GVariant *value, GError **error)
{
  const char *path = g_variant_get_string (value, NULL);

  if (*path != '\0' && !vireo_config_check_setting_file (info->key, path, config, error))
    return FALSE;
  replace_string (config, info, path);
  return TRUE;
}

static gboolean
apply_cmdline (VireoMachineConfig *config, const SettingInfo *info, GVariant *value, GError **error)
{
  const char *cmdline = g_variant_get_string (value, NULL);

  if (!vireo_config_check_text (info->key, cmdline, HV_CMDLINE_MAX - 1, FALSE, error))
    return FALSE;
  replace_string (config, info, cmdline);
  return TRUE;
}

static gboolean
apply_notes (VireoMachineConfig *config, const SettingInfo *info, GVariant *value, GError **error)
{
  const char *notes = g_variant_get_string (value, NULL);

  if (!vireo_config_check_text (info->key, notes, NOTES_MAX_BYTES, TRUE, error))
    return FALSE;
  replace_string (config, info, notes);
  return TRUE;
}

static gboolean
apply_cpuid_mask (VireoMachineConfig *config, const SettingInfo *info, GVariant *value, GError **error)
{
  const char *mask = g_variant_get_string (value, NULL);

  if (!vireo_config_check_cpuid_mask (mask, error))
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
      fd = vireo_config_open_setting_file ("disks", disk->path, !disk->readonly, config,
                                           vireo_config_definition_names (config, disk->path), error);
      if (fd < 0)
        return NULL;
      if (!vireo_config_read_image_format (fd, disk->path, &actual, error))
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
