/* fuzz-qcow2.c — the qcow2 format driver (hypervisor/block/qcow2.c) on hostile images: the header and
 * extension checks, the L1/L2 and refcount tables, compressed and subcluster entries, a backing chain, and
 * writes that allocate clusters (refcount blocks and table growth included), through the driver's vtable
 * as the block core calls it (tests/block-test-support.c standing in for block.c).  An image written must
 * never grow past what its writes can explain.
 *
 * Input: u8 flags (bit 0 open read-write, bit 1 the backing file is this same image again, bit 2 a raw
 * backing file instead; the fourth link is always raw), u8 count of operations, then that many of {u8 op (0 read, 1 write, 2 discard,
 * 3 write-zeroes, 4 flush; 5, 6, 7 create, apply, delete an internal snapshot named "s1" or "f" by the
 * length's low bit), u32 offset, u16 length}, then the image file (the rest).  Offsets are taken
 * modulo the disk's size. */
#include "fuzz-input.h"
#include "block-test-support.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const uint8_t *image_data;
static size_t image_size;
static uint8_t flags;

static int
open_backing (void *opaque, unsigned depth, const char *name, HvBlockFormat format, GError **error)
{
  int fd = memfd_create ("backing", MFD_CLOEXEC);

  if (depth > 3 || (flags & 4))
    {
      uint8_t pattern[4096];

      memset (pattern, 0x5a, sizeof pattern);
      if (write (fd, pattern, sizeof pattern) != (ssize_t) sizeof pattern)
        abort ();
    }
  else if ((flags & 2) && image_size > 0 && write (fd, image_data, image_size) != (ssize_t) image_size)
    abort ();
  return fd;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static uint8_t buffer[65536];
  g_autoptr (GError) error = NULL;
  GMainContext *context;
  FuzzInput in;
  HvBlock *block;
  unsigned n_ops;
  struct
  {
    uint8_t op;
    uint32_t offset;
    uint16_t length;
  } ops[32];
  int fd;

  fuzz_setup_logging (TRUE);
  fuzz_input_init (&in, data, size);
  flags = fuzz_take_u8 (&in);
  n_ops = fuzz_take_u8 (&in);
  n_ops = MIN (n_ops, G_N_ELEMENTS (ops));
  for (unsigned i = 0; i < n_ops; i++)
    {
      ops[i].op = fuzz_take_u8 (&in);
      ops[i].offset = fuzz_take_u32 (&in);
      ops[i].length = fuzz_take_u16 (&in);
    }
  image_data = fuzz_take_bytes (&in, SIZE_MAX, &image_size);

  fd = memfd_create ("image", MFD_CLOEXEC);
  if (image_size > 0 && write (fd, image_data, image_size) != (ssize_t) image_size)
    abort ();
  context = g_main_context_new ();
  block = test_block_open (&hv_block_qcow2_driver, fd, !(flags & 1), open_backing, NULL, context, NULL,
                           &error);
  if (block == NULL)
    {
      fuzz_note_refusal ("open", error);
      g_main_context_unref (context);
      return 0;
    }

  for (unsigned i = 0; i < n_ops && block->size > 0; i++)
    {
      HvBlockOp op;
      uint64_t offset, length;

      if (ops[i].op % 8 >= 5)
        {
          static const HvBlockSnapshotOp snapshot_ops[] = { HV_BLOCK_SNAPSHOT_CREATE, HV_BLOCK_SNAPSHOT_APPLY,
                                                            HV_BLOCK_SNAPSHOT_DELETE };
          g_autoptr (GError) snapshot_error = NULL;

          if (!hv_block_snapshot (block, snapshot_ops[ops[i].op % 8 - 5], ops[i].length & 1 ? "f" : "s1",
                                  &snapshot_error))
            fuzz_note_refusal ("snapshot", snapshot_error);
          continue;
        }
      op = ops[i].op % 5 == 0   ? HV_BLOCK_READ
           : ops[i].op % 5 == 1 ? HV_BLOCK_WRITE
           : ops[i].op % 5 == 2 ? HV_BLOCK_DISCARD
           : ops[i].op % 5 == 3 ? HV_BLOCK_WRITE_ZEROES
                                : HV_BLOCK_FLUSH;
      offset = ops[i].offset % block->size;
      length = MIN ((uint64_t) ops[i].length, block->size - offset);

      if (op == HV_BLOCK_WRITE)
        memset (buffer, 0xc3, length);
      test_block_io (block, op, op == HV_BLOCK_READ || op == HV_BLOCK_WRITE ? buffer : NULL, offset, length);
    }

  /* Each write may allocate a data cluster, an L2 table and a refcount block, or grow the refcount
   * table (at most a few clusters of 2 MiB past the end); more means it wrote outside the image. */
  {
    struct stat st;
    uint64_t allowed = image_size + (64u << 20) + (uint64_t) n_ops * (10u << 20);

    if (fstat (block->fd, &st) == 0 && (uint64_t) st.st_size > allowed)
      fuzz_fail ("the image grew to %" G_GUINT64_FORMAT " bytes from %zu", (uint64_t) st.st_size, image_size);
    hv_block_free (block);
  }
  g_main_context_unref (context);
  return 0;
}
