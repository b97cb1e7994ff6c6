/* machine-config-checks.c — the checks of a machine's settings that apply_settings, validation and the XML
 * parser share, and the validation of a whole configuration. */
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
gboolean
vireo_config_check_text (const char *key, const char *value, gsize max_bytes, gboolean multi_line,
                         GError **error)
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
gboolean
vireo_config_check_name (const char *name, GError **error)
{
  glong chars;

  if (!vireo_config_check_text ("name", name, NAME_MAX_BYTES, FALSE, error))
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
gboolean
vireo_config_check_path_text (const char *key, const char *path, GError **error)
{
  if (!vireo_config_check_text (key, path, PATH_MAX_BYTES, FALSE, error))
    return FALSE;
  if (!g_path_is_absolute (path))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “%s” must be an absolute path, not “%s”.", key, path);
      return FALSE;
    }
  return TRUE;
}

gboolean
vireo_config_check_memory_mib (uint64_t mib, uint64_t max_mib, GError **error)
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

gboolean
vireo_config_check_vcpus (uint64_t vcpus, GError **error)
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

gboolean
vireo_config_check_cpuid_mask (const char *mask, GError **error)
{
  g_autoptr (GError) local_error = NULL;

  if (!vireo_config_check_text ("cpuid-mask", mask, CPUID_MASK_MAX, FALSE, error))
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
  if (!(cdrom && *disk->path == '\0') && !vireo_config_check_path_text ("disks", disk->path, error))
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
    return vireo_config_check_name (NULL, error);
  trimmed = vireo_utf8_strip (config->name);
  if (!vireo_config_check_name (trimmed, error))
    return FALSE;
  if (strcmp (trimmed, config->name) != 0)
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                           "Setting “name” may not begin or end with white space.");
      return FALSE;
    }
  if (!vireo_config_check_memory_mib (config->memory_mib, MEMORY_MIB_MAX, error)
      || !vireo_config_check_vcpus (config->vcpus, error)
      || !vireo_machine_config_check_enum ("boot", config->boot, boot_values, error)
      || !vireo_machine_config_check_enum ("network", config->network, network_values, error)
      || !vireo_machine_config_check_enum ("auto-start", config->auto_start, auto_start_values, error)
      || !vireo_machine_config_check_enum ("auto-stop", config->auto_stop, auto_stop_values, error)
      || !vireo_config_check_cpuid_mask (config->cpuid_mask, error)
      || !vireo_config_check_text ("notes", config->notes, NOTES_MAX_BYTES, TRUE, error)
      || !vireo_config_check_text ("cmdline", config->cmdline, HV_CMDLINE_MAX - 1, FALSE, error)
      || !vireo_config_check_text ("kernel", config->kernel, PATH_MAX_BYTES, FALSE, error)
      || !vireo_config_check_text ("initrd", config->initrd, PATH_MAX_BYTES, FALSE, error))
    return FALSE;
  if (*config->kernel != '\0' && !vireo_config_check_path_text ("kernel", config->kernel, error))
    return FALSE;
  if (*config->initrd != '\0' && !vireo_config_check_path_text ("initrd", config->initrd, error))
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
