/* device.c — the device model: requested instances, realized in order and torn down in reverse,
 * quiesced together, one saved-state section each, and the resources the core hands out to them. */
#include "device.h"

#include <unistd.h>
#include "bus.h"
#include "state.h"
#include "x86/layout.h"

#include <string.h>
#include <unistd.h>

struct _HvDevices
{
  const HvDeviceKind *const *kinds;
  GPtrArray *list; /* HvDevice, sorted into realize order by hv_devices_realize */
  HvDeviceHost host;
  gboolean realized; /* hv_devices_realize was called: no more requests */
  HvDevice *gsi_owner[HV_IOAPIC_PINS];
};

static void
close_fd (void *opaque, int fd)
{
  if (fd >= 0)
    close (fd);
}

/* Closes the fds among @options: the device owns them. */
static void
close_fd_options (GVariant *options)
{
  hv_spec_options_foreach_fd (options, close_fd, NULL);
}

static void
device_free (HvDevice *device)
{
  if (device->realized)
    device->kind->teardown (device);
  close_fd_options (device->options);
  g_variant_unref (device->options);
  g_free (device->id);
  g_free (device);
}

void
hv_device_set_options (HvDevice *device, GVariant *options)
{
  g_return_if_fail (!device->realized);
  close_fd_options (device->options);
  g_variant_unref (device->options);
  device->options = g_variant_ref_sink (options);
}

int *
hv_device_get_fds_option (HvDevice *device, const char *name, unsigned *n_fds)
{
  g_autoptr (GVariant) value = g_variant_lookup_value (device->options, name, G_VARIANT_TYPE ("ah"));
  gsize n = 0;
  const gint32 *fds = value ? g_variant_get_fixed_array (value, &n, sizeof (gint32)) : NULL;

  *n_fds = (unsigned) n;
  return n ? g_memdup2 (fds, n * sizeof (gint32)) : NULL;
}

int
hv_device_get_fd_option (HvDevice *device, const char *name)
{
  gint32 fd;

  if (!g_variant_lookup (device->options, name, "h", &fd))
    return -1;
  return fd;
}

HvDevices *
hv_devices_new (const HvDeviceKind *const *kinds)
{
  HvDevices *devices = g_new0 (HvDevices, 1);

  devices->kinds = kinds ? kinds : hv_device_kinds;
  devices->list = g_ptr_array_new ();
  return devices;
}

void
hv_devices_free (HvDevices *devices)
{
  if (devices == NULL)
    return;
  /* In reverse: what sits on a bus goes before the bus. */
  for (guint i = devices->list->len; i > 0; i--)
    device_free (g_ptr_array_index (devices->list, i - 1));
  g_ptr_array_unref (devices->list);
  g_free (devices);
}

static const HvDeviceKind *
find_kind (HvDevices *devices, const char *name)
{
  for (const HvDeviceKind *const *kind = devices->kinds; *kind; kind++)
    if (strcmp ((*kind)->info->name, name) == 0)
      return *kind;
  return NULL;
}

HvDevice *
hv_devices_lookup (HvDevices *devices, const char *id)
{
  for (guint i = 0; i < devices->list->len; i++)
    {
      HvDevice *device = g_ptr_array_index (devices->list, i);
      if (strcmp (device->id, id) == 0)
        return device;
    }
  return NULL;
}

HvDevice *
hv_devices_find_kind (HvDevices *devices, const char *kind)
{
  HvDevice *first = NULL;

  for (guint i = 0; i < devices->list->len; i++)
    {
      HvDevice *device = g_ptr_array_index (devices->list, i);
      if (strcmp (device->kind->info->name, kind) == 0 && (first == NULL || device->index < first->index))
        first = device;
    }
  return first;
}

void *
hv_devices_get_impl (HvDevices *devices, const char *kind)
{
  HvDevice *device = devices ? hv_devices_find_kind (devices, kind) : NULL;
  return device && device->realized ? device->impl : NULL;
}

unsigned
hv_devices_get_count (HvDevices *devices)
{
  return devices->list->len;
}

HvDevice *
hv_devices_get (HvDevices *devices, unsigned i)
{
  g_return_val_if_fail (i < devices->list->len, NULL);
  return g_ptr_array_index (devices->list, i);
}

static unsigned
count_kind (HvDevices *devices, const HvDeviceKind *kind)
{
  unsigned n = 0;

  for (guint i = 0; i < devices->list->len; i++)
    n += ((HvDevice *) g_ptr_array_index (devices->list, i))->kind == kind;
  return n;
}

/* An id is what a person types and a saved state keys on: short, and nothing a file name or a
 * command line would trip over. */
HvDevice *
hv_devices_add (HvDevices *devices, const char *kind_name, const char *id, GError **error)
{
  const HvDeviceKind *kind;
  g_autofree char *new_id = NULL;
  HvDevice *device;
  unsigned n;

  g_return_val_if_fail (kind_name != NULL, NULL);

  if (devices->realized)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE,
                   "the machine is built; devices cannot be added to it any more");
      return NULL;
    }
  kind = find_kind (devices, kind_name);
  if (kind == NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "there is no device kind “%s”", kind_name);
      return NULL;
    }
  n = count_kind (devices, kind);
  if (kind->info->max_instances != 0 && n >= kind->info->max_instances)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "a machine has at most %u device%s of kind “%s”", kind->info->max_instances,
                   kind->info->max_instances == 1 ? "" : "s", kind->info->name);
      return NULL;
    }
  if (id == NULL)
    {
      for (unsigned number = 0; new_id == NULL || hv_devices_lookup (devices, new_id); number++)
        {
          g_free (new_id);
          new_id = g_strdup_printf ("%s%u", kind->info->id_prefix, number);
        }
    }
  else
    {
      if (!hv_device_id_is_valid (id))
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "“%s” is not a device id: use up to 32 letters, digits, “-” and “_”, "
                       "starting with a letter",
                       id);
          return NULL;
        }
      if (hv_devices_lookup (devices, id))
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "the machine already has a device “%s”",
                       id);
          return NULL;
        }
      new_id = g_strdup (id);
    }

  device = g_new0 (HvDevice, 1);
  device->kind = kind;
  device->id = g_steal_pointer (&new_id);
  device->index = n;
  device->options = g_variant_ref_sink (g_variant_new ("a{sv}", NULL));
  device->devices = devices;
  g_ptr_array_add (devices->list, device);
  return device;
}

gboolean
hv_devices_remove (HvDevices *devices, const char *id)
{
  HvDevice *device = hv_devices_lookup (devices, id);

  if (device == NULL || devices->realized)
    return FALSE;
  g_ptr_array_remove (devices->list, device);
  /* The instances after it move up, so that the numbering stays dense. */
  for (guint i = 0; i < devices->list->len; i++)
    {
      HvDevice *other = g_ptr_array_index (devices->list, i);
      if (other->kind == device->kind && other->index > device->index)
        other->index--;
    }
  device_free (device);
  return TRUE;
}

static gint
compare_order (gconstpointer a, gconstpointer b)
{
  const HvDevice *x = *(HvDevice *const *) a;
  const HvDevice *y = *(HvDevice *const *) b;

  return (int) x->kind->order - (int) y->kind->order;
}

/* Prefixes @local's message with the device's id and kind. */
static void
set_device_error (GError **error, HvDevice *device, GError *local)
{
  g_set_error (error, local->domain, local->code, "%s (%s): %s", device->id, device->kind->info->name,
               local->message);
}

gboolean
hv_devices_realize (HvDevices *devices, const HvDeviceHost *host, GError **error)
{
  g_return_val_if_fail (!devices->realized, FALSE);

  devices->realized = TRUE;
  devices->host = *host;
  /* A stable sort: the same kind order, then request order, every time, so that PCI slots and
   * saved sections line up between a save and its restore. */
  g_ptr_array_sort (devices->list, compare_order);
  for (guint i = 0; i < devices->list->len; i++)
    {
      HvDevice *device = g_ptr_array_index (devices->list, i);
      g_autoptr (GError) local = NULL;

      if (device->kind->order == HV_DEVICE_ORDER_PCI && hv_device_get_pci (device) == NULL)
        g_set_error (&local, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                     "it needs a PCI bus: the machine has no “pci-host” device");
      else if (!device->kind->realize (device, &local))
        {
          if (device->impl)
            device->kind->teardown (device);
          device->impl = NULL;
          if (local == NULL)
            g_set_error (&local, HV_ERROR, HV_ERROR_FAILED, "it could not be made");
        }
      if (local != NULL)
        {
          set_device_error (error, device, local);
          return FALSE;
        }
      device->realized = TRUE;
    }
  return TRUE;
}

gboolean
hv_devices_start (HvDevices *devices, GError **error)
{
  for (guint i = 0; i < devices->list->len; i++)
    {
      HvDevice *device = g_ptr_array_index (devices->list, i);
      g_autoptr (GError) local = NULL;

      if (device->realized && device->kind->start && !device->kind->start (device, &local))
        {
          set_device_error (error, device, local);
          return FALSE;
        }
    }
  return TRUE;
}

void
hv_devices_quiesce (HvDevices *devices, gboolean quiesced)
{
  for (guint i = 0; i < devices->list->len; i++)
    {
      HvDevice *device = g_ptr_array_index (devices->list, i);

      if (!device->realized || device->quiesced == quiesced)
        continue;
      if (device->kind->quiesce)
        device->kind->quiesce (device, quiesced);
      device->quiesced = quiesced;
    }
}

GVariant *
hv_devices_save (HvDevices *devices)
{
  GVariantBuilder sections;

  g_variant_builder_init (&sections, G_VARIANT_TYPE ("a{sa{sv}}"));
  for (guint i = 0; i < devices->list->len; i++)
    {
      HvDevice *device = g_ptr_array_index (devices->list, i);
      g_auto (GVariantDict) section = G_VARIANT_DICT_INIT (NULL);

      if (!device->realized || device->kind->save == NULL)
        continue;
      g_variant_dict_insert (&section, "kind", "s", device->kind->info->name);
      g_variant_dict_insert (&section, "version", "u", device->kind->state_version);
      g_variant_dict_insert_value (&section, "state", device->kind->save (device));
      g_variant_builder_add (&sections, "{s@a{sv}}", device->id, g_variant_dict_end (&section));
    }
  return g_variant_builder_end (&sections);
}

/* Checks a section's header against @device; returns its state. */
static GVariant *
check_section (HvDevice *device, GVariant *section, unsigned *version, GError **error)
{
  g_autofree char *what = g_strdup_printf ("device “%s”", device->id);
  g_autofree char *kind = NULL;
  g_autoptr (GVariant) state = NULL;

  if (!hv_state_get (section, what, "version", "u", version, error))
    return NULL;
  {
    g_autoptr (GVariant) value = hv_state_lookup (section, what, "kind", G_VARIANT_TYPE_STRING, error);
    if (value == NULL)
      return NULL;
    kind = g_variant_dup_string (value, NULL);
  }
  if (strcmp (kind, device->kind->info->name) != 0)
    {
      hv_state_set_bad (error, what, "it was a “%s”, but this machine's %s is a “%s”", kind, device->id,
                        device->kind->info->name);
      return NULL;
    }
  if (*version == 0 || *version > device->kind->state_version)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                   "the saved state of device “%s” (%s) has version %u; this version of Vireo "
                   "reads versions 1 to %u of it",
                   device->id, device->kind->info->name, *version, device->kind->state_version);
      return NULL;
    }
  state = hv_state_lookup (section, what, "state", G_VARIANT_TYPE_VARDICT, error);
  return g_steal_pointer (&state);
}

gboolean
hv_devices_load (HvDevices *devices, GVariant *sections, GError **error)
{
  g_autoptr (GHashTable) seen = NULL;

  g_return_val_if_fail (g_variant_is_of_type (sections, G_VARIANT_TYPE ("a{sa{sv}}")), FALSE);

  /* Every section must have its device, and only one section: a state from another machine
   * is refused rather than half applied. */
  seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (gsize i = 0; i < g_variant_n_children (sections); i++)
    {
      g_autoptr (GVariant) entry = g_variant_get_child_value (sections, i);
      g_autoptr (GVariant) key = g_variant_get_child_value (entry, 0);
      const char *id = g_variant_get_string (key, NULL);
      HvDevice *device = hv_devices_lookup (devices, id);

      if (device == NULL || !device->realized || device->kind->load == NULL)
        {
          hv_state_set_bad (error, "the VM", "it has a device “%s”, which this machine lacks", id);
          return FALSE;
        }
      if (!g_hash_table_add (seen, g_strdup (id)))
        {
          hv_state_set_bad (error, "the VM", "device “%s” has more than one section", id);
          return FALSE;
        }
    }

  for (guint i = 0; i < devices->list->len; i++)
    {
      HvDevice *device = g_ptr_array_index (devices->list, i);
      g_autoptr (GVariant) section = NULL;
      g_autoptr (GVariant) state = NULL;
      unsigned version;

      if (!device->realized || device->kind->load == NULL)
        continue;
      section = g_variant_lookup_value (sections, device->id, G_VARIANT_TYPE_VARDICT);
      if (section == NULL)
        {
          hv_state_set_bad (error, "the VM", "the state of device “%s” (%s) is missing", device->id,
                            device->kind->info->name);
          return FALSE;
        }
      state = check_section (device, section, &version, error);
      if (state == NULL)
        return FALSE;
      if (!device->kind->load (device, state, version, error))
        {
          g_prefix_error (error, "device “%s” (%s): ", device->id, device->kind->info->name);
          return FALSE;
        }
    }
  return TRUE;
}

const HvPlatform *
hv_device_get_platform (HvDevice *device)
{
  return device->devices->host.platform;
}

uint64_t
hv_device_get_ram_size (HvDevice *device)
{
  return device->devices->host.ram_size;
}

HvPci *
hv_device_get_pci (HvDevice *device)
{
  return hv_devices_get_impl (device->devices, "pci-host");
}

gboolean
hv_device_claim_pio (HvDevice *device, uint64_t base, uint64_t len, HvIoHandler handler, void *opaque,
                     GError **error)
{
  g_return_val_if_fail (device->devices->host.pio != NULL, FALSE);
  return hv_bus_register (device->devices->host.pio, base, len, device->id, handler, opaque, error);
}

gboolean
hv_device_claim_gsi (HvDevice *device, unsigned gsi, GError **error)
{
  HvDevices *devices = device->devices;

  if (gsi >= G_N_ELEMENTS (devices->gsi_owner))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "there is no interrupt line %u", gsi);
      return FALSE;
    }
  if (devices->gsi_owner[gsi] != NULL && devices->gsi_owner[gsi] != device)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "interrupt line %u is %s's already", gsi,
                   devices->gsi_owner[gsi]->id);
      return FALSE;
    }
  devices->gsi_owner[gsi] = device;
  return TRUE;
}

GPtrArray *
hv_devices_with_blocks (HvDevices *devices)
{
  GPtrArray *out = g_ptr_array_new ();

  for (guint i = 0; i < devices->list->len; i++)
    {
      HvDevice *device = g_ptr_array_index (devices->list, i);

      if (device->realized && device->kind->block != NULL && device->kind->block (device) != NULL)
        g_ptr_array_add (out, device);
    }
  return out;
}
