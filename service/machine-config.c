/* machine-config.c — a machine's settings: defaults, checked updates from a{sv}, and libvirt domain
 * XML written and read with libvirt-gconfig. */
#include "machine-config.h"
#include "vireo-error.h"
#include "hv.h"
#include "x86/layout.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libvirt-gconfig/libvirt-gconfig.h>

#define VIREO_XML_NS "https://vireo.org/xmlns/vireo/1"
#define VIREO_XML_PREFIX "vireo"

#define NAME_MAX_CHARS 64
#define NAME_MAX_BYTES 4096
#define MEMORY_MIB_MIN (HV_MEMORY_MIN >> 20)
/* Far above any host (the host's RAM is checked when a setting changes and at start); it keeps the
 * KiB and byte conversions below from overflowing. */
#define MEMORY_MIB_MAX (G_GUINT64_CONSTANT (1) << 32)
#define NOTES_MAX_BYTES (64 * 1024)
#define CPUID_MASK_MAX 4096
#define PATH_MAX_BYTES 4095
#define DISKS_MAX 16
/* Real domain definitions are a few KiB; this bounds what an import or a damaged file costs us. */
#define XML_MAX_BYTES (1024 * 1024)

static const char *const boot_values[] = { "kernel", "disk", NULL };
static const char *const network_values[] = { "none", "nat", NULL };
static const char *const auto_start_values[] = { "none", "always", "if-running", NULL };
static const char *const auto_stop_values[] = { "save", "shutdown", "turn-off", NULL };
static const char *const format_values[] = { "raw", "qcow2", NULL };

/* libvirt-gconfig 4.0 defines no autoptr cleanups of its own. */
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GVirConfigDomain, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GVirConfigDomainOs, g_object_unref)

static void
disk_config_free (gpointer data)
{
  VireoDiskConfig *disk = data;

  g_free (disk->path);
  g_free (disk->format);
  g_free (disk);
}

static VireoDiskConfig *
disk_config_new (const char *path, const char *format, gboolean readonly)
{
  VireoDiskConfig *disk = g_new0 (VireoDiskConfig, 1);

  disk->path = g_strdup (path);
  disk->format = g_strdup (format);
  disk->readonly = readonly;
  return disk;
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
  config->network = g_strdup ("none");
  config->display = FALSE;
  config->cpuid_mask = g_strdup ("");
  config->notes = g_strdup ("");
  config->auto_start = g_strdup ("none");
  config->auto_stop = g_strdup ("save");
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
      g_ptr_array_add (copy->disks, disk_config_new (disk->path, disk->format, disk->readonly));
    }
  copy->network = g_strdup (config->network);
  copy->display = config->display;
  copy->cpuid_mask = g_strdup (config->cpuid_mask);
  copy->notes = g_strdup (config->notes);
  copy->auto_start = g_strdup (config->auto_start);
  copy->auto_stop = g_strdup (config->auto_stop);
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
  g_free (config->network);
  g_free (config->cpuid_mask);
  g_free (config->notes);
  g_free (config->auto_start);
  g_free (config->auto_stop);
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

static gboolean
string_in (const char *value, const char *const *values)
{
  return value != NULL && g_strv_contains (values, value);
}

static char *
quoted_list (const char *const *values)
{
  GString *text = g_string_new (NULL);

  for (guint i = 0; values[i] != NULL; i++)
    g_string_append_printf (text, "%s“%s”", i == 0 ? "" : (values[i + 1] == NULL ? " or " : ", "),
                            values[i]);
  return g_string_free (text, FALSE);
}

/* XML 1.0 cannot carry most control characters (a stored definition would not load back), and none
 * belongs in a name, a path or a command line.  Notes may keep line breaks and tabs. */
static gboolean
check_text (const char *key, const char *value, gsize max_bytes, gboolean multi_line,
            GError **error)
{
  if (value == NULL || !g_utf8_validate (value, -1, NULL))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “%s” is not valid UTF-8 text.", key);
      return FALSE;
    }
  if (strlen (value) > max_bytes)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “%s” is %zu bytes long; the limit is %zu.", key, strlen (value),
                   max_bytes);
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

static gboolean
check_enum (const char *key, const char *value, const char *const *values, GError **error)
{
  g_autofree char *allowed = NULL;

  if (string_in (value, values))
    return TRUE;
  allowed = quoted_list (values);
  g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
               "Setting “%s” must be %s, not “%s”.", key, allowed, value != NULL ? value : "");
  return FALSE;
}

/* Removes leading and trailing white space, Unicode spaces included. */
static char *
trim_unicode (const char *text)
{
  const char *start = text;
  const char *end = text + strlen (text);

  while (*start != '\0' && g_unichar_isspace (g_utf8_get_char (start)))
    start = g_utf8_next_char (start);
  while (end > start)
    {
      const char *prev = g_utf8_prev_char (end);
      if (!g_unichar_isspace (g_utf8_get_char (prev)))
        break;
      end = prev;
    }
  return g_strndup (start, end - start);
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
                   "Setting “name” is %ld characters long; the limit is %d.", chars,
                   NAME_MAX_CHARS);
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
                   "Setting “memory-mib”: %" G_GUINT64_FORMAT
                   " MiB is too little; the minimum is %llu MiB.",
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
                   "Setting “vcpus”: %" G_GUINT64_FORMAT
                   " is out of range; a machine has %d to %d.",
                   vcpus, HV_VCPUS_MIN, HV_VCPUS_MAX);
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

gboolean
vireo_machine_config_validate (const VireoMachineConfig *config, GError **error)
{
  g_autoptr (GHashTable) paths = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *trimmed = NULL;

  g_return_val_if_fail (config != NULL, FALSE);

  if (!vireo_machine_config_is_canonical_uuid (config->uuid))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "“%s” is not a UUID in canonical form.",
                   config->uuid != NULL ? config->uuid : "");
      return FALSE;
    }
  if (config->name == NULL || !g_utf8_validate (config->name, -1, NULL))
    return check_name (NULL, error);
  trimmed = trim_unicode (config->name);
  if (!check_name (trimmed, error))
    return FALSE;
  if (strcmp (trimmed, config->name) != 0)
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                           "Setting “name” may not begin or end with white space.");
      return FALSE;
    }
  if (!check_memory_mib (config->memory_mib, MEMORY_MIB_MAX, error)
      || !check_vcpus (config->vcpus, error)
      || !check_enum ("boot", config->boot, boot_values, error)
      || !check_enum ("network", config->network, network_values, error)
      || !check_enum ("auto-start", config->auto_start, auto_start_values, error)
      || !check_enum ("auto-stop", config->auto_stop, auto_stop_values, error)
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

      if (!check_path_text ("disks", disk->path, error)
          || !check_enum ("disks", disk->format, format_values, error))
        return FALSE;
      if (!g_hash_table_add (paths, g_canonicalize_filename (disk->path, NULL)))
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                       "Setting “disks” names “%s” twice.", disk->path);
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

/* ---- files named by settings ---- */

/* Opens a file a setting names and checks that the service can use it, with the error a user can
 * act on.  Returns the descriptor, or -1. */
static int
open_setting_file (const char *key, const char *path, gboolean writable, GError **error)
{
  struct stat st;
  int fd;

  if (!check_path_text (key, path, error))
    return -1;
  /* O_NONBLOCK: a FIFO put where an image was expected must not hang the service. */
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    {
      int saved_errno = errno;

      if (saved_errno == ENOENT || saved_errno == ENOTDIR)
        g_set_error (error, VIREO_ERROR, VIREO_ERROR_NOT_FOUND,
                     "Setting “%s”: “%s” does not exist.", key, path);
      else if (saved_errno == EACCES || saved_errno == EPERM)
        g_set_error (error, VIREO_ERROR, VIREO_ERROR_PERMISSION_DENIED,
                     "Setting “%s”: “%s” cannot be read (permission denied).", key, path);
      else
        g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "Setting “%s”: cannot open “%s”: %s.",
                     key, path, g_strerror (saved_errno));
      return -1;
    }
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “%s”: “%s” is not a regular file.", key, path);
      close (fd);
      return -1;
    }
  if (writable && access (path, W_OK) < 0 && (errno == EACCES || errno == EPERM || errno == EROFS))
    {
      g_set_error (
          error, VIREO_ERROR, VIREO_ERROR_PERMISSION_DENIED,
          "Setting “%s”: “%s” cannot be written; make it writable or mark the disk read-only.", key,
          path);
      close (fd);
      return -1;
    }
  return fd;
}

static gboolean
check_setting_file (const char *key, const char *path, GError **error)
{
  int fd = open_setting_file (key, path, FALSE, error);

  if (fd < 0)
    return FALSE;
  close (fd);
  return TRUE;
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
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "Setting “disks”: cannot read “%s”: %s.",
                   path, g_strerror (errno));
      return FALSE;
    }
  *format = n == (ssize_t)sizeof magic && memcmp (magic, "QFI\xfb", 4) == 0 ? "qcow2" : "raw";
  return TRUE;
}

/* ---- apply_settings ---- */

typedef struct _SettingInfo SettingInfo;
typedef gboolean (*SettingApply) (VireoMachineConfig *config, const SettingInfo *info,
                                  GVariant *value, GError **error);

struct _SettingInfo
{
  const char *key;
  const char *type;
  SettingApply apply;
  size_t offset;             /* of the char * field, for string settings */
  const char *const *values; /* for enumerations */
  gboolean while_running;    /* may change while the machine runs */
};

/* Replaces the string in *@field by @value, taking ownership of @value. */
static void
take_string (char **field, char *value)
{
  g_free (*field);
  *field = value;
}

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
  trimmed = trim_unicode (name);
  if (!check_name (trimmed, error))
    return FALSE;
  replace_string (config, info, trimmed);
  return TRUE;
}

static gboolean
apply_enum (VireoMachineConfig *config, const SettingInfo *info, GVariant *value, GError **error)
{
  const char *text = g_variant_get_string (value, NULL);

  if (!check_enum (info->key, text, info->values, error))
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
apply_boot_file (VireoMachineConfig *config, const SettingInfo *info, GVariant *value,
                 GError **error)
{
  const char *path = g_variant_get_string (value, NULL);

  if (*path != '\0' && !check_setting_file (info->key, path, error))
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
apply_cpuid_mask (VireoMachineConfig *config, const SettingInfo *info, GVariant *value,
                  GError **error)
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

static VireoDiskConfig *
parse_disk (GVariant *entry, guint index, GError **error)
{
  GVariantIter iter;
  const char *key;
  GVariant *value;
  g_autofree char *path = NULL;
  g_autofree char *format = NULL;
  const char *actual = NULL;
  gboolean readonly = FALSE;
  int fd;

  g_variant_iter_init (&iter, entry);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr (GVariant) owned = value;
      const char *type = strcmp (key, "readonly") == 0 ? "b" : "s";

      if (strcmp (key, "path") != 0 && strcmp (key, "format") != 0 && strcmp (key, "readonly") != 0)
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                       "Setting “disks”: disk %u has an unknown key “%s” (known: “path”, “format”, "
                       "“readonly”).",
                       index + 1, key);
          return NULL;
        }
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE (type)))
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                       "Setting “disks”: “%s” of disk %u must be of type “%s”, not “%s”.", key,
                       index + 1, type, g_variant_get_type_string (value));
          return NULL;
        }
      if (strcmp (key, "path") == 0)
        take_string (&path, g_variant_dup_string (value, NULL));
      else if (strcmp (key, "format") == 0)
        take_string (&format, g_variant_dup_string (value, NULL));
      else
        readonly = g_variant_get_boolean (value);
    }
  if (path == NULL)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “disks”: disk %u has no “path”.", index + 1);
      return NULL;
    }
  if (format != NULL && !check_enum ("disks", format, format_values, error))
    return NULL;

  fd = open_setting_file ("disks", path, !readonly, error);
  if (fd < 0)
    return NULL;
  if (!read_image_format (fd, path, &actual, error))
    {
      close (fd);
      return NULL;
    }
  close (fd);
  if (format != NULL && strcmp (format, actual) != 0)
    {
      if (strcmp (actual, "qcow2") == 0)
        g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                     "Setting “disks”: “%s” is a qcow2 image, not raw; set its format to “qcow2”.",
                     path);
      else
        g_set_error (
            error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
            "Setting “disks”: “%s” is not a qcow2 image (it has no qcow2 header); set its format "
            "to “raw”.",
            path);
      return NULL;
    }
  return disk_config_new (path, actual, readonly);
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
      VireoDiskConfig *disk = parse_disk (entry, (guint)i, error);

      if (disk == NULL)
        return FALSE;
      g_ptr_array_add (disks, disk);
    }
  g_clear_pointer (&config->disks, g_ptr_array_unref);
  config->disks = g_steal_pointer (&disks);
  return TRUE;
}

#define STRING_FIELD(field) offsetof (VireoMachineConfig, field)

static const SettingInfo settings_info[] = {
  { "name", "s", apply_name, STRING_FIELD (name), NULL, TRUE },
  { "memory-mib", "t", apply_memory, 0, NULL, FALSE },
  { "vcpus", "u", apply_vcpus, 0, NULL, FALSE },
  { "boot", "s", apply_enum, STRING_FIELD (boot), boot_values, FALSE },
  { "kernel", "s", apply_boot_file, STRING_FIELD (kernel), NULL, FALSE },
  { "initrd", "s", apply_boot_file, STRING_FIELD (initrd), NULL, FALSE },
  { "cmdline", "s", apply_cmdline, STRING_FIELD (cmdline), NULL, FALSE },
  { "disks", "aa{sv}", apply_disks, 0, NULL, FALSE },
  { "network", "s", apply_enum, STRING_FIELD (network), network_values, FALSE },
  { "display", "b", apply_display, 0, NULL, FALSE },
  { "cpuid-mask", "s", apply_cpuid_mask, STRING_FIELD (cpuid_mask), NULL, FALSE },
  { "notes", "s", apply_notes, STRING_FIELD (notes), NULL, TRUE },
  { "auto-start", "s", apply_enum, STRING_FIELD (auto_start), auto_start_values, TRUE },
  { "auto-stop", "s", apply_enum, STRING_FIELD (auto_stop), auto_stop_values, TRUE },
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
vireo_machine_config_apply_settings (VireoMachineConfig *config, GVariant *settings,
                                     gboolean creating, GError **error)
{
  g_autoptr (VireoMachineConfig) copy = NULL;
  VireoMachineConfig swap;
  GVariantIter iter;
  const char *key;
  GVariant *value;
  gboolean has_name = FALSE;

  g_return_val_if_fail (config != NULL, FALSE);

  if (settings == NULL || !g_variant_is_of_type (settings, G_VARIANT_TYPE_VARDICT))
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                           "Settings must be a dictionary of type “a{sv}”.");
      return FALSE;
    }

  /* Work on a copy so that a failure halfway leaves @config as it was. */
  copy = vireo_machine_config_copy (config);
  g_variant_iter_init (&iter, settings);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr (GVariant) owned = value;
      const SettingInfo *info = find_setting (key);

      if (info == NULL)
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT, "“%s” is not a setting.",
                       key);
          return FALSE;
        }
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE (info->type)))
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                       "Setting “%s” must be of type “%s”, not “%s”.", key, info->type,
                       g_variant_get_type_string (value));
          return FALSE;
        }
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

  g_return_val_if_fail (settings != NULL && g_variant_is_of_type (settings, G_VARIANT_TYPE_VARDICT),
                        NULL);

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
  g_variant_builder_add (&builder, "{sv}", "network", g_variant_new_string (config->network));
  g_variant_builder_add (&builder, "{sv}", "display", g_variant_new_boolean (config->display));
  g_variant_builder_add (&builder, "{sv}", "cpuid-mask", g_variant_new_string (config->cpuid_mask));
  g_variant_builder_add (&builder, "{sv}", "notes", g_variant_new_string (config->notes));
  g_variant_builder_add (&builder, "{sv}", "auto-start", g_variant_new_string (config->auto_start));
  g_variant_builder_add (&builder, "{sv}", "auto-stop", g_variant_new_string (config->auto_stop));
  return g_variant_builder_end (&builder);
}

/* ---- libvirt domain XML ---- */

static gboolean
ensure_gconfig (GError **error)
{
  static gsize initialized = 0;
  static gboolean ok = FALSE;
  static GError *init_error = NULL;

  if (g_once_init_enter (&initialized))
    {
      ok = gvir_config_init_check (NULL, NULL, &init_error);
      g_once_init_leave (&initialized, 1);
    }
  if (!ok)
    g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED,
                 "libvirt-gconfig could not be initialized: %s",
                 init_error != NULL ? init_error->message : "unknown error");
  return ok;
}

/* libvirt names end up in file names and virsh command lines, so '/' and friends are out: the
 * display name lives in <title> and our metadata, and <name> is a plain identifier derived from it.
 */
static char *
libvirt_name_for (const VireoMachineConfig *config)
{
  GString *name = g_string_new (NULL);

  for (const char *p = config->name; *p != '\0' && name->len < NAME_MAX_CHARS; p++)
    {
      if (g_ascii_isalnum (*p) || *p == '_' || ((*p == '-' || *p == '.') && name->len > 0))
        g_string_append_c (name, *p);
      else if (name->len > 0 && name->str[name->len - 1] != '-')
        g_string_append_c (name, '-');
    }
  while (name->len > 0 && (name->str[name->len - 1] == '-' || name->str[name->len - 1] == '.'))
    g_string_truncate (name, name->len - 1);
  if (name->len == 0)
    {
      g_string_assign (name, "vireo-");
      g_string_append_len (name, config->uuid, 8);
    }
  return g_string_free (name, FALSE);
}

static void
add_device (GVirConfigDomain *domain, gpointer device)
{
  gvir_config_domain_add_device (domain, GVIR_CONFIG_DOMAIN_DEVICE (device));
  g_object_unref (device);
}

static void
add_pty_chardev (GVirConfigDomain *domain, gpointer chardev)
{
  GVirConfigDomainChardevSourcePty *pty = gvir_config_domain_chardev_source_pty_new ();

  gvir_config_domain_chardev_set_source (GVIR_CONFIG_DOMAIN_CHARDEV (chardev),
                                         GVIR_CONFIG_DOMAIN_CHARDEV_SOURCE (pty));
  g_object_unref (pty);
  add_device (domain, chardev);
}

static void
add_disk (GVirConfigDomain *domain, const VireoDiskConfig *disk, guint index)
{
  GVirConfigDomainDisk *device = gvir_config_domain_disk_new ();
  GVirConfigDomainDiskDriver *driver = gvir_config_domain_disk_driver_new ();
  char target[] = { 'v', 'd', (char)('a' + index), '\0' };

  gvir_config_domain_disk_set_type (device, GVIR_CONFIG_DOMAIN_DISK_FILE);
  gvir_config_domain_disk_set_guest_device_type (device, GVIR_CONFIG_DOMAIN_DISK_GUEST_DEVICE_DISK);
  gvir_config_domain_disk_driver_set_name (driver, "qemu");
  gvir_config_domain_disk_driver_set_format (driver, strcmp (disk->format, "qcow2") == 0
                                                         ? GVIR_CONFIG_DOMAIN_DISK_FORMAT_QCOW2
                                                         : GVIR_CONFIG_DOMAIN_DISK_FORMAT_RAW);
  gvir_config_domain_disk_set_driver (device, driver);
  g_object_unref (driver);
  gvir_config_domain_disk_set_source (device, disk->path);
  gvir_config_domain_disk_set_target_dev (device, target);
  gvir_config_domain_disk_set_target_bus (device, GVIR_CONFIG_DOMAIN_DISK_BUS_VIRTIO);
  if (disk->readonly)
    gvir_config_domain_disk_set_readonly (device, TRUE);
  add_device (domain, device);
}

static char *
metadata_xml (const VireoMachineConfig *config)
{
  return g_markup_printf_escaped ("<machine>"
                                  "<name>%s</name>"
                                  "<network>%s</network>"
                                  "<cpuid-mask>%s</cpuid-mask>"
                                  "<auto-start>%s</auto-start>"
                                  "<auto-stop>%s</auto-stop>"
                                  "</machine>",
                                  config->name, config->network, config->cpuid_mask,
                                  config->auto_start, config->auto_stop);
}

char *
vireo_machine_config_to_xml (const VireoMachineConfig *config)
{
  g_autoptr (GVirConfigDomain) domain = NULL;
  g_autoptr (GVirConfigDomainOs) os = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *libvirt_name = NULL;
  g_autofree char *metadata = NULL;
  const char *features[] = { "acpi", "apic", NULL };

  g_return_val_if_fail (config != NULL, NULL);

  if (!ensure_gconfig (&error))
    {
      g_warning ("%s", error->message);
      return NULL;
    }

  domain = gvir_config_domain_new ();
  libvirt_name = libvirt_name_for (config);
  metadata = metadata_xml (config);
  gvir_config_domain_set_virt_type (domain, GVIR_CONFIG_DOMAIN_VIRT_KVM);
  gvir_config_domain_set_name (domain, libvirt_name);
  gvir_config_domain_set_uuid (domain, config->uuid);
  if (*config->name != '\0')
    gvir_config_domain_set_title (domain, config->name);
  if (*config->notes != '\0')
    gvir_config_domain_set_description (domain, config->notes);
  if (!gvir_config_domain_set_custom_xml_ns_children (domain, metadata, VIREO_XML_PREFIX,
                                                      VIREO_XML_NS, &error))
    {
      g_warning ("Cannot write the Vireo metadata of machine %s: %s", config->uuid, error->message);
      return NULL;
    }
  gvir_config_domain_set_memory (domain, config->memory_mib * 1024);
  gvir_config_domain_set_current_memory (domain, config->memory_mib * 1024);
  gvir_config_domain_set_vcpus (domain, config->vcpus);

  os = gvir_config_domain_os_new ();
  gvir_config_domain_os_set_os_type (os, GVIR_CONFIG_DOMAIN_OS_TYPE_HVM);
  gvir_config_domain_os_set_arch (os, "x86_64");
  gvir_config_domain_os_set_machine (os, "pc");
  if (strcmp (config->boot, "kernel") == 0)
    {
      gvir_config_domain_os_set_kernel (os, config->kernel);
      if (*config->initrd != '\0')
        gvir_config_domain_os_set_ramdisk (os, config->initrd);
      if (*config->cmdline != '\0')
        gvir_config_domain_os_set_cmdline (os, config->cmdline);
    }
  else
    {
      GList boot = { GINT_TO_POINTER (GVIR_CONFIG_DOMAIN_OS_BOOT_DEVICE_HD), NULL, NULL };
      gvir_config_domain_os_set_boot_devices (os, &boot);
    }
  gvir_config_domain_set_os (domain, os);
  gvir_config_domain_set_features (domain, (GStrv)features);
  gvir_config_domain_set_lifecycle (domain, GVIR_CONFIG_DOMAIN_LIFECYCLE_ON_POWEROFF,
                                    GVIR_CONFIG_DOMAIN_LIFECYCLE_DESTROY);
  gvir_config_domain_set_lifecycle (domain, GVIR_CONFIG_DOMAIN_LIFECYCLE_ON_REBOOT,
                                    GVIR_CONFIG_DOMAIN_LIFECYCLE_RESTART);
  gvir_config_domain_set_lifecycle (domain, GVIR_CONFIG_DOMAIN_LIFECYCLE_ON_CRASH,
                                    GVIR_CONFIG_DOMAIN_LIFECYCLE_DESTROY);

  for (guint i = 0; i < config->disks->len && i < DISKS_MAX; i++)
    add_disk (domain, g_ptr_array_index (config->disks, i), i);
  if (strcmp (config->network, "nat") == 0)
    {
      GVirConfigDomainInterfaceUser *nic = gvir_config_domain_interface_user_new ();
      gvir_config_domain_interface_set_model (GVIR_CONFIG_DOMAIN_INTERFACE (nic), "virtio");
      add_device (domain, nic);
    }
  add_pty_chardev (domain, gvir_config_domain_serial_new ());
  {
    GVirConfigDomainConsole *console = gvir_config_domain_console_new ();
    gvir_config_domain_console_set_target_type (console, GVIR_CONFIG_DOMAIN_CONSOLE_TARGET_SERIAL);
    add_pty_chardev (domain, console);
  }
  if (config->display)
    {
      /* The display is reached through Machine.OpenDisplay (a socket fd), never a TCP port; gconfig
       * has no setter for <listen type='none'/>, so this one element is written as XML. */
      GVirConfigDomainGraphicsSpice *spice = gvir_config_domain_graphics_spice_new_from_xml (
          "<graphics type='spice' autoport='no'><listen type='none'/></graphics>", &error);
      GVirConfigDomainVideo *video;

      if (spice == NULL)
        {
          g_warning ("Cannot describe the display of machine %s: %s", config->uuid, error->message);
          return NULL;
        }
      add_device (domain, spice);
      video = gvir_config_domain_video_new ();
      gvir_config_domain_video_set_model (video, GVIR_CONFIG_DOMAIN_VIDEO_MODEL_VIRTIO);
      add_device (domain, video);
    }
  return gvir_config_object_to_xml (GVIR_CONFIG_OBJECT (domain));
}

/* libvirt-gconfig 4.0 has no getters for some elements (os/kernel, disk/readonly, ...) and reads
 * <memory unit=...> without range checks, so those are read from the XML text of the element that
 * holds them: this collects the direct children of its root element. */
typedef struct
{
  char *name; /* without namespace prefix */
  char **attribute_names;
  char **attribute_values;
  GString *text;
} XmlChild;

typedef struct
{
  GPtrArray *children;
  int depth;
} XmlChildScan;

static void
xml_child_free (gpointer data)
{
  XmlChild *child = data;

  g_free (child->name);
  g_strfreev (child->attribute_names);
  g_strfreev (child->attribute_values);
  g_string_free (child->text, TRUE);
  g_free (child);
}

static const char *
local_name (const char *qualified)
{
  const char *colon = strrchr (qualified, ':');
  return colon != NULL ? colon + 1 : qualified;
}

static void
scan_start (GMarkupParseContext *context, const char *element, const char **names,
            const char **values, gpointer user_data, GError **error)
{
  XmlChildScan *scan = user_data;

  if (++scan->depth == 2)
    {
      XmlChild *child = g_new0 (XmlChild, 1);

      child->name = g_strdup (local_name (element));
      child->attribute_names = g_strdupv ((char **)names);
      child->attribute_values = g_strdupv ((char **)values);
      child->text = g_string_new (NULL);
      g_ptr_array_add (scan->children, child);
    }
}

static void
scan_end (GMarkupParseContext *context, const char *element, gpointer user_data, GError **error)
{
  XmlChildScan *scan = user_data;
  scan->depth--;
}

static void
scan_text (GMarkupParseContext *context, const char *text, gsize len, gpointer user_data,
           GError **error)
{
  XmlChildScan *scan = user_data;

  if (scan->depth == 2)
    {
      XmlChild *child = g_ptr_array_index (scan->children, scan->children->len - 1);
      g_string_append_len (child->text, text, len);
    }
}

static GPtrArray *
xml_children (const char *xml, GError **error)
{
  static const GMarkupParser parser = { scan_start, scan_end, scan_text, NULL, NULL };
  g_autoptr (GPtrArray) children = g_ptr_array_new_with_free_func (xml_child_free);
  XmlChildScan scan = { children, 0 };
  g_autoptr (GMarkupParseContext) context = g_markup_parse_context_new (&parser, 0, &scan, NULL);
  g_autoptr (GError) local_error = NULL;

  if (!g_markup_parse_context_parse (context, xml, -1, &local_error)
      || !g_markup_parse_context_end_parse (context, &local_error))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "The domain XML cannot be read: %s.", local_error->message);
      return NULL;
    }
  return g_steal_pointer (&children);
}

static const XmlChild *
xml_child (GPtrArray *children, const char *name)
{
  for (guint i = 0; i < children->len; i++)
    {
      const XmlChild *child = g_ptr_array_index (children, i);
      if (strcmp (child->name, name) == 0)
        return child;
    }
  return NULL;
}

static const char *
xml_child_attribute (const XmlChild *child, const char *name)
{
  for (guint i = 0; child->attribute_names[i] != NULL; i++)
    if (strcmp (child->attribute_names[i], name) == 0)
      return child->attribute_values[i];
  return NULL;
}

/* The trimmed text of child @name, or NULL when there is none. */
static char *
xml_child_text (GPtrArray *children, const char *name)
{
  const XmlChild *child = xml_child (children, name);
  return child != NULL ? g_strstrip (g_strdup (child->text->str)) : NULL;
}

/* <memory unit='...'>: libvirt's units, case as libvirt accepts them; no unit means KiB. */
static gboolean
parse_memory (const XmlChild *memory, uint64_t *mib, GError **error)
{
  static const char scales[] = "kmgtpe";
  const char *unit = xml_child_attribute (memory, "unit");
  g_autofree char *text = g_strstrip (g_strdup (memory->text->str));
  uint64_t value = 0;
  uint64_t scale = 1;

  if (unit == NULL)
    scale = 1024;
  else if (g_ascii_strcasecmp (unit, "b") == 0 || g_ascii_strcasecmp (unit, "bytes") == 0)
    scale = 1;
  else
    {
      const char *power = *unit != '\0' ? strchr (scales, g_ascii_tolower (*unit)) : NULL;
      const char *rest = unit + 1;
      uint64_t base;

      if (power == NULL)
        goto bad_unit;
      if (*rest == '\0' || g_ascii_strcasecmp (rest, "ib") == 0)
        base = 1024;
      else if (g_ascii_strcasecmp (rest, "b") == 0)
        base = 1000;
      else
        goto bad_unit;
      for (const char *p = scales; p <= power; p++)
        scale *= base;
    }

  if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT64, &value, NULL))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "The domain's <memory> “%s” is not a number.", text);
      return FALSE;
    }
  if (value > G_MAXUINT64 / scale || value * scale / (1024 * 1024) > MEMORY_MIB_MAX)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "The domain's <memory> %s %s is too large.", text, unit != NULL ? unit : "KiB");
      return FALSE;
    }
  *mib = value * scale / (1024 * 1024);
  return TRUE;

bad_unit:
  g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
               "The domain's <memory> has an unknown unit “%s”.", unit);
  return FALSE;
}

static gboolean
parse_vcpus (GPtrArray *children, unsigned *vcpus, GError **error)
{
  g_autofree char *text = xml_child_text (children, "vcpu");
  guint64 value;

  if (text == NULL)
    {
      *vcpus = 1;
      return TRUE;
    }
  if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT32, &value, NULL))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "The domain's <vcpu> “%s” is not a number from 1 to %d.", text, HV_VCPUS_MAX);
      return FALSE;
    }
  *vcpus = (unsigned)value;
  return TRUE;
}

/* A display name from another tool's title or name: control characters become spaces and it is cut
 * to our length limit, so an import never fails over a cosmetic detail.  NULL when nothing is left.
 */
static char *
display_name_from (const char *text)
{
  g_autoptr (GString) cleaned = g_string_new (NULL);
  g_autofree char *trimmed = NULL;
  glong chars = 0;

  if (!g_utf8_validate (text, -1, NULL))
    return NULL;
  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      g_string_append_unichar (cleaned,
                               g_unichar_iscntrl (c) || c == 0xfffe || c == 0xffff ? ' ' : c);
    }
  trimmed = trim_unicode (cleaned->str);
  for (char *p = trimmed; *p != '\0'; p = g_utf8_next_char (p))
    if (++chars > NAME_MAX_CHARS)
      {
        *p = '\0';
        break;
      }
  return *trimmed != '\0' ? trim_unicode (trimmed) : NULL;
}

/* Our own <vireo:machine> element, when the domain has one.  Name and network are returned rather
 * than set, because they override what the rest of the domain says. */
static gboolean
parse_metadata (GVirConfigDomain *domain, VireoMachineConfig *config, char **name, char **network,
                GError **error)
{
  static const struct
  {
    const char *element;
    size_t offset;
    const char *const *values;
  } fields[] = {
    { "cpuid-mask", STRING_FIELD (cpuid_mask), NULL },
    { "auto-start", STRING_FIELD (auto_start), auto_start_values },
    { "auto-stop", STRING_FIELD (auto_stop), auto_stop_values },
  };
  g_autofree char *xml = gvir_config_domain_get_custom_xml (domain, VIREO_XML_NS);
  g_autoptr (GPtrArray) children = NULL;

  if (xml == NULL)
    return TRUE;
  children = xml_children (xml, error);
  if (children == NULL)
    return FALSE;
  *name = xml_child_text (children, "name");
  *network = xml_child_text (children, "network");
  if (*network != NULL && !check_enum ("network", *network, network_values, error))
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (fields); i++)
    {
      g_autofree char *value = xml_child_text (children, fields[i].element);
      if (value == NULL)
        continue;
      if (fields[i].values != NULL
          && !check_enum (fields[i].element, value, fields[i].values, error))
        return FALSE;
      take_string (G_STRUCT_MEMBER_P (config, fields[i].offset), g_steal_pointer (&value));
    }
  return TRUE;
}

static gboolean
parse_os (GVirConfigDomain *domain, VireoMachineConfig *config, GError **error)
{
  g_autoptr (GVirConfigDomainOs) os = gvir_config_domain_get_os (domain);
  g_autoptr (GPtrArray) children = NULL;
  g_autofree char *os_xml = NULL;
  const char *arch;
  char *value;

  if (os == NULL)
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                           "The domain has no <os> element.");
      return FALSE;
    }
  if (gvir_config_domain_os_get_os_type (os) != GVIR_CONFIG_DOMAIN_OS_TYPE_HVM)
    {
      g_set_error_literal (
          error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
          "The domain is not a full (hvm) virtual machine; Vireo runs only those.");
      return FALSE;
    }
  arch = gvir_config_domain_os_get_arch (os);
  if (arch != NULL && strcmp (arch, "x86_64") != 0)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
                   "The domain is for the %s architecture; Vireo runs only x86_64 machines.", arch);
      return FALSE;
    }

  os_xml = gvir_config_object_to_xml (GVIR_CONFIG_OBJECT (os));
  children = xml_children (os_xml, error);
  if (children == NULL)
    return FALSE;
  if ((value = xml_child_text (children, "kernel")) != NULL)
    take_string (&config->kernel, value);
  if ((value = xml_child_text (children, "initrd")) != NULL)
    take_string (&config->initrd, value);
  if ((value = xml_child_text (children, "cmdline")) != NULL)
    take_string (&config->cmdline, value);
  return TRUE;
}

/* A file-backed disk; CD-ROMs and floppies are skipped (@removable names the first). */
static gboolean
parse_disk_device (GVirConfigDomainDisk *device, VireoMachineConfig *config, char **removable,
                   GError **error)
{
  GVirConfigDomainDiskGuestDeviceType kind = gvir_config_domain_disk_get_guest_device_type (device);
  const char *source = gvir_config_domain_disk_get_source (device);
  g_autofree char *disk_xml = NULL;
  g_autoptr (GPtrArray) children = NULL;
  const XmlChild *driver;
  const char *format = NULL;

  if (kind != GVIR_CONFIG_DOMAIN_DISK_GUEST_DEVICE_DISK)
    {
      if (*removable == NULL)
        *removable = g_strdup (source != NULL ? source : "");
      return TRUE;
    }
  if (gvir_config_domain_disk_get_disk_type (device) != GVIR_CONFIG_DOMAIN_DISK_FILE
      || source == NULL)
    {
      g_set_error (
          error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
          "The domain's disk %s is not an image file; Vireo uses only image files as disks.",
          source != NULL ? source : "without a source");
      return FALSE;
    }

  disk_xml = gvir_config_object_to_xml (GVIR_CONFIG_OBJECT (device));
  children = xml_children (disk_xml, error);
  if (children == NULL)
    return FALSE;
  driver = xml_child (children, "driver");
  if (driver != NULL)
    format = xml_child_attribute (driver, "type");
  /* libvirt's default for a file without a driver type is raw. */
  if (format == NULL)
    format = "raw";
  if (!string_in (format, format_values))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
                   "The domain's disk “%s” is a %s image; Vireo supports raw and qcow2 images.",
                   source, format);
      return FALSE;
    }
  if (config->disks->len == DISKS_MAX)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
                   "The domain has more than %d disks; a Vireo machine has at most %d.", DISKS_MAX,
                   DISKS_MAX);
      return FALSE;
    }
  g_ptr_array_add (config->disks,
                   disk_config_new (source, format, xml_child (children, "readonly") != NULL));
  return TRUE;
}

static gboolean
parse_devices (GVirConfigDomain *domain, VireoMachineConfig *config, char **removable,
               GError **error)
{
  GList *devices = gvir_config_domain_get_devices (domain);
  gboolean ok = TRUE;

  for (GList *l = devices; l != NULL && ok; l = l->next)
    {
      if (GVIR_CONFIG_IS_DOMAIN_DISK (l->data))
        ok = parse_disk_device (l->data, config, removable, error);
      /* Any interface (user, a libvirt network, a bridge) means the machine expects a network:
       * NAT is what Vireo offers. */
      else if (GVIR_CONFIG_IS_DOMAIN_INTERFACE (l->data))
        take_string (&config->network, g_strdup ("nat"));
      else if (GVIR_CONFIG_IS_DOMAIN_GRAPHICS (l->data))
        config->display = TRUE;
    }
  g_list_free_full (devices, g_object_unref);
  return ok;
}

VireoMachineConfig *
vireo_machine_config_new_from_xml (const char *xml, GError **error)
{
  g_autoptr (VireoMachineConfig) config = NULL;
  g_autoptr (GVirConfigDomain) domain = NULL;
  g_autoptr (GPtrArray) children = NULL;
  g_autoptr (GError) local_error = NULL;
  g_autofree char *normalized = NULL;
  g_autofree char *metadata_name = NULL;
  g_autofree char *removable = NULL;
  g_autofree char *display_name = NULL;
  g_autofree char *metadata_network = NULL;
  GVirConfigDomainVirtType virt_type;
  const XmlChild *memory;
  const char *name;
  const char *title;
  const char *uuid;

  if (!ensure_gconfig (error))
    return NULL;
  if (xml == NULL || *xml == '\0')
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                           "The domain XML is empty.");
      return NULL;
    }
  if (strlen (xml) > XML_MAX_BYTES)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "The domain XML is %zu bytes long; the limit is %d.", strlen (xml),
                   XML_MAX_BYTES);
      return NULL;
    }
  domain = gvir_config_domain_new_from_xml (xml, &local_error);
  if (domain == NULL)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "This is not libvirt domain XML: %s", local_error->message);
      return NULL;
    }

  virt_type = gvir_config_domain_get_virt_type (domain);
  if (virt_type != GVIR_CONFIG_DOMAIN_VIRT_KVM && virt_type != GVIR_CONFIG_DOMAIN_VIRT_QEMU)
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
                           "The domain is not a KVM or QEMU domain; Vireo runs only those.");
      return NULL;
    }
  name = gvir_config_domain_get_name (domain);
  if (name == NULL || *name == '\0')
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                           "The domain has no <name>.");
      return NULL;
    }

  config = vireo_machine_config_new ();
  /* No boot source is assumed: it follows from what the domain has. */
  g_clear_pointer (&config->boot, g_free);

  uuid = gvir_config_domain_get_uuid (domain);
  if (uuid != NULL)
    {
      g_autofree char *trimmed = g_strstrip (g_strdup (uuid));

      if (strlen (trimmed) != 36 || !g_uuid_string_is_valid (trimmed))
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                       "The domain's UUID “%s” is not valid.", uuid);
          return NULL;
        }
      take_string (&config->uuid, g_ascii_strdown (trimmed, -1));
    }

  if (!parse_metadata (domain, config, &metadata_name, &metadata_network, error))
    return NULL;
  /* Our name, else the title libvirt tools show (GNOME Boxes keeps its display name there), else
   * the libvirt name. */
  title = gvir_config_domain_get_title (domain);
  if (metadata_name != NULL)
    display_name = trim_unicode (metadata_name);
  else
    display_name = display_name_from (title != NULL ? title : "");
  if (display_name == NULL || *display_name == '\0')
    take_string (&display_name, display_name_from (name));
  if (display_name == NULL)
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                           "The domain has no usable name.");
      return NULL;
    }
  take_string (&config->name, g_steal_pointer (&display_name));
  if (gvir_config_domain_get_description (domain) != NULL)
    take_string (&config->notes, g_strdup (gvir_config_domain_get_description (domain)));

  normalized = gvir_config_object_to_xml (GVIR_CONFIG_OBJECT (domain));
  children = xml_children (normalized, error);
  if (children == NULL)
    return NULL;
  memory = xml_child (children, "memory");
  if (memory == NULL)
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                           "The domain has no <memory> size.");
      return NULL;
    }
  if (!parse_memory (memory, &config->memory_mib, error)
      || !parse_vcpus (children, &config->vcpus, error) || !parse_os (domain, config, error))
    return NULL;

  if (!parse_devices (domain, config, &removable, error))
    return NULL;
  /* Our metadata says what the network is; for other domains the devices do. */
  if (metadata_network != NULL)
    take_string (&config->network, g_steal_pointer (&metadata_network));

  if (*config->kernel != '\0')
    config->boot = g_strdup ("kernel");
  else if (config->disks->len > 0)
    config->boot = g_strdup ("disk");
  else if (removable != NULL)
    {
      g_set_error (
          error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
          "The domain boots only from a CD-ROM or floppy (“%s”); Vireo cannot boot from those yet. "
          "Install the system onto a disk image first.",
          removable);
      return NULL;
    }
  else
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
                           "The domain has neither a kernel nor a disk to boot from.");
      return NULL;
    }

  if (!vireo_machine_config_validate (config, error))
    return NULL;
  return g_steal_pointer (&config);
}
