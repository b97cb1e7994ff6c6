/* spec.c — the machine spec (spec.h): building a spec (its devices, their options and fds, --device
 * text) and its one check.  The kinds it may name are spec-kinds.c; the message it travels in is
 * spec-message.c. */
#include "spec.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
