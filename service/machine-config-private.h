/* machine-config-private.h — what the settings (machine-config.c, machine-config-checks.c,
 * machine-config-files.c, nic-config.c) and the libvirt domain XML form (machine-xml*.c) share: the limits,
 * the allowed values and a few helpers. */
#pragma once

#include "machine-config.h"

#include <stddef.h>

G_BEGIN_DECLS

#define NAME_MAX_CHARS 64
/* Far above any host (the host's RAM is checked when a setting changes and at start); it keeps the
 * KiB and byte conversions of the XML form from overflowing. */
#define MEMORY_MIB_MAX (HV_MEMORY_MAX >> 20)
#define DISKS_MAX      16

/* The allowed values; static rather than exported, as each copy is a few pointers. */
static const char *const boot_values[] = { "kernel", "disk", NULL };
static const char *const network_values[] = { "none", "nat", NULL };
static const char *const auto_start_values[] = { "none", "always", "if-running", NULL };
static const char *const auto_stop_values[] = { "save", "shutdown", "turn-off", NULL };
static const char *const checkpoint_kind_values[] = { "standard", "production", NULL };
static const char *const format_values[] = { "raw", "qcow2", NULL };
static const char *const disk_device_values[] = { "disk", "cdrom", NULL };
static const char *const disk_bus_values[] = { "virtio", "sata", NULL };
static const char *const disk_cache_values[] = { "default", "none", "writeback", NULL };

#define STRING_FIELD(field) offsetof (VireoMachineConfig, field)

static inline gboolean
string_in (const char *value, const char *const *values)
{
  return value != NULL && g_strv_contains (values, value);
}

/* Replaces the string in *@field by @value, taking ownership of @value. */
static inline void
take_string (char **field, char *value)
{
  g_free (*field);
  *field = value;
}

/* Whether @target is a target name of @bus: "vd" (virtio) or "sd" (sata) and one or two letters. */
gboolean vireo_disk_target_fits_bus (const char *target, const char *bus);

/* A key of an entry of a list setting ("disks", "nics") and its GVariant type. */
typedef struct
{
  const char *key;
  const char *type;
} VireoEntryKey;

/* Checks that @entry, item @index of list setting @setting (each item a @item: "disk", "NIC"), is an a{sv}
 * with only the keys of @keys, each of its type; VIREO_ERROR_INVALID_ARGUMENT naming the item otherwise. */
gboolean vireo_machine_config_check_entry_keys (GVariant *entry, const VireoEntryKey *keys, guint n_keys,
                                                const char *setting, const char *item, guint index,
                                                GError **error);

/* TRUE when @value is one of @values; otherwise fails with VIREO_ERROR_INVALID_ARGUMENT naming @key
 * and the allowed values. */
gboolean vireo_machine_config_check_enum (const char *key, const char *value, const char *const *values,
                                          GError **error);

/* nic-config.c: the NICs' checks beyond each entry's own (how many, unique MACs and host ports). */
gboolean vireo_machine_config_check_nics (const VireoMachineConfig *config, GError **error);
/* One "virtio-net" device "net<i>" per NIC. */
void vireo_machine_config_add_nics_to_spec (const VireoMachineConfig *config, HvMachineSpec *spec);
/* Sets "network" from the NICs: "nat" with any, else "none". */
void vireo_machine_config_sync_network (VireoMachineConfig *config);

/* ---- machine-config-checks.c and machine-config-files.c ---- */

#define NAME_MAX_BYTES 4096
/* How much of an unknown key an error message repeats. */
#define KEY_SHOWN_MAX   64
#define MEMORY_MIB_MIN  (HV_MEMORY_MIN >> 20)
#define NOTES_MAX_BYTES (64 * 1024)
#define CPUID_MASK_MAX  4096
#define PATH_MAX_BYTES  4095

/* XML 1.0 cannot carry most control characters (a stored definition would not load back), and none
 * belongs in a name, a path or a command line.  Notes may keep line breaks and tabs. */
gboolean vireo_config_check_text (const char *key, const char *value, gsize max_bytes, gboolean multi_line,
                                  GError **error);

/* @name is already trimmed. */
gboolean vireo_config_check_name (const char *name, GError **error);

/* The form of a path; whether the file exists is checked only when a setting changes. */
gboolean vireo_config_check_path_text (const char *key, const char *path, GError **error);

gboolean vireo_config_check_memory_mib (uint64_t mib, uint64_t max_mib, GError **error);

gboolean vireo_config_check_vcpus (uint64_t vcpus, GError **error);

gboolean vireo_config_check_cpuid_mask (const char *mask, GError **error);

/* Opens a file a setting names, with the rights of user @uid (open-as.h), and checks that it can serve,
 * with the error a user can act on.  Returns the descriptor, or -1. */
int vireo_config_open_setting_file (const char *key, const char *path, gboolean writable,
                                    const VireoMachineConfig *config, gboolean image, GError **error);

gboolean vireo_config_check_setting_file (const char *key, const char *path, const VireoMachineConfig *config,
                                          GError **error);

/* Whether the definition already names @path as a disk: only then may an image in the machine's own
 * folder be opened with vireod's rights for a caller.  A folder may hold images of an earlier machine
 * of the same UUID (deleted, its disks kept) that the caller must not reach. */
gboolean vireo_config_definition_names (const VireoMachineConfig *config, const char *path);

/* What the image really is, whatever its name says: a raw image declared qcow2 would not open, and
 * a qcow2 image declared raw would hand the guest the image's metadata. */
gboolean vireo_config_read_image_format (int fd, const char *path, const char **format, GError **error);

G_END_DECLS
