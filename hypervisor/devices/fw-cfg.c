/* fw-cfg.c — the fw_cfg device: numbered items and named files that firmware reads through the
 * selector/data ports and through DMA (FWCfgDmaAccess), with the file directory at key 0x19.
 *
 * Everything the guest hands us is hostile: a DMA descriptor and the buffer it names are used only when
 * they lie wholly in guest RAM (hv_memory_ptr), lengths are 32-bit and checked before any copy, unknown
 * keys read as zeros, and reads past an item's end give zeros, as QEMU's device does. */
#include "fw-cfg.h"
#include "device.h"
#include "memory.h"

#include <string.h>

#define SIGNATURE "QEMU"
#define N_ITEMS   HV_FW_CFG_FILE_FIRST
#define FILES_MAX 0x1000 /* keys 0x20..0x101f; QEMU allows a similar number */
/* The DMA address register reads as this ("QEMU CFG"), so a driver can find it. */
#define DMA_SIGNATURE G_GUINT64_CONSTANT (0x51454d5520434647)

typedef struct
{
  char *name;
  GBytes *data;
} FwFile;

struct _HvFwCfg
{
  GMutex lock;
  const HvPlatform *platform;
  GBytes *items[N_ITEMS];
  GPtrArray *files;  /* FwFile, sorted by name: file i has key HV_FW_CFG_FILE_FIRST + i */
  GBytes *directory; /* rebuilt when a file is added */
  uint16_t selector;
  uint32_t offset;   /* into the selected item */
  uint32_t dma_high; /* the high half of the DMA address, written first */
};

static void
file_free (gpointer data)
{
  FwFile *file = data;

  g_free (file->name);
  g_bytes_unref (file->data);
  g_free (file);
}

/* With the lock held (or before the device is shared): the directory, big-endian as the spec has it. */
static void
rebuild_directory_locked (HvFwCfg *fw)
{
  gsize size = 4 + 64 * (gsize) fw->files->len;
  uint8_t *dir = g_malloc0 (size);

  dir[0] = (uint8_t) (fw->files->len >> 24);
  dir[1] = (uint8_t) (fw->files->len >> 16);
  dir[2] = (uint8_t) (fw->files->len >> 8);
  dir[3] = (uint8_t) fw->files->len;
  for (guint i = 0; i < fw->files->len; i++)
    {
      const FwFile *file = g_ptr_array_index (fw->files, i);
      uint8_t *entry = dir + 4 + 64 * i;
      uint32_t file_size = (uint32_t) g_bytes_get_size (file->data);
      uint16_t key = (uint16_t) (HV_FW_CFG_FILE_FIRST + i);

      entry[0] = (uint8_t) (file_size >> 24);
      entry[1] = (uint8_t) (file_size >> 16);
      entry[2] = (uint8_t) (file_size >> 8);
      entry[3] = (uint8_t) file_size;
      entry[4] = (uint8_t) (key >> 8);
      entry[5] = (uint8_t) key;
      memcpy (entry + 8, file->name, strlen (file->name)); /* NUL-padded by g_malloc0 */
    }
  g_clear_pointer (&fw->directory, g_bytes_unref);
  fw->directory = g_bytes_new_take (dir, size);
}

HvFwCfg *
hv_fw_cfg_new (const HvPlatform *platform)
{
  HvFwCfg *fw = g_new0 (HvFwCfg, 1);
  uint32_t id = HV_FW_CFG_ID_TRADITIONAL;

  g_mutex_init (&fw->lock);
  fw->platform = platform;
  fw->files = g_ptr_array_new_with_free_func (file_free);
  fw->items[HV_FW_CFG_SIGNATURE] = g_bytes_new_static (SIGNATURE, 4);
  if (platform && platform->memory)
    id |= HV_FW_CFG_ID_DMA;
  id = GUINT32_TO_LE (id);
  fw->items[HV_FW_CFG_ID] = g_bytes_new (&id, sizeof id);
  rebuild_directory_locked (fw);
  return fw;
}

void
hv_fw_cfg_free (HvFwCfg *fw)
{
  if (fw == NULL)
    return;
  for (unsigned i = 0; i < N_ITEMS; i++)
    g_clear_pointer (&fw->items[i], g_bytes_unref);
  g_ptr_array_unref (fw->files);
  g_clear_pointer (&fw->directory, g_bytes_unref);
  g_mutex_clear (&fw->lock);
  g_free (fw);
}

void
hv_fw_cfg_set_item (HvFwCfg *fw, uint16_t key, GBytes *data)
{
  g_return_if_fail (key < N_ITEMS && key != HV_FW_CFG_SIGNATURE && key != HV_FW_CFG_ID
                    && key != HV_FW_CFG_FILE_DIR);
  g_mutex_lock (&fw->lock);
  g_clear_pointer (&fw->items[key], g_bytes_unref);
  fw->items[key] = g_bytes_ref (data);
  g_mutex_unlock (&fw->lock);
}

void
hv_fw_cfg_set_item_u16 (HvFwCfg *fw, uint16_t key, uint16_t value)
{
  g_autoptr (GBytes) data = NULL;

  value = GUINT16_TO_LE (value);
  data = g_bytes_new (&value, sizeof value);
  hv_fw_cfg_set_item (fw, key, data);
}

void
hv_fw_cfg_set_item_u64 (HvFwCfg *fw, uint16_t key, uint64_t value)
{
  g_autoptr (GBytes) data = NULL;

  value = GUINT64_TO_LE (value);
  data = g_bytes_new (&value, sizeof value);
  hv_fw_cfg_set_item (fw, key, data);
}

static gint
compare_files (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(FwFile *const *) a)->name, (*(FwFile *const *) b)->name);
}

gboolean
hv_fw_cfg_add_file (HvFwCfg *fw, const char *name, GBytes *data, GError **error)
{
  FwFile *file;

  g_return_val_if_fail (name != NULL && data != NULL, FALSE);

  if (*name == '\0' || strlen (name) >= HV_FW_CFG_NAME_MAX)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "“%s” cannot be a fw_cfg file name: it must be 1 to %d bytes long", name,
                   HV_FW_CFG_NAME_MAX - 1);
      return FALSE;
    }
  if (g_bytes_get_size (data) > G_MAXUINT32)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_TOO_LARGE, "fw_cfg file “%s” is larger than 4 GiB", name);
      return FALSE;
    }

  g_mutex_lock (&fw->lock);
  for (guint i = 0; i < fw->files->len; i++)
    {
      FwFile *existing = g_ptr_array_index (fw->files, i);
      if (strcmp (existing->name, name) == 0)
        {
          g_bytes_unref (existing->data);
          existing->data = g_bytes_ref (data);
          rebuild_directory_locked (fw);
          g_mutex_unlock (&fw->lock);
          return TRUE;
        }
    }
  if (fw->files->len >= FILES_MAX)
    {
      g_mutex_unlock (&fw->lock);
      g_set_error (error, HV_ERROR, HV_ERROR_TOO_LARGE, "fw_cfg has no room for file “%s” (%d files)", name,
                   FILES_MAX);
      return FALSE;
    }
  file = g_new0 (FwFile, 1);
  file->name = g_strdup (name);
  file->data = g_bytes_ref (data);
  g_ptr_array_add (fw->files, file);
  g_ptr_array_sort (fw->files, compare_files);
  rebuild_directory_locked (fw);
  g_mutex_unlock (&fw->lock);
  return TRUE;
}

uint16_t
hv_fw_cfg_get_file_key (HvFwCfg *fw, const char *name)
{
  uint16_t key = 0;

  g_mutex_lock (&fw->lock);
  for (guint i = 0; i < fw->files->len; i++)
    if (strcmp (((FwFile *) g_ptr_array_index (fw->files, i))->name, name) == 0)
      key = (uint16_t) (HV_FW_CFG_FILE_FIRST + i);
  g_mutex_unlock (&fw->lock);
  return key;
}

/* With the lock held: the selected item's bytes, or NULL for a key that holds nothing. */
static GBytes *
selected_locked (HvFwCfg *fw)
{
  uint16_t key = fw->selector;

  if (key == HV_FW_CFG_FILE_DIR)
    return fw->directory;
  if (key < N_ITEMS)
    return fw->items[key];
  if ((guint) (key - HV_FW_CFG_FILE_FIRST) < fw->files->len)
    return ((FwFile *) g_ptr_array_index (fw->files, key - HV_FW_CFG_FILE_FIRST))->data;
  return NULL;
}

static void
select_locked (HvFwCfg *fw, uint16_t key)
{
  fw->selector = key;
  fw->offset = 0;
}

/* Copies up to @len bytes of the selected item from the current offset into @out (NULL: skips them),
 * zeros past the end, and advances. */
static void
read_locked (HvFwCfg *fw, uint8_t *out, uint32_t len)
{
  GBytes *item = selected_locked (fw);
  gsize size = 0;
  const uint8_t *bytes = item ? g_bytes_get_data (item, &size) : NULL;
  uint32_t available = fw->offset < size ? (uint32_t) (size - fw->offset) : 0;
  uint32_t n = MIN (len, available);

  if (out)
    {
      if (n)
        memcpy (out, bytes + fw->offset, n);
      memset (out + n, 0, len - n);
    }
  /* The offset stops at the end: past it everything reads as zero anyway. */
  fw->offset += n;
}

void
hv_fw_cfg_io (void *opaque, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write)
{
  HvFwCfg *fw = opaque;

  g_mutex_lock (&fw->lock);
  if (is_write && offset == 0 && len == 2)
    select_locked (fw, (uint16_t) (data[0] | (data[1] << 8)));
  else if (!is_write && len == 1)
    read_locked (fw, data, 1);
  /* Other widths, and writes to the data port (deprecated, and nothing here is writable), do nothing:
   * reads keep the bus's 0xff. */
  g_mutex_unlock (&fw->lock);
}

static uint32_t
get_be32 (const uint8_t *p)
{
  return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}

/* Runs the FWCfgDmaAccess at guest address @address. */
static void
dma_transfer_locked (HvFwCfg *fw, uint64_t address)
{
  HvMemory *memory = fw->platform ? fw->platform->memory : NULL;
  uint8_t *access;
  uint32_t control, length, status = 0;
  uint64_t buffer;

  if (memory == NULL)
    return;
  /* A descriptor outside RAM cannot even take an error status: the transfer is dropped. */
  access = hv_memory_ptr (memory, address, 16);
  if (access == NULL)
    return;
  control = get_be32 (access);
  length = get_be32 (access + 4);
  buffer = ((uint64_t) get_be32 (access + 8) << 32) | get_be32 (access + 12);

  if (control & HV_FW_CFG_DMA_SELECT)
    select_locked (fw, (uint16_t) (control >> 16));

  if (control & HV_FW_CFG_DMA_WRITE)
    status = HV_FW_CFG_DMA_ERROR; /* nothing is writable */
  else if (control & HV_FW_CFG_DMA_READ)
    {
      uint8_t *out = hv_memory_ptr (memory, buffer, length);
      if (out == NULL)
        status = HV_FW_CFG_DMA_ERROR;
      else
        read_locked (fw, out, length);
    }
  else if (control & HV_FW_CFG_DMA_SKIP)
    read_locked (fw, NULL, length);

  /* Finished: control becomes 0, or just the error bit.  Written last, big-endian; the guest polls it. */
  access[0] = access[1] = access[2] = 0;
  __atomic_store_n (&access[3], (uint8_t) status, __ATOMIC_RELEASE);
}

void
hv_fw_cfg_dma_io (void *opaque, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write)
{
  HvFwCfg *fw = opaque;

  g_mutex_lock (&fw->lock);
  if (!is_write)
    {
      for (unsigned i = 0; i < len && offset + i < 8; i++)
        data[i] = (uint8_t) (DMA_SIGNATURE >> (8 * (7 - (offset + i))));
    }
  else if (offset == 0 && len == 4)
    fw->dma_high = get_be32 (data);
  else if (offset == 4 && len == 4)
    {
      /* The low half starts the transfer; the high half applies once. */
      uint64_t address = ((uint64_t) fw->dma_high << 32) | get_be32 (data);
      fw->dma_high = 0;
      dma_transfer_locked (fw, address);
    }
  else if (offset == 0 && len == 8)
    {
      uint64_t address = ((uint64_t) get_be32 (data) << 32) | get_be32 (data + 4);
      fw->dma_high = 0;
      dma_transfer_locked (fw, address);
    }
  g_mutex_unlock (&fw->lock);
}

/* The "fw-cfg" kind: part of a machine that boots firmware; the machine fills it (pc.c). */

static gboolean
fw_cfg_realize (HvDevice *device, GError **error)
{
  device->impl = hv_fw_cfg_new (hv_device_get_platform (device));
  return hv_device_claim_pio (device, HV_PORT_FW_CFG_SELECTOR, 2, hv_fw_cfg_io, device->impl, error)
         && hv_device_claim_pio (device, HV_PORT_FW_CFG_DMA, 8, hv_fw_cfg_dma_io, device->impl, error);
}

static void
fw_cfg_teardown (HvDevice *device)
{
  hv_fw_cfg_free (device->impl);
}

const HvDeviceKind hv_fw_cfg_kind = {
  .info = &hv_kind_info_fw_cfg,
  .order = HV_DEVICE_ORDER_PLATFORM,
  .state_version = 1,
  .realize = fw_cfg_realize,
  .teardown = fw_cfg_teardown,
};
