/* block.c — disk images over an fd: opening one (the format probed or named, QEMU's lock bytes, direct
 * I/O, the backing chain), the request path every format shares (range and read-only checks, depth,
 * completion, draining).  File I/O with direct I/O's alignment is in file-io.c. */
#include "block-private.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECTOR_SIZE  512
#define PROBE_BYTES  4096
#define BUFFER_ALIGN 4096
#define QCOW2_MAGIC  "QFI\xfb"

/* QEMU's lock bytes (block/file-posix.c): a shared lock at PERM_BASE + bit for each permission held, at
 * SHARED_BASE + bit for each permission not shared with others.  The bits (include/block/block-common.h):
 * consistent read, write, write unchanged, resize. */
#define LOCK_PERM_BASE       100
#define LOCK_SHARED_BASE     200
#define PERM_CONSISTENT_READ 0x01
#define PERM_WRITE           0x02
#define PERM_RESIZE          0x08
#define PERM_BITS            4

static const char *const perm_names[PERM_BITS] = { "consistent read", "write", "write unchanged", "resize" };

const char *
hv_block_format_name (HvBlockFormat format)
{
  switch (format)
    {
    case HV_BLOCK_FORMAT_RAW:
      return "raw";
    case HV_BLOCK_FORMAT_QCOW2:
      return "qcow2";
    case HV_BLOCK_FORMAT_AUTO:
    default:
      return "auto";
    }
}

/* ---- Locks ---- */

static int
lock_byte (int fd, int cmd, short type, off_t byte, short *holder)
{
  struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };

  if (fcntl (fd, cmd, &fl) < 0)
    return -errno;
  if (holder)
    *holder = fl.l_type;
  return 0;
}

static void
unlock_all (HvBlock *block)
{
  for (unsigned bit = 0; bit < PERM_BITS; bit++)
    {
      if (block->locked_perm & (1u << bit))
        (void) lock_byte (block->fd, F_OFD_SETLK, F_UNLCK, LOCK_PERM_BASE + bit, NULL);
      if (block->locked_unshared & (1u << bit))
        (void) lock_byte (block->fd, F_OFD_SETLK, F_UNLCK, LOCK_SHARED_BASE + bit, NULL);
    }
  block->locked_perm = block->locked_unshared = 0;
}

static gboolean
locking_unsupported (int err)
{
  return err == -EINVAL || err == -ENOLCK || err == -EOPNOTSUPP;
}

/* Takes the bytes for @perm and @unshared, then checks that nobody else unshares what we hold or holds
 * what we do not share (QEMU's raw_apply_lock_bytes and raw_check_lock_bytes). */
static gboolean
take_locks (HvBlock *block, unsigned perm, unsigned unshared, GError **error)
{
  for (unsigned bit = 0; bit < PERM_BITS; bit++)
    for (unsigned shared = 0; shared < 2; shared++)
      {
        unsigned set = shared ? unshared : perm;
        off_t byte = (shared ? LOCK_SHARED_BASE : LOCK_PERM_BASE) + bit;
        int err;

        if (!(set & (1u << bit)))
          continue;
        err = lock_byte (block->fd, F_OFD_SETLK, F_RDLCK, byte, NULL);
        if (locking_unsupported (err))
          {
            g_debug ("no OFD locks on this file (%s): it is used unlocked", g_strerror (-err));
            unlock_all (block);
            return TRUE;
          }
        if (err < 0)
          {
            unlock_all (block);
            g_set_error (error, HV_ERROR, HV_ERROR_PERMISSION,
                         "it is locked by another process using it (byte %d: %s)", (int) byte,
                         g_strerror (-err));
            return FALSE;
          }
        if (shared)
          block->locked_unshared |= 1u << bit;
        else
          block->locked_perm |= 1u << bit;
      }

  for (unsigned bit = 0; bit < PERM_BITS; bit++)
    for (unsigned shared = 0; shared < 2; shared++)
      {
        /* Someone's lock on the opposite byte is a conflict; our own (same open file) is not. */
        unsigned set = shared ? unshared : perm;
        off_t byte = (shared ? LOCK_PERM_BASE : LOCK_SHARED_BASE) + bit;
        short holder = F_UNLCK;
        int err;

        if (!(set & (1u << bit)))
          continue;
        err = lock_byte (block->fd, F_OFD_GETLK, F_WRLCK, byte, &holder);
        if (err == 0 && holder == F_UNLCK)
          continue;
        unlock_all (block);
        if (err < 0)
          g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot test its locks: %s", g_strerror (-err));
        else if (shared)
          g_set_error (error, HV_ERROR, HV_ERROR_PERMISSION,
                       "another process is using it with “%s” access (is a virtual machine running from "
                       "it?)",
                       perm_names[bit]);
        else
          g_set_error (error, HV_ERROR, HV_ERROR_PERMISSION,
                       "another process is using it and does not allow “%s” access (is a virtual "
                       "machine running from it?)",
                       perm_names[bit]);
        return FALSE;
      }
  return TRUE;
}

/* ---- Opening ---- */

static void *
aligned_alloc0 (size_t size)
{
  void *buffer = NULL;

  if (posix_memalign (&buffer, BUFFER_ALIGN, MAX (size, 1)) != 0)
    g_error ("out of memory (%zu bytes)", size);
  memset (buffer, 0, size);
  return buffer;
}

static ssize_t
pread_full (int fd, void *buffer, size_t len, off_t offset)
{
  size_t done = 0;

  while (done < len)
    {
      ssize_t n = pread (fd, (uint8_t *) buffer + done, len - done, offset + (off_t) done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -errno;
      if (n == 0)
        break;
      done += (size_t) n;
    }
  return (ssize_t) done;
}

static const HvBlockDriver *
find_driver (HvBlockFormat format)
{
  for (unsigned i = 0; hv_block_drivers[i]; i++)
    if (hv_block_drivers[i]->format == format)
      return hv_block_drivers[i];
  return NULL;
}

static const HvBlockDriver *
choose_driver (HvBlockFormat format, const uint8_t *head, size_t len, GError **error)
{
  const HvBlockDriver *driver;

  if (format != HV_BLOCK_FORMAT_AUTO)
    {
      driver = find_driver (format);
      if (driver == NULL)
        g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "this build cannot open %s images",
                     hv_block_format_name (format));
      return driver;
    }
  for (unsigned i = 0; hv_block_drivers[i]; i++)
    if (hv_block_drivers[i]->format != HV_BLOCK_FORMAT_RAW && hv_block_drivers[i]->probe
        && hv_block_drivers[i]->probe (head, len))
      return hv_block_drivers[i];
  /* Taking a qcow2 image for raw would show the guest its metadata and let it overwrite them. */
  if (len >= 4 && memcmp (head, QCOW2_MAGIC, 4) == 0)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "it is a qcow2 image, which this build cannot open");
      return NULL;
    }
  driver = find_driver (HV_BLOCK_FORMAT_RAW);
  g_assert (driver != NULL);
  return driver;
}

/* The alignment direct I/O needs on @fd (O_DIRECT set), as QEMU's raw_probe_alignment finds it: the
 * logical block size of a block device, else the smallest read that works.  0 when none does. */
static unsigned
probe_alignment (int fd, const struct stat *st)
{
  static const unsigned sizes[] = { 512, 1024, 2048, 4096 };
  g_autofree uint8_t *buffer = NULL;
  int logical = 0;

  if (S_ISBLK (st->st_mode) && ioctl (fd, BLKSSZGET, &logical) == 0 && logical >= 512 && logical <= 4096)
    return (unsigned) logical;
  buffer = aligned_alloc0 (BUFFER_ALIGN);
  for (unsigned i = 0; i < G_N_ELEMENTS (sizes); i++)
    if (pread (fd, buffer, sizes[i], 0) >= 0)
      return sizes[i];
  return 0;
}

/* Turns O_DIRECT on or off as @cache asks; for the default, on where it works. */
static gboolean
set_up_cache (HvBlock *block, const struct stat *st, GError **error)
{
  int flags = fcntl (block->fd, F_GETFL);
  HvBlockCache cache = block->options.cache;

  block->direct = FALSE;
  block->alignment = SECTOR_SIZE;
  if (flags < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot read its file flags: %s", g_strerror (saved));
      return FALSE;
    }
  if (cache != HV_BLOCK_CACHE_WRITEBACK && fcntl (block->fd, F_SETFL, flags | O_DIRECT) == 0)
    {
      unsigned alignment = probe_alignment (block->fd, st);

      if (alignment != 0)
        {
          block->direct = TRUE;
          block->alignment = alignment;
          return TRUE;
        }
      errno = EINVAL;
    }
  if (cache == HV_BLOCK_CACHE_NONE)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "its file system does not allow direct I/O (cache=none): %s", g_strerror (saved));
      (void) fcntl (block->fd, F_SETFL, flags & ~O_DIRECT);
      return FALSE;
    }
  if (cache == HV_BLOCK_CACHE_DEFAULT)
    {
      int saved = errno;

      /* tmpfs, for one, has no direct I/O: the page cache it is (flushes still fdatasync). */
      g_debug ("disk image: no direct I/O on its file system (%s): using the host page cache",
               g_strerror (saved));
    }
  if ((flags & O_DIRECT) || cache == HV_BLOCK_CACHE_DEFAULT)
    (void) fcntl (block->fd, F_SETFL, flags & ~O_DIRECT);
  return TRUE;
}

static void
close_link (HvBlock *block)
{
  if (block == NULL)
    return;
  close_link (block->backing);
  if (block->driver && block->impl)
    block->driver->close (block);
  if (block->fd >= 0)
    {
      unlock_all (block);
      close (block->fd);
    }
  g_free (block);
}

static HvBlock *
open_link (int fd, const HvBlockOptions *options, unsigned depth, HvBlockOpenBacking open_backing,
           void *opaque, GError **error)
{
  g_autofree uint8_t *head = NULL;
  HvBlock *block;
  struct stat st;
  ssize_t head_len;
  unsigned perm, unshared;
  int flags;

  block = g_new0 (HvBlock, 1);
  block->fd = fd;
  block->options = *options;
  block->depth = depth;
  block->open_backing = open_backing;
  block->open_backing_opaque = opaque;

  if (fd < 0 || fstat (fd, &st) < 0 || (flags = fcntl (fd, F_GETFL)) < 0)
    {
      int saved = fd < 0 ? EBADF : errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot use it: %s", g_strerror (saved));
      goto fail;
    }
  if (S_ISDIR (st.st_mode))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "it is a folder, not a disk image");
      goto fail;
    }
  if (!S_ISREG (st.st_mode) && !S_ISBLK (st.st_mode))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "it is neither a file nor a block device");
      goto fail;
    }
  if (!options->read_only && (flags & O_ACCMODE) == O_RDONLY)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_PERMISSION,
                   "it was opened read-only, and the disk is not read-only");
      goto fail;
    }

  /* The head decides the format; the fd may already be in direct mode, hence the aligned buffer. */
  head = aligned_alloc0 (PROBE_BYTES);
  head_len = pread_full (fd, head, PROBE_BYTES, 0);
  if (head_len < 0)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot read it: %s", g_strerror ((int) -head_len));
      goto fail;
    }
  block->driver = choose_driver (options->format, head, (size_t) head_len, error);
  if (block->driver == NULL)
    goto fail;
  block->options.format = block->driver->format;

  /* What QEMU's devices take: read (and write); others may read, nobody else may write, and a format
   * that grows its file does not let others resize it. */
  perm = PERM_CONSISTENT_READ | (options->read_only ? 0 : PERM_WRITE);
  unshared = PERM_WRITE;
  if (!options->read_only && block->driver->format != HV_BLOCK_FORMAT_RAW)
    perm |= PERM_RESIZE;
  if (options->read_only || block->driver->format != HV_BLOCK_FORMAT_RAW)
    unshared |= PERM_RESIZE;
  if (!take_locks (block, perm, unshared, error))
    goto fail;

  if (!set_up_cache (block, &st, error))
    goto fail;
  if (!block->driver->open (block, error))
    goto fail;
  if (block->direct && options->cache == HV_BLOCK_CACHE_DEFAULT && S_ISREG (st.st_mode)
      && block->driver->format == HV_BLOCK_FORMAT_RAW && st.st_size % block->alignment != 0)
    {
      /* A raw tail shorter than the alignment cannot be written directly without growing the file
       * (a qcow2 image grows anyway, in whole clusters). */
      g_debug ("disk image: its size is not a multiple of %u bytes: using the host page cache",
               block->alignment);
      (void) fcntl (fd, F_SETFL, flags & ~O_DIRECT);
      block->direct = FALSE;
      block->alignment = SECTOR_SIZE;
    }
  return block;

fail:
  close_link (block);
  return NULL;
}

HvBlock *
hv_block_open (int fd, const HvBlockOptions *options, HvBlockOpenBacking open_backing, void *opaque,
               GError **error)
{
  HvBlockOptions defaults = { 0 };

  return open_link (fd, options ? options : &defaults, 0, open_backing, opaque, error);
}

HvBlock *
hv_block_open_backing (HvBlock *block, const char *name, HvBlockFormat format, GError **error)
{
  HvBlockOptions options = { .format = format, .cache = block->options.cache, .read_only = TRUE };
  unsigned depth = block->depth + 1;
  int fd;

  if (block->backing)
    return block->backing;
  if (depth > HV_BLOCK_MAX_CHAIN)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                   "its chain of backing files is longer than %d (does it loop?)", HV_BLOCK_MAX_CHAIN);
      return NULL;
    }
  if (block->open_backing == NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "it needs its backing file “%s”, and no backing file can be opened here", name);
      return NULL;
    }
  fd = block->open_backing (block->open_backing_opaque, depth, name, format, error);
  if (fd < 0)
    return NULL;
  block->backing = open_link (fd, &options, depth, block->open_backing, block->open_backing_opaque, error);
  if (block->backing == NULL)
    g_prefix_error (error, "its backing file “%s”: ", name);
  return block->backing;
}

void
hv_block_free (HvBlock *block)
{
  if (block == NULL)
    return;
  hv_block_drain (block);
  /* The chain shares the top's aio; it goes first, once nothing is in flight. */
  g_clear_pointer (&block->aio, hv_aio_free);
  for (HvBlock *link = block->backing; link; link = link->backing)
    link->aio = NULL;
  g_clear_pointer (&block->context, g_main_context_unref);
  for (HvBlock *link = block->backing; link; link = link->backing)
    g_clear_pointer (&link->context, g_main_context_unref);
  close_link (block);
}

uint64_t
hv_block_get_size (HvBlock *block)
{
  return block->size;
}

gboolean
hv_block_is_read_only (HvBlock *block)
{
  return block->options.read_only;
}

HvBlockFormat
hv_block_get_format (HvBlock *block)
{
  return block->driver->format;
}

gboolean
hv_block_can_discard (HvBlock *block)
{
  return !block->options.read_only && block->driver->can_discard && block->driver->can_discard (block);
}

/* ---- Requests ---- */

gboolean
hv_block_attach (HvBlock *block, GMainContext *context, unsigned depth, GError **error)
{
  unsigned aio_depth;

  if (block->context)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE, "the disk is already attached");
      return FALSE;
    }
  if (depth == 0 || depth > HV_AIO_MAX_DEPTH / 4)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "a disk takes 1 to %u requests at a time, not %u", HV_AIO_MAX_DEPTH / 4, depth);
      return FALSE;
    }
  /* Room for a second step per request (read-modify-write) and for a format's metadata I/O. */
  aio_depth = MIN (depth * 2 + 16, HV_AIO_MAX_DEPTH);
  block->aio = hv_aio_new (context, aio_depth, HV_AIO_ENGINE_DEFAULT, error);
  if (block->aio == NULL)
    return FALSE;
  for (HvBlock *link = block; link; link = link->backing)
    {
      link->context = g_main_context_ref (context);
      link->aio = block->aio;
      link->max_in_flight = depth;
    }
  return TRUE;
}

void
hv_block_set_ready (HvBlock *block, void (*ready) (void *opaque), void *opaque)
{
  block->ready = ready;
  block->ready_opaque = opaque;
}

static int
check_request (HvBlock *block, HvBlockOp op, const struct iovec *iov, unsigned n_iov, uint64_t offset,
               uint64_t length)
{
  uint64_t total = 0;

  if (op == HV_BLOCK_FLUSH)
    return 0;
  if (op != HV_BLOCK_READ && block->options.read_only)
    return -EROFS;
  if (op == HV_BLOCK_READ || op == HV_BLOCK_WRITE)
    {
      if (n_iov > HV_AIO_MAX_IOV || (n_iov > 0 && iov == NULL))
        return -EINVAL;
      for (unsigned i = 0; i < n_iov; i++)
        {
          total += iov[i].iov_len;
          if (total < iov[i].iov_len)
            return -EINVAL;
        }
      if (total != length)
        return -EINVAL;
    }
  if (length == 0 || offset > block->size || length > block->size - offset)
    return -EINVAL;
  return 0;
}

gboolean
hv_block_submit (HvBlock *block, HvBlockOp op, const struct iovec *iov, unsigned n_iov, uint64_t offset,
                 uint64_t length, HvBlockCallback callback, void *opaque, GError **error)
{
  HvBlockRequest *request;
  int result;

  g_return_val_if_fail (callback != NULL, FALSE);

  if (block->aio == NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE, "the disk is not attached to an I/O thread");
      return FALSE;
    }
  if (op > HV_BLOCK_WRITE_ZEROES)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "there is no disk request %u", op);
      return FALSE;
    }
  if ((unsigned) g_atomic_int_get (&block->in_flight) >= block->max_in_flight)
    {
      block->wants_ready = TRUE;
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE, "the disk has %u requests in flight",
                   block->max_in_flight);
      return FALSE;
    }
  result = check_request (block, op, iov, n_iov, offset, length);
  if (result < 0)
    {
      callback (opaque, result);
      return TRUE;
    }

  request = g_new0 (HvBlockRequest, 1);
  request->block = block;
  request->op = op;
  request->iov = g_memdup2 (iov, (op == HV_BLOCK_READ || op == HV_BLOCK_WRITE ? n_iov : 0) * sizeof *iov);
  request->n_iov = op == HV_BLOCK_READ || op == HV_BLOCK_WRITE ? n_iov : 0;
  request->offset = op == HV_BLOCK_FLUSH ? 0 : offset;
  request->length = op == HV_BLOCK_FLUSH ? 0 : length;
  request->callback = callback;
  request->opaque = opaque;
  g_atomic_int_inc (&block->in_flight);
  if (!block->driver->submit (block, request))
    {
      g_atomic_int_add (&block->in_flight, -1);
      g_free (request->iov);
      g_free (request);
      block->wants_ready = TRUE;
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE, "the disk cannot take more requests now");
      return FALSE;
    }
  return TRUE;
}

void
hv_block_plug (HvBlock *block)
{
  if (block->aio)
    hv_aio_plug (block->aio);
}

void
hv_block_unplug (HvBlock *block)
{
  if (block->aio)
    hv_aio_unplug (block->aio);
}

void
hv_block_set_write_through (HvBlock *block, gboolean write_through)
{
  block->write_through = write_through;
}

void
hv_block_request_complete (HvBlockRequest *request, int result)
{
  HvBlock *block = request->block;

  if (result == 0 && block->write_through && !request->flushing
      && (request->op == HV_BLOCK_WRITE || request->op == HV_BLOCK_WRITE_ZEROES
          || request->op == HV_BLOCK_DISCARD))
    {
      /* Write-through: the same request goes on as a flush (the format's own: qcow2 writes its tables
       * too), and completes when that does. */
      request->flushing = TRUE;
      request->op = HV_BLOCK_FLUSH;
      request->offset = request->length = 0;
      if (block->driver->submit (block, request))
        return;
      /* No room for it now: the data at least, here. */
      result = fdatasync (block->fd) < 0 ? -errno : 0;
    }

  request->callback (request->opaque, result);
  g_free (request->iov);
  g_free (request);
  g_atomic_int_add (&block->in_flight, -1);
  if (block->wants_ready && block->ready)
    {
      block->wants_ready = FALSE;
      block->ready (block->ready_opaque);
    }
}

void
hv_block_drain (HvBlock *block)
{
  while (block->aio && g_atomic_int_get (&block->in_flight) > 0)
    {
      hv_aio_drain (block->aio);
      /* A format may hold a request without file I/O in flight for a moment (waiting for another to
       * finish its metadata): let the context run it. */
      if (g_atomic_int_get (&block->in_flight) == 0)
        break;
      if (g_main_context_acquire (block->context))
        {
          g_main_context_iteration (block->context, FALSE);
          g_main_context_release (block->context);
        }
      else
        g_usleep (G_TIME_SPAN_MILLISECOND);
    }
}
