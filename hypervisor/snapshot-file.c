/* snapshot-file.c — the two files of a saved VM: their layout, writing them atomically, and reading
 * them back as untrusted input.
 *
 * "state" is a 32-byte header, then a serialized GVariant a{sv} (little-endian, normal form) whose
 * contents snapshot.c describes:
 *
 *     0  "VIREOSAV"   magic
 *     8  u32          format version (HV_STATE_VERSION; version 1 is read too)
 *    12  u32          flags, 0
 *    16  u64          length of the GVariant that follows (at most STATE_MAX_BODY)
 *    24  u64          CRC-64/XZ of bytes 0..23 and of the GVariant
 *
 * "memory" is a 4 KiB header page, then the guest's RAM as laid out in its memfd (memory.c: RAM
 * below the PCI hole, then RAM from 4 GiB) at file offset 4096, page-aligned so that it can be
 * mapped, with holes where the guest never wrote and where whole pages are zero:
 *
 *     0  "VIREOMEM"   magic
 *     8  u32          format version (MEMORY_VERSION)
 *    12  u32          0
 *    16  u64          memory size
 *    24  16 bytes     id, the same as the state's "memory-id"
 *    40  u64          CRC-64/XZ of bytes 0..39
 *
 * Both are written as "<name>.tmp", synced, then renamed into place, memory first.  The id binds
 * the pair: a crash between the two renames leaves the old state with the new memory, whose ids
 * differ, and restoring refuses it rather than pairing them.
 *
 * Restoring maps "memory" MAP_PRIVATE over guest RAM instead of reading it (hv_memory_map_file), so
 * the file is part of the running VM from then on.  That is sound only because a file, once it has
 * its name, is never written again: saves write new files and rename them over the old names (the
 * mapped inode lives on, unlinked), and checkpoints hard-link them and never write them either. */
#include "snapshot-file.h"
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define HV_STATE_VERSION   2u /* 2: per-device sections (snapshot.c); 1 is still read */
#define STATE_MAGIC        "VIREOSAV"
#define STATE_HEADER_SIZE  32
#define STATE_MAX_BODY     (64u << 20) /* 64 vCPUs take well under 2 MiB, video memory 32 MiB */
#define MEMORY_MAGIC       "VIREOMEM"
#define MEMORY_VERSION     1u
#define MEMORY_HEADER_SIZE 4096
#define MEMORY_HEADER_USED 48
#define PAGE_SIZE          4096
#define COPY_CHUNK         (1u << 20)

#define STATE_FILE  "state"
#define STATE_TEMP  "state.tmp"
#define MEMORY_FILE "memory"
#define MEMORY_TEMP "memory.tmp"

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

/* Writes the pages of [@start, @end) of guest RAM that are not all zero, leaving holes for the
 * rest. */
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
memory_header (uint8_t header[MEMORY_HEADER_USED], uint64_t memory_size,
               const uint8_t id[HV_SNAPSHOT_ID_SIZE])
{
  memset (header, 0, MEMORY_HEADER_USED);
  memcpy (header, MEMORY_MAGIC, 8);
  put_le32 (header + 8, MEMORY_VERSION);
  put_le64 (header + 16, memory_size);
  memcpy (header + 24, id, HV_SNAPSHOT_ID_SIZE);
  put_le64 (header + 40, hv_crc64 (0, header, 40));
}

/* The data ranges of @fd within [@start, @end) (file offsets), one after the other: the next range
 * at or after @from in *@data, *@hole; FALSE when there is none.  Without SEEK_DATA everything is
 * data. */
static gboolean
next_data_range (int fd, off_t from, off_t end, off_t *data, off_t *hole)
{
  if (from >= end)
    return FALSE;
  *data = lseek (fd, from, SEEK_DATA);
  if (*data < 0 && errno == ENXIO)
    return FALSE;
  if (*data < 0)
    {
      *data = from;
      *hole = end;
      return TRUE;
    }
  if (*data >= end)
    return FALSE;
  *hole = lseek (fd, *data, SEEK_HOLE);
  if (*hole < 0)
    *hole = end;
  *hole = MIN (*hole, end);
  return TRUE;
}

/* RAM that is the memfd's: only what the guest ever touched is backed by it; the rest reads as
 * zeros anyway. */
static gboolean
write_memfd_memory (int fd, const HvMemory *mem, uint64_t *written, GError **error)
{
  off_t offset = 0;
  off_t data, hole;

  while (next_data_range (mem->memfd, offset, (off_t) mem->size, &data, &hole))
    {
      if (!write_nonzero_pages (fd, mem, (uint64_t) data, (uint64_t) hole, written, error))
        return FALSE;
      offset = hole;
    }
  return TRUE;
}

#define PAGEMAP_PRESENT (1ull << 63)
#define PAGEMAP_SWAPPED (1ull << 62)
#define PAGEMAP_BATCH   512 /* pages per read of /proc/self/pagemap: 2 MiB of RAM */

/* RAM mapped privately from a saved memory file (hv_memory_map_file).  A page may differ from zero
 * only where the file has data, or where the guest (or KVM, or a device) wrote since: a write makes
 * the page a private anonymous one, present or swapped out, which /proc/self/pagemap tells without
 * touching it (its flags are readable without privileges).  Pages in the file's holes that the
 * pagemap shows neither present nor swapped were never written: they read as the file's zeros and
 * are skipped, so the new file is as sparse as the old one plus what the guest wrote.  Without a
 * readable pagemap every page of a hole is looked at (correct, only slower). */
static gboolean
write_mapped_memory (int fd, const HvMemory *mem, uint64_t *written, GError **error)
{
  const off_t base = (off_t) mem->source_offset;
  const off_t end = base + (off_t) mem->size;
  int pagemap = open ("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  uint64_t entries[PAGEMAP_BATCH];
  off_t data = 0, hole = 0;
  gboolean have_range;
  gboolean ok = TRUE;

  if (pagemap < 0)
    g_debug ("cannot read /proc/self/pagemap (%s): looking at every page of guest memory",
             g_strerror (errno));
  have_range = next_data_range (mem->source_fd, base, end, &data, &hole);
  for (uint64_t batch = 0; batch < mem->size && ok; batch += PAGEMAP_BATCH * (uint64_t) PAGE_SIZE)
    {
      uint64_t batch_end = MIN (batch + PAGEMAP_BATCH * (uint64_t) PAGE_SIZE, mem->size);
      unsigned n = (unsigned) ((batch_end - batch) / PAGE_SIZE);
      gboolean known = FALSE;
      uint64_t run = 0;
      gboolean in_run = FALSE;

      if (pagemap >= 0)
        {
          off_t at = (off_t) (((uintptr_t) (mem->base + batch) / PAGE_SIZE) * sizeof (uint64_t));
          known = pread (pagemap, entries, n * sizeof (uint64_t), at) == (ssize_t) (n * sizeof (uint64_t));
        }
      for (unsigned i = 0; i <= n && ok; i++)
        {
          uint64_t page = batch + (uint64_t) i * PAGE_SIZE;
          gboolean wanted = FALSE;

          if (i < n)
            {
              off_t at = base + (off_t) page;

              while (have_range && hole <= at)
                have_range = next_data_range (mem->source_fd, hole, end, &data, &hole);
              wanted = (have_range && data <= at) || !known
                       || (entries[i] & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED)) != 0;
            }
          if (wanted && !in_run)
            {
              run = page;
              in_run = TRUE;
            }
          else if (!wanted && in_run)
            {
              ok = write_nonzero_pages (fd, mem, run, page, written, error);
              in_run = FALSE;
            }
        }
    }
  if (pagemap >= 0)
    close (pagemap);
  return ok;
}

gboolean
hv_snapshot_write_memory (int dir_fd, const HvMemory *mem, const uint8_t id[HV_SNAPSHOT_ID_SIZE],
                          uint64_t *written, GError **error)
{
  uint8_t header[MEMORY_HEADER_USED];
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

  *written = 0;
  if (!(mem->source_fd >= 0 ? write_mapped_memory (fd, mem, written, error)
                            : write_memfd_memory (fd, mem, written, error)))
    goto fail;
  return finish_file (fd, "memory", error);

fail:
  close (fd);
  return FALSE;
}

gboolean
hv_snapshot_write_state (int dir_fd, GVariant *state, GError **error)
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

void
hv_snapshot_new_id (uint8_t id[HV_SNAPSHOT_ID_SIZE])
{
  if (getrandom (id, HV_SNAPSHOT_ID_SIZE, GRND_NONBLOCK) == HV_SNAPSHOT_ID_SIZE)
    return;
  /* Without entropy yet, the id still only has to differ from the previous save's. */
  for (unsigned i = 0; i < HV_SNAPSHOT_ID_SIZE; i += 4)
    put_le32 (id + i, g_random_int () ^ (uint32_t) (g_get_real_time () >> (i * 2)));
}

gboolean
hv_snapshot_commit (int dir_fd, GError **error)
{
  /* Memory first: until the new state is in place, the old state names the old id and refuses the
   * new memory file rather than pairing with it. */
  if (renameat (dir_fd, MEMORY_TEMP, dir_fd, MEMORY_FILE) < 0
      || renameat (dir_fd, STATE_TEMP, dir_fd, STATE_FILE) < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, error_code_for_errno (saved), "cannot put the saved VM in place: %s",
                   g_strerror (saved));
      return FALSE;
    }
  if (fsync (dir_fd) < 0 && errno != EINVAL)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, error_code_for_errno (saved),
                   "cannot write the saved VM's folder to disk: %s", g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

void
hv_snapshot_discard (int dir_fd)
{
  unlinkat (dir_fd, MEMORY_TEMP, 0);
  unlinkat (dir_fd, STATE_TEMP, 0);
}

static int
open_saved_file (int dir_fd, const char *name, const char *file, struct stat *st, GError **error)
{
  /* O_NONBLOCK: a FIFO in place of the file must not hang the caller (regular files ignore it). */
  int fd = openat (dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

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
GVariant *
hv_snapshot_read_state (int dir_fd, unsigned *format_version, GError **error)
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
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                   "the saved state is truncated (%" G_GINT64_FORMAT " bytes)", (gint64) st.st_size);
      goto fail;
    }
  if (!read_all (fd, header, sizeof header, 0, "state", error))
    goto fail;
  version = get_le32 (header + 8);
  length = get_le64 (header + 16);
  if (version < 1 || version > HV_STATE_VERSION || get_le32 (header + 12) != 0)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                   "the saved state has format version %u; this version of Vireo reads versions 1 "
                   "to %u",
                   version, HV_STATE_VERSION);
      goto fail;
    }
  if (length > STATE_MAX_BODY)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                   "the saved state claims to be %" G_GUINT64_FORMAT
                   " bytes long, more than a saved state can be",
                   length);
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
  *format_version = version;
  return state;

fail:
  if (fd >= 0)
    close (fd);
  return NULL;
}

/* Opens "memory" and checks that it belongs to the state (same id and size). */
int
hv_snapshot_open_memory (int dir_fd, uint64_t memory_size, const uint8_t id[HV_SNAPSHOT_ID_SIZE],
                         GError **error)
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
                   "memory take %" G_GUINT64_FORMAT,
                   (gint64) st.st_size, memory_size >> 20, MEMORY_HEADER_SIZE + memory_size);
      goto fail;
    }
  return fd;

fail:
  close (fd);
  return -1;
}

gboolean
hv_snapshot_map_memory (int fd, HvMemory *mem, GError **error)
{
  gint64 start = g_get_monotonic_time ();

  if (!hv_memory_map_file (mem, fd, MEMORY_HEADER_SIZE, error))
    return FALSE;
  g_debug ("mapped %" G_GUINT64_FORMAT " MiB of saved guest memory in %.3f ms", mem->size >> 20,
           (g_get_monotonic_time () - start) / 1000.0);
  return TRUE;
}
