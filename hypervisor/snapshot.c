/* snapshot.c — saving a paused VM to a folder and restoring it: the state and memory file formats, the
 * order in which the parts are collected and applied, and the checks a file from disk must pass.
 *
 * "state" is a 32-byte header, then a serialized GVariant a{sv} (little-endian, normal form):
 *
 *     0  "VIREOSAV"   magic
 *     8  u32          format version (HV_STATE_VERSION)
 *    12  u32          flags, 0
 *    16  u64          length of the GVariant that follows
 *    24  u64          CRC-64/XZ of bytes 0..23 and of the GVariant
 *
 *   "memory-size" t, "vcpu-count" u, "memory-id" ay (16 bytes, also in the memory file's header),
 *   "vcpus" aa{sv} (x86/vcpu-state.c), "vm" a{sv} (PIC, IOAPIC, PIT, clock), "devices" a{sa{sv}} (one
 *   dictionary per device, written by the device's own save function), "saved-at" x (µs since the epoch)
 *   and "writer" s, both for people.
 *
 * "memory" is a 4 KiB header page (magic "VIREOMEM", version, memory size, the memory id, a CRC-64 of
 * those), then the guest's RAM at file offset 4096, with holes where the guest never wrote and where
 * whole pages are zero.  The id binds the pair: the two files are renamed into place one after the other,
 * so a crash in between leaves a pair whose ids differ, which restoring refuses.
 *
 * Saving: the vCPUs, parked, each read their own KVM state on their own threads after completing the
 * instruction of their last exit; then the VM's irqchip, PIT and clock, the devices, and the memory.
 * Restoring builds the machine as a boot does, then writes the memory, the VM state, each vCPU's state and
 * the devices' state in that order (devices last: they re-raise their interrupt lines into the restored
 * interrupt controllers). */
#include "snapshot.h"
#include "vm-private.h"
#include "x86/vcpu-state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define HV_STATE_VERSION   1u
#define STATE_MAGIC        "VIREOSAV"
#define STATE_HEADER_SIZE  32
#define STATE_MAX_BODY     (16u << 20) /* 64 vCPUs take well under 2 MiB */
#define MEMORY_MAGIC       "VIREOMEM"
#define MEMORY_VERSION     1u
#define MEMORY_HEADER_SIZE 4096
#define MEMORY_HEADER_USED 48
#define MEMORY_ID_SIZE     16
#define PAGE_SIZE          4096
#define COPY_CHUNK         (1u << 20)

#define STATE_FILE      "state"
#define STATE_TEMP      "state.tmp"
#define MEMORY_FILE     "memory"
#define MEMORY_TEMP     "memory.tmp"

struct _HvRestore
{
  GVariant *state; /* the whole saved state, checked */
  int memory_fd;
  uint64_t memory_size;
  unsigned n_vcpus;
};

/* State helpers. */

GVariant *
hv_state_new_bytes (const void *data, gsize len)
{
  return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, data, len, 1);
}

void
hv_state_set_bad (GError **error, const char *what, const char *format, ...)
{
  g_autofree char *reason = NULL;
  va_list args;

  va_start (args, format);
  reason = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "the saved state of %s is not valid: %s", what, reason);
}

GVariant *
hv_state_lookup (GVariant *dict, const char *what, const char *key, const GVariantType *type,
                 GError **error)
{
  GVariant *value = g_variant_lookup_value (dict, key, NULL);

  if (value == NULL)
    {
      hv_state_set_bad (error, what, "“%s” is missing", key);
      return NULL;
    }
  if (!g_variant_is_of_type (value, type))
    {
      g_autofree char *expected = g_variant_type_dup_string (type);
      hv_state_set_bad (error, what, "“%s” is of type %s, not %s", key, g_variant_get_type_string (value),
                        expected);
      g_variant_unref (value);
      return NULL;
    }
  return value;
}

gboolean
hv_state_get (GVariant *dict, const char *what, const char *key, const char *format, void *out,
              GError **error)
{
  g_autoptr (GVariant) value = NULL;

  g_return_val_if_fail (strlen (format) == 1 && strchr ("byqutx", format[0]) != NULL, FALSE);
  value = hv_state_lookup (dict, what, key, G_VARIANT_TYPE (format), error);
  if (value == NULL)
    return FALSE;
  g_variant_get (value, format, out);
  return TRUE;
}

gboolean
hv_state_get_max (GVariant *dict, const char *what, const char *key, const char *format, uint64_t max,
                  void *out, GError **error)
{
  uint64_t value;

  g_return_val_if_fail (strchr ("yqut", format[0]) != NULL, FALSE);
  if (!hv_state_get (dict, what, key, format, out, error))
    return FALSE;
  switch (format[0])
    {
    case 'y':
      value = *(uint8_t *) out;
      break;
    case 'q':
      value = *(uint16_t *) out;
      break;
    case 'u':
      value = *(uint32_t *) out;
      break;
    default:
      value = *(uint64_t *) out;
      break;
    }
  if (value > max)
    {
      hv_state_set_bad (error, what, "“%s” is out of range", key);
      return FALSE;
    }
  return TRUE;
}

gboolean
hv_state_get_bytes (GVariant *dict, const char *what, const char *key, void *buffer, gsize min_len,
                    gsize max_len, gsize *len, GError **error)
{
  g_autoptr (GVariant) value = hv_state_lookup (dict, what, key, G_VARIANT_TYPE_BYTESTRING, error);
  const void *data;
  gsize n;

  if (value == NULL)
    return FALSE;
  data = g_variant_get_fixed_array (value, &n, 1);
  if (n < min_len || n > max_len)
    {
      if (min_len == max_len)
        hv_state_set_bad (error, what, "“%s” is %" G_GSIZE_FORMAT " bytes long, not %" G_GSIZE_FORMAT, key,
                          n, min_len);
      else
        hv_state_set_bad (error, what, "“%s” is %" G_GSIZE_FORMAT " bytes long, not %" G_GSIZE_FORMAT
                          " to %" G_GSIZE_FORMAT, key, n, min_len, max_len);
      return FALSE;
    }
  if (n > 0)
    memcpy (buffer, data, n);
  if (len)
    *len = n;
  return TRUE;
}

uint64_t
hv_crc64 (uint64_t crc, const void *data, gsize len)
{
  static uint64_t table[256];
  static gsize initialized;
  const uint8_t *p = data;

  if (g_once_init_enter (&initialized))
    {
      for (unsigned i = 0; i < 256; i++)
        {
          uint64_t c = i;
          for (unsigned bit = 0; bit < 8; bit++)
            c = (c & 1) ? (c >> 1) ^ G_GUINT64_CONSTANT (0xC96C5795D7870F42) : c >> 1;
          table[i] = c;
        }
      g_once_init_leave (&initialized, 1);
    }
  crc = ~crc;
  for (gsize i = 0; i < len; i++)
    crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

/* Files. */

static void
put_le32 (uint8_t *p, uint32_t v)
{
  v = GUINT32_TO_LE (v);
  memcpy (p, &v, sizeof v);
}

static void
put_le64 (uint8_t *p, uint64_t v)
{
  v = GUINT64_TO_LE (v);
  memcpy (p, &v, sizeof v);
}

static uint32_t
get_le32 (const uint8_t *p)
{
  uint32_t v;
  memcpy (&v, p, sizeof v);
  return GUINT32_FROM_LE (v);
}

static uint64_t
get_le64 (const uint8_t *p)
{
  uint64_t v;
  memcpy (&v, p, sizeof v);
  return GUINT64_FROM_LE (v);
}

static HvError
error_code_for_errno (int err)
{
  if (err == ENOENT)
    return HV_ERROR_NOT_FOUND;
  if (err == EACCES || err == EPERM)
    return HV_ERROR_PERMISSION;
  return HV_ERROR_FAILED;
}

static gboolean
write_all (int fd, const void *data, gsize len, off_t offset, const char *file, GError **error)
{
  const uint8_t *p = data;

  while (len > 0)
    {
      ssize_t n = pwrite (fd, p, MIN (len, (gsize) G_MAXSSIZE), offset);
      if (n < 0)
        {
          int saved = errno;
          if (saved == EINTR)
            continue;
          g_set_error (error, HV_ERROR, error_code_for_errno (saved), "cannot write the saved %s: %s", file,
                       g_strerror (saved));
          return FALSE;
        }
      p += n;
      len -= (gsize) n;
      offset += n;
    }
  return TRUE;
}

static gboolean
read_all (int fd, void *data, gsize len, off_t offset, const char *file, GError **error)
{
  uint8_t *p = data;

  while (len > 0)
    {
      ssize_t n = pread (fd, p, len, offset);
      if (n < 0)
        {
          int saved = errno;
          if (saved == EINTR)
            continue;
          g_set_error (error, HV_ERROR, error_code_for_errno (saved), "cannot read the saved %s: %s", file,
                       g_strerror (saved));
          return FALSE;
        }
      if (n == 0)
        {
          g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "the saved %s ends early: it was truncated",
                       file);
          return FALSE;
        }
      p += n;
      len -= (gsize) n;
      offset += n;
    }
  return TRUE;
}

/* Creates @name in @dir_fd for writing, replacing a leftover from an interrupted save. */
static int
create_temp (int dir_fd, const char *name, const char *file, GError **error)
{
  int fd;

  if (unlinkat (dir_fd, name, 0) < 0 && errno != ENOENT)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, error_code_for_errno (saved), "cannot replace the old %s: %s", name,
                   g_strerror (saved));
      return -1;
    }
  /* Guest memory may hold anything the guest knows: only the owner may read it. */
  fd = openat (dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, error_code_for_errno (saved), "cannot create the saved %s: %s", file,
                   g_strerror (saved));
    }
  return fd;
}

static gboolean
finish_file (int fd, const char *file, GError **error)
{
  int failed = fsync (fd);
  int saved = errno;

  if (close (fd) < 0 && failed == 0)
    {
      failed = -1;
      saved = errno;
    }
  if (failed < 0)
    {
      g_set_error (error, HV_ERROR, error_code_for_errno (saved), "cannot write the saved %s to disk: %s",
                   file, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

static gboolean
page_is_zero (const uint8_t *page)
{
  static const uint8_t zero[PAGE_SIZE];
  return memcmp (page, zero, PAGE_SIZE) == 0;
}

/* Writes the pages of [@start, @end) of guest RAM that are not all zero, leaving holes for the rest. */
static gboolean
write_nonzero_pages (int fd, const HvMemory *mem, uint64_t start, uint64_t end, uint64_t *written,
                     GError **error)
{
  uint64_t page = start;

  while (page < end)
    {
      uint64_t run_end;

      while (page < end && page_is_zero (mem->base + page))
        page += PAGE_SIZE;
      if (page >= end)
        break;
      run_end = page + PAGE_SIZE;
      while (run_end < end && run_end - page < COPY_CHUNK && !page_is_zero (mem->base + run_end))
        run_end += PAGE_SIZE;
      if (!write_all (fd, mem->base + page, run_end - page, (off_t) (MEMORY_HEADER_SIZE + page), "memory",
                      error))
        return FALSE;
      *written += run_end - page;
      page = run_end;
    }
  return TRUE;
}

static void
memory_header (uint8_t header[MEMORY_HEADER_USED], uint64_t memory_size, const uint8_t id[MEMORY_ID_SIZE])
{
  memset (header, 0, MEMORY_HEADER_USED);
  memcpy (header, MEMORY_MAGIC, 8);
  put_le32 (header + 8, MEMORY_VERSION);
  put_le64 (header + 16, memory_size);
  memcpy (header + 24, id, MEMORY_ID_SIZE);
  put_le64 (header + 40, hv_crc64 (0, header, 40));
}

static gboolean
write_memory_file (HvVm *vm, int dir_fd, const uint8_t id[MEMORY_ID_SIZE], uint64_t *written,
                   GError **error)
{
  const HvMemory *mem = &vm->memory;
  uint8_t header[MEMORY_HEADER_USED];
  uint64_t offset = 0;
  int fd = create_temp (dir_fd, MEMORY_TEMP, "memory", error);

  if (fd < 0)
    return FALSE;
  memory_header (header, mem->size, id);
  if (ftruncate (fd, (off_t) (MEMORY_HEADER_SIZE + mem->size)) < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, error_code_for_errno (saved), "cannot size the saved memory: %s",
                   g_strerror (saved));
      goto fail;
    }
  if (!write_all (fd, header, sizeof header, 0, "memory", error))
    goto fail;

  /* Only what the guest ever touched is backed by the memfd; the rest reads as zeros anyway. */
  *written = 0;
  while (offset < mem->size)
    {
      off_t data = lseek (mem->memfd, (off_t) offset, SEEK_DATA);
      off_t hole;

      if (data < 0 && errno == ENXIO)
        break;
      if (data < 0)
        {
          /* A memfd without SEEK_DATA: look at every page. */
          data = (off_t) offset;
          hole = (off_t) mem->size;
        }
      else
        {
          hole = lseek (mem->memfd, data, SEEK_HOLE);
          if (hole < 0)
            hole = (off_t) mem->size;
        }
      hole = MIN (hole, (off_t) mem->size);
      if (!write_nonzero_pages (fd, mem, (uint64_t) data, (uint64_t) hole, written, error))
        goto fail;
      offset = (uint64_t) hole;
    }
  return finish_file (fd, "memory", error);

fail:
  close (fd);
  return FALSE;
}

static gboolean
write_state_file (int dir_fd, GVariant *state, GError **error)
{
  g_autoptr (GBytes) body = g_variant_get_data_as_bytes (state);
  uint8_t header[STATE_HEADER_SIZE] = { 0 };
  gsize len;
  const void *data = g_bytes_get_data (body, &len);
  int fd;

  memcpy (header, STATE_MAGIC, 8);
  put_le32 (header + 8, HV_STATE_VERSION);
  put_le64 (header + 16, len);
  put_le64 (header + 24, hv_crc64 (hv_crc64 (0, header, 24), data, len));

  fd = create_temp (dir_fd, STATE_TEMP, "state", error);
  if (fd < 0)
    return FALSE;
  if (!write_all (fd, header, sizeof header, 0, "state", error)
      || !write_all (fd, data, len, STATE_HEADER_SIZE, "state", error))
    {
      close (fd);
      return FALSE;
    }
  return finish_file (fd, "state", error);
}

/* Saving. */

typedef struct
{
  HvVm *vm;
  GVariant **vcpus;
} SaveContext;

static gboolean
save_vcpu (HvVcpu *vcpu, void *data, GError **error)
{
  SaveContext *ctx = data;
  GVariant *state;

  if (!hv_vcpu_complete_io (vcpu, error))
    return FALSE;
  state = hv_vcpu_state_save (ctx->vm->kvm_fd, ctx->vm->vm_fd, vcpu->fd, vcpu->index, error);
  if (state == NULL)
    return FALSE;
  ctx->vcpus[vcpu->index] = g_variant_ref_sink (state);
  return TRUE;
}

typedef struct
{
  const char *name;
  GVariant *(*save) (HvVm *vm);
  gboolean (*load) (HvVm *vm, GVariant *state, GError **error);
} DeviceState;

static GVariant *
save_serial (HvVm *vm)
{
  return hv_serial_save_state (vm->serial);
}

static gboolean
load_serial (HvVm *vm, GVariant *state, GError **error)
{
  return hv_serial_load_state (vm->serial, state, error);
}

static GVariant *
save_i8042 (HvVm *vm)
{
  return hv_i8042_save_state (vm->i8042);
}

static gboolean
load_i8042 (HvVm *vm, GVariant *state, GError **error)
{
  return hv_i8042_load_state (vm->i8042, state, error);
}

static GVariant *
save_rtc (HvVm *vm)
{
  return hv_rtc_save_state (vm->rtc);
}

static gboolean
load_rtc (HvVm *vm, GVariant *state, GError **error)
{
  return hv_rtc_load_state (vm->rtc, state, error);
}

static GVariant *
save_acpi_pm (HvVm *vm)
{
  return hv_acpi_pm_save_state (vm->acpi_pm);
}

static gboolean
load_acpi_pm (HvVm *vm, GVariant *state, GError **error)
{
  return hv_acpi_pm_load_state (vm->acpi_pm, state, error);
}

static GVariant *
save_pci (HvVm *vm)
{
  return hv_pci_save_state (vm->pci);
}

static gboolean
load_pci (HvVm *vm, GVariant *state, GError **error)
{
  return hv_pci_load_state (vm->pci, state, error);
}

/* Every device of the machine, by the name its state is saved under.  PCI comes first on load so the BARs
 * are where the devices behind them expect. */
static const DeviceState devices[] = {
  { "pci", save_pci, load_pci },
  { "serial", save_serial, load_serial },
  { "i8042", save_i8042, load_i8042 },
  { "rtc", save_rtc, load_rtc },
  { "acpi-pm", save_acpi_pm, load_acpi_pm },
};

static void
new_memory_id (uint8_t id[MEMORY_ID_SIZE])
{
  if (getrandom (id, MEMORY_ID_SIZE, GRND_NONBLOCK) == MEMORY_ID_SIZE)
    return;
  /* Without entropy yet, the id still only has to differ from the previous save's. */
  for (unsigned i = 0; i < MEMORY_ID_SIZE; i += 4)
    put_le32 (id + i, g_random_int () ^ (uint32_t) (g_get_real_time () >> (i * 2)));
}

static gboolean
require_paused (HvVm *vm, GError **error)
{
  gboolean ok;

  g_mutex_lock (&vm->lock);
  ok = vm->state == HV_VM_RUNNING && !vm->exiting && vm->paused && vm->n_parked == vm->n_live;
  g_mutex_unlock (&vm->lock);
  if (!ok)
    g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE,
                 "only a paused VM can be saved: pause it first");
  return ok;
}

static GVariant *
build_state (HvVm *vm, GVariant **vcpus, GVariant *vm_state, const uint8_t id[MEMORY_ID_SIZE])
{
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  GVariantBuilder list;

  g_variant_dict_insert (&dict, "memory-size", "t", (guint64) vm->memory.size);
  g_variant_dict_insert (&dict, "vcpu-count", "u", vm->n_vcpus);
  g_variant_dict_insert_value (&dict, "memory-id", hv_state_new_bytes (id, MEMORY_ID_SIZE));
  g_variant_dict_insert (&dict, "saved-at", "x", g_get_real_time ());
  g_variant_dict_insert (&dict, "writer", "s", "vireo " VIREO_VERSION);

  g_variant_builder_init (&list, G_VARIANT_TYPE ("aa{sv}"));
  for (unsigned i = 0; i < vm->n_vcpus; i++)
    g_variant_builder_add_value (&list, vcpus[i]);
  g_variant_dict_insert_value (&dict, "vcpus", g_variant_builder_end (&list));
  g_variant_dict_insert_value (&dict, "vm", vm_state);

  g_variant_builder_init (&list, G_VARIANT_TYPE ("a{sa{sv}}"));
  for (gsize i = 0; i < G_N_ELEMENTS (devices); i++)
    g_variant_builder_add (&list, "{s@a{sv}}", devices[i].name, devices[i].save (vm));
  g_variant_dict_insert_value (&dict, "devices", g_variant_builder_end (&list));
  return g_variant_ref_sink (g_variant_dict_end (&dict));
}

gboolean
hv_vm_save (HvVm *vm, int dir_fd, GError **error)
{
  SaveContext ctx = { .vm = vm };
  g_autoptr (GVariant) state = NULL;
  GVariant *vm_state;
  uint8_t id[MEMORY_ID_SIZE];
  uint64_t written = 0;
  gint64 start = g_get_monotonic_time ();
  gint64 cpus_done;
  gint64 memory_done;
  gboolean ok = FALSE;

  g_return_val_if_fail (vm != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!require_paused (vm, error))
    return FALSE;
  ctx.vcpus = g_new0 (GVariant *, vm->n_vcpus);
  if (!hv_vm_run_on_parked_vcpus (vm, save_vcpu, &ctx, error))
    goto out;
  vm_state = hv_vm_kvm_state_save (vm->vm_fd, error);
  if (vm_state == NULL)
    goto out;
  new_memory_id (id);
  state = build_state (vm, ctx.vcpus, vm_state, id);
  cpus_done = g_get_monotonic_time ();

  if (!write_memory_file (vm, dir_fd, id, &written, error))
    goto out;
  memory_done = g_get_monotonic_time ();
  if (!write_state_file (dir_fd, state, error))
    goto out;

  /* Memory first: until the new state is in place, the old state names the old memory id and refuses
   * the new memory file rather than pairing with it. */
  if (renameat (dir_fd, MEMORY_TEMP, dir_fd, MEMORY_FILE) < 0
      || renameat (dir_fd, STATE_TEMP, dir_fd, STATE_FILE) < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, error_code_for_errno (saved), "cannot put the saved VM in place: %s",
                   g_strerror (saved));
      goto out;
    }
  if (fsync (dir_fd) < 0 && errno != EINVAL)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, error_code_for_errno (saved),
                   "cannot write the saved VM's folder to disk: %s", g_strerror (saved));
      goto out;
    }
  g_debug ("saved the VM in %" G_GINT64_FORMAT " ms: vCPUs and devices %" G_GINT64_FORMAT " ms, %"
           G_GUINT64_FORMAT " KiB of %" G_GUINT64_FORMAT " MiB memory %" G_GINT64_FORMAT " ms, state %"
           G_GSIZE_FORMAT " bytes",
           (g_get_monotonic_time () - start) / 1000, (cpus_done - start) / 1000, written >> 10,
           vm->memory.size >> 20, (memory_done - cpus_done) / 1000, g_variant_get_size (state));
  ok = TRUE;

out:
  if (!ok)
    {
      unlinkat (dir_fd, MEMORY_TEMP, 0);
      unlinkat (dir_fd, STATE_TEMP, 0);
    }
  for (unsigned i = 0; i < vm->n_vcpus; i++)
    g_clear_pointer (&ctx.vcpus[i], g_variant_unref);
  g_free (ctx.vcpus);
  return ok;
}

/* Restoring. */

void
hv_restore_free (HvRestore *restore)
{
  if (restore == NULL)
    return;
  g_clear_pointer (&restore->state, g_variant_unref);
  if (restore->memory_fd >= 0)
    close (restore->memory_fd);
  g_free (restore);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HvRestore, hv_restore_free)

static int
open_saved_file (int dir_fd, const char *name, const char *file, struct stat *st, GError **error)
{
  int fd = openat (dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);

  if (fd < 0)
    {
      int saved = errno;
      if (saved == ENOENT)
        g_set_error (error, HV_ERROR, HV_ERROR_NOT_FOUND,
                     "the saved VM is incomplete: its %s file (“%s”) is missing", file, name);
      else
        g_set_error (error, HV_ERROR, error_code_for_errno (saved), "cannot open the saved %s: %s", file,
                     g_strerror (saved));
      return -1;
    }
  if (fstat (fd, st) < 0 || !S_ISREG (st->st_mode))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "the saved %s (“%s”) is not a regular file", file,
                   name);
      close (fd);
      return -1;
    }
  return fd;
}

/* Reads "state" and checks its header and checksum; returns the GVariant, in normal form. */
static GVariant *
read_state_file (int dir_fd, GError **error)
{
  struct stat st;
  uint8_t header[STATE_HEADER_SIZE];
  g_autofree uint8_t *body = NULL;
  uint64_t length;
  uint32_t version;
  GBytes *bytes;
  GVariant *state;
  int fd = open_saved_file (dir_fd, STATE_FILE, "state", &st, error);

  if (fd < 0)
    return NULL;
  if (st.st_size < 8 || !read_all (fd, header, 8, 0, "state", NULL) || memcmp (header, STATE_MAGIC, 8) != 0)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "“state” is not a Vireo saved state");
      goto fail;
    }
  if (st.st_size < STATE_HEADER_SIZE)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "the saved state is truncated (%" G_GINT64_FORMAT
                   " bytes)", (gint64) st.st_size);
      goto fail;
    }
  if (!read_all (fd, header, sizeof header, 0, "state", error))
    goto fail;
  version = get_le32 (header + 8);
  length = get_le64 (header + 16);
  if (version != HV_STATE_VERSION || get_le32 (header + 12) != 0)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                   "the saved state has format version %u; this version of Vireo reads version %u", version,
                   HV_STATE_VERSION);
      goto fail;
    }
  if (length > STATE_MAX_BODY)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "the saved state claims to be %" G_GUINT64_FORMAT
                   " bytes long, more than a saved state can be", length);
      goto fail;
    }
  if ((uint64_t) st.st_size != STATE_HEADER_SIZE + length)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                   "the saved state is %s: its header announces %" G_GUINT64_FORMAT " bytes, the file "
                   "holds %" G_GINT64_FORMAT,
                   (uint64_t) st.st_size < STATE_HEADER_SIZE + length ? "truncated" : "followed by garbage",
                   length, (gint64) st.st_size - STATE_HEADER_SIZE);
      goto fail;
    }
  body = g_malloc (MAX (length, 1));
  if (!read_all (fd, body, length, STATE_HEADER_SIZE, "state", error))
    goto fail;
  close (fd);
  fd = -1;
  if (hv_crc64 (hv_crc64 (0, header, 24), body, length) != get_le64 (header + 24))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                   "the saved state is damaged: its checksum does not match its contents");
      return NULL;
    }

  bytes = g_bytes_new_take (g_steal_pointer (&body), length);
  state = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE_VARDICT, bytes, FALSE));
  g_bytes_unref (bytes);
  if (!g_variant_is_normal_form (state))
    {
      g_variant_unref (state);
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "the saved state is malformed");
      return NULL;
    }
  return state;

fail:
  if (fd >= 0)
    close (fd);
  return NULL;
}

/* Opens "memory" and checks that it belongs to the state (same id and size). */
static int
open_memory_file (int dir_fd, uint64_t memory_size, const uint8_t id[MEMORY_ID_SIZE], GError **error)
{
  struct stat st;
  uint8_t header[MEMORY_HEADER_USED];
  uint8_t expected[MEMORY_HEADER_USED];
  int fd = open_saved_file (dir_fd, MEMORY_FILE, "memory", &st, error);

  if (fd < 0)
    return -1;
  if (st.st_size < MEMORY_HEADER_SIZE || !read_all (fd, header, sizeof header, 0, "memory", NULL)
      || memcmp (header, MEMORY_MAGIC, 8) != 0 || hv_crc64 (0, header, 40) != get_le64 (header + 40))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "“memory” is not the memory of a saved Vireo VM");
      goto fail;
    }
  memory_header (expected, memory_size, id);
  if (memcmp (header, expected, sizeof header) != 0)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                   "the saved memory belongs to another saved state (an interrupted save?)");
      goto fail;
    }
  if ((uint64_t) st.st_size != MEMORY_HEADER_SIZE + memory_size)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                   "the saved memory is %" G_GINT64_FORMAT " bytes long; %" G_GUINT64_FORMAT " MiB of "
                   "memory take %" G_GUINT64_FORMAT, (gint64) st.st_size, memory_size >> 20,
                   MEMORY_HEADER_SIZE + memory_size);
      goto fail;
    }
  return fd;

fail:
  close (fd);
  return -1;
}

static gboolean
check_config (HvVm *vm, uint64_t memory_size, unsigned n_vcpus, GError **error)
{
  if (memory_size != vm->memory_size)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "the saved VM has %" G_GUINT64_FORMAT " MiB of memory, but this one is configured with %"
                   G_GUINT64_FORMAT " MiB", memory_size >> 20, vm->memory_size >> 20);
      return FALSE;
    }
  if (n_vcpus != vm->n_vcpus)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "the saved VM has %u vCPUs, but this one is configured with %u", n_vcpus, vm->n_vcpus);
      return FALSE;
    }
  return TRUE;
}

/* Checks everything in the state that can be checked without the machine: the top level, the vCPUs and
 * the VM's KVM state.  Devices are checked as they load (they need the devices). */
static gboolean
check_state (GVariant *state, uint64_t *memory_size, unsigned *n_vcpus, uint8_t id[MEMORY_ID_SIZE],
             GError **error)
{
  g_autoptr (GVariant) vcpus = NULL;
  g_autoptr (GVariant) vm_state = NULL;
  g_autoptr (GVariant) device_states = NULL;

  if (!hv_state_get (state, "the VM", "memory-size", "t", memory_size, error)
      || !hv_state_get (state, "the VM", "vcpu-count", "u", n_vcpus, error)
      || !hv_state_get_bytes (state, "the VM", "memory-id", id, MEMORY_ID_SIZE, MEMORY_ID_SIZE, NULL, error))
    return FALSE;
  if (*memory_size < HV_MEMORY_MIN || (*memory_size & (PAGE_SIZE - 1)) != 0
      || *n_vcpus < HV_VCPUS_MIN || *n_vcpus > HV_VCPUS_MAX)
    {
      hv_state_set_bad (error, "the VM", "its memory size or vCPU count is out of range");
      return FALSE;
    }
  vcpus = hv_state_lookup (state, "the VM", "vcpus", G_VARIANT_TYPE ("aa{sv}"), error);
  if (vcpus == NULL)
    return FALSE;
  if (g_variant_n_children (vcpus) != *n_vcpus)
    {
      hv_state_set_bad (error, "the VM", "it has %" G_GSIZE_FORMAT " vCPU states for %u vCPUs",
                        g_variant_n_children (vcpus), *n_vcpus);
      return FALSE;
    }
  for (unsigned i = 0; i < *n_vcpus; i++)
    {
      g_autoptr (GVariant) vcpu = g_variant_get_child_value (vcpus, i);
      if (!hv_vcpu_state_check (vcpu, i, error))
        return FALSE;
    }
  vm_state = hv_state_lookup (state, "the VM", "vm", G_VARIANT_TYPE_VARDICT, error);
  if (vm_state == NULL || !hv_vm_kvm_state_check (vm_state, error))
    return FALSE;
  device_states = hv_state_lookup (state, "the VM", "devices", G_VARIANT_TYPE ("a{sa{sv}}"), error);
  return device_states != NULL;
}

gboolean
hv_vm_set_restore (HvVm *vm, int dir_fd, GError **error)
{
  g_autoptr (HvRestore) restore = g_new0 (HvRestore, 1);
  uint8_t id[MEMORY_ID_SIZE];

  g_return_val_if_fail (vm != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  restore->memory_fd = -1;
  if (vm->state != HV_VM_CONFIGURING)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE,
                   "the VM has already been started; it cannot restore a saved state");
      return FALSE;
    }
  restore->state = read_state_file (dir_fd, error);
  if (restore->state == NULL
      || !check_state (restore->state, &restore->memory_size, &restore->n_vcpus, id, error)
      || !check_config (vm, restore->memory_size, restore->n_vcpus, error))
    return FALSE;
  restore->memory_fd = open_memory_file (dir_fd, restore->memory_size, id, error);
  if (restore->memory_fd < 0)
    return FALSE;

  /* Restoring replaces booting a kernel. */
  g_clear_pointer (&vm->kernel, g_bytes_unref);
  g_clear_pointer (&vm->initrd, g_bytes_unref);
  g_clear_pointer (&vm->cmdline, g_free);
  hv_restore_free (vm->restore);
  vm->restore = g_steal_pointer (&restore);
  return TRUE;
}

gboolean
hv_restore_check_config (HvVm *vm, GError **error)
{
  return check_config (vm, vm->restore->memory_size, vm->restore->n_vcpus, error);
}

gboolean
hv_restore_memory (HvVm *vm, GError **error)
{
  HvMemory *mem = &vm->memory;
  int fd = vm->restore->memory_fd;
  const off_t end = (off_t) (MEMORY_HEADER_SIZE + mem->size);
  off_t offset = MEMORY_HEADER_SIZE;
  gint64 start = g_get_monotonic_time ();
  uint64_t read_bytes = 0;

  /* Only the file's data ranges are read, so the guest's memfd stays as sparse as the file. */
  while (offset < end)
    {
      off_t data = lseek (fd, offset, SEEK_DATA);
      off_t hole;

      if (data < 0 && errno == ENXIO)
        break;
      if (data < 0)
        {
          /* A file system without SEEK_DATA: everything is data. */
          data = offset;
          hole = end;
        }
      else
        {
          hole = lseek (fd, data, SEEK_HOLE);
          if (hole < 0)
            hole = end;
        }
      if (data >= end)
        break;
      hole = MIN (hole, end);
      for (off_t chunk = data; chunk < hole; chunk += COPY_CHUNK)
        {
          gsize len = (gsize) MIN ((off_t) COPY_CHUNK, hole - chunk);
          if (!read_all (fd, mem->base + (chunk - MEMORY_HEADER_SIZE), len, chunk, "memory", error))
            return FALSE;
        }
      read_bytes += (uint64_t) (hole - data);
      offset = hole;
    }
  g_debug ("restored %" G_GUINT64_FORMAT " KiB of guest memory in %" G_GINT64_FORMAT " ms",
           read_bytes >> 10, (g_get_monotonic_time () - start) / 1000);
  return TRUE;
}

static gboolean
load_devices (HvVm *vm, GVariant *state, GError **error)
{
  g_autoptr (GVariant) device_states = g_variant_lookup_value (state, "devices", G_VARIANT_TYPE ("a{sa{sv}}"));
  GVariantIter iter;
  const char *name;

  g_variant_iter_init (&iter, device_states);
  while (g_variant_iter_next (&iter, "{&s@a{sv}}", &name, NULL))
    {
      gboolean known = FALSE;
      for (gsize i = 0; i < G_N_ELEMENTS (devices); i++)
        known = known || strcmp (name, devices[i].name) == 0;
      if (!known)
        {
          hv_state_set_bad (error, "the VM", "it has a device “%s”, which this machine lacks", name);
          return FALSE;
        }
    }
  for (gsize i = 0; i < G_N_ELEMENTS (devices); i++)
    {
      g_autoptr (GVariant) device = g_variant_lookup_value (device_states, devices[i].name,
                                                            G_VARIANT_TYPE_VARDICT);
      if (device == NULL)
        {
          hv_state_set_bad (error, "the VM", "the state of device “%s” is missing", devices[i].name);
          return FALSE;
        }
      if (!devices[i].load (vm, device, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
hv_restore_machine (HvVm *vm, GError **error)
{
  GVariant *state = vm->restore->state;
  g_autoptr (GVariant) vm_state = g_variant_lookup_value (state, "vm", G_VARIANT_TYPE_VARDICT);
  g_autoptr (GVariant) vcpus = g_variant_lookup_value (state, "vcpus", G_VARIANT_TYPE ("aa{sv}"));
  gint64 start = g_get_monotonic_time ();

  if (!hv_vm_kvm_state_restore (vm->vm_fd, vm_state, error))
    return FALSE;
  for (unsigned i = 0; i < vm->n_vcpus; i++)
    {
      g_autoptr (GVariant) vcpu = g_variant_get_child_value (vcpus, i);
      if (!hv_vcpu_state_restore (vm->kvm_fd, vm->vm_fd, vm->vcpus[i].fd, i, vcpu, error))
        return FALSE;
    }
  if (!load_devices (vm, state, error))
    return FALSE;
  for (unsigned i = 0; i < vm->n_vcpus; i++)
    hv_vcpu_state_clock_paused (vm->vcpus[i].fd);

  g_debug ("restored the vCPUs and devices in %" G_GINT64_FORMAT " ms",
           (g_get_monotonic_time () - start) / 1000);
  g_clear_pointer (&vm->restore, hv_restore_free);
  return TRUE;
}
