/* spec-message.c — the message a machine spec travels in (spec.h): the spec as an a{sv} and back, each
 * handle of the message mapped to an fd of the spec's own. */
#include "spec.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

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
