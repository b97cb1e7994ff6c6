/* disk.c — drives the first virtio-blk disk from ring 3 and reports each step on serial, for the
 * guest tests to assert on (and qemu-io to check the image afterwards):
 *
 *   disk: capacity N sectors, features 0xF
 *   disk: serial TEXT
 *   writable disk: sectors 0-7 = 0xa5 (one write of 4 buffers), 8-15 = 0x5a, 16-23 = 0x3c, 24-31 = 0xc3
 *   (2 buffers), 32-39 a byte pattern, the last sector = 0x77; a flush; all read back and compared
 *   ("disk: readback ok"); 16-23 write-zeroed and read as zeros ("disk: zeroes ok"), 8-15 discarded
 *   ("disk: discarded range reads zeros" or "... kept its data": the spec leaves it to the device);
 *   a read past the end refused ("disk: past the end refused");
 *   read-only disk: a write refused with IOERR ("disk: read-only write refused"), a read works;
 *   with bench=N on the command line, N MiB more written and then read in 64 KiB requests ("disk: bench
 *   N MiB written and read"); then "disk: done" and power-off.  Any failure prints "disk: FAIL ..." and
 *   powers off. */
#include "kit.h"

#define SECTOR 512

static KitVirtioBlk disk;
static uint8_t bench_buffer[64 * 1024] __attribute__ ((aligned (4096)));
static uint8_t buffer[16 * SECTOR] __attribute__ ((aligned (4096)));
static uint8_t check[16 * SECTOR] __attribute__ ((aligned (4096)));
static char serial[21];

static void
failed (const char *what, int status)
{
  kit_printf ("disk: FAIL %s (status %d)\n", what, status);
  kit_poweroff ();
}

static int
transfer (uint32_t type, uint64_t sector, uint8_t *data, uint32_t len, unsigned pieces)
{
  KitBlkSegment segments[KIT_VIRTIO_BLK_SEGMENTS];
  uint32_t piece = len / pieces;

  for (unsigned i = 0; i < pieces; i++)
    segments[i] = (KitBlkSegment){ data + i * piece, piece };
  return kit_virtio_blk_request (&disk, type, sector, segments, pieces);
}

static void
write_fill (uint64_t sector, unsigned count, uint8_t value, unsigned pieces)
{
  int status;

  memset (buffer, value, count * SECTOR);
  status = transfer (KIT_VIRTIO_BLK_T_OUT, sector, buffer, count * SECTOR, pieces);
  if (status != KIT_VIRTIO_BLK_S_OK)
    failed ("write", status);
}

static void
read_expect (uint64_t sector, unsigned count, uint8_t value, const char *what)
{
  int status;

  memset (check, value, count * SECTOR);
  memset (buffer, ~value, count * SECTOR);
  status = transfer (KIT_VIRTIO_BLK_T_IN, sector, buffer, count * SECTOR, count % 2 == 0 ? 2 : 1);
  if (status != KIT_VIRTIO_BLK_S_OK)
    failed ("read", status);
  if (memcmp (buffer, check, count * SECTOR) != 0)
    failed (what, 0);
}

static void
read_only_checks (void)
{
  int status;

  memset (buffer, 0xee, SECTOR);
  status = transfer (KIT_VIRTIO_BLK_T_OUT, 0, buffer, SECTOR, 1);
  if (status != KIT_VIRTIO_BLK_S_IOERR)
    failed ("a read-only disk took a write", status);
  kit_puts ("disk: read-only write refused\n");
  status = transfer (KIT_VIRTIO_BLK_T_IN, 0, buffer, SECTOR, 1);
  if (status != KIT_VIRTIO_BLK_S_OK)
    failed ("read from the read-only disk", status);
  kit_printf ("disk: read-only first byte 0x%x\n", buffer[0]);
}

static void
writable_checks (void)
{
  uint64_t last = disk.capacity - 1;
  int status;

  write_fill (0, 8, 0xa5, 4);
  write_fill (8, 8, 0x5a, 1);
  write_fill (16, 8, 0x3c, 1);
  write_fill (24, 8, 0xc3, 2);
  write_fill (last, 1, 0x77, 1);
  /* Bytes that differ within and across sectors catch an offset gone wrong. */
  for (unsigned i = 0; i < 8 * SECTOR; i++)
    buffer[i] = (uint8_t) (i * 13 + i / SECTOR);
  status = transfer (KIT_VIRTIO_BLK_T_OUT, 32, buffer, 8 * SECTOR, 8);
  if (status != KIT_VIRTIO_BLK_S_OK)
    failed ("write pattern", status);
  status = kit_virtio_blk_request (&disk, KIT_VIRTIO_BLK_T_FLUSH, 0, NULL, 0);
  if (status != KIT_VIRTIO_BLK_S_OK)
    failed ("flush", status);

  read_expect (0, 8, 0xa5, "readback of sectors 0-7");
  read_expect (8, 8, 0x5a, "readback of sectors 8-15");
  read_expect (16, 8, 0x3c, "readback of sectors 16-23");
  read_expect (24, 8, 0xc3, "readback of sectors 24-31");
  read_expect (last, 1, 0x77, "readback of the last sector");
  for (unsigned i = 0; i < 8 * SECTOR; i++)
    check[i] = (uint8_t) (i * 13 + i / SECTOR);
  status = transfer (KIT_VIRTIO_BLK_T_IN, 32, buffer, 8 * SECTOR, 4);
  if (status != KIT_VIRTIO_BLK_S_OK || memcmp (buffer, check, 8 * SECTOR) != 0)
    failed ("readback of the pattern", status);
  kit_puts ("disk: readback ok\n");

  if ((disk.features & (1u << KIT_VIRTIO_BLK_F_DISCARD))
      && (disk.features & (1u << KIT_VIRTIO_BLK_F_WRITE_ZEROES)))
    {
      status = kit_virtio_blk_range (&disk, KIT_VIRTIO_BLK_T_DISCARD, 8, 8);
      if (status != KIT_VIRTIO_BLK_S_OK)
        failed ("discard", status);
      status = kit_virtio_blk_range (&disk, KIT_VIRTIO_BLK_T_WRITE_ZEROES, 16, 8);
      if (status != KIT_VIRTIO_BLK_S_OK)
        failed ("write-zeroes", status);
      read_expect (16, 8, 0, "zeros after write-zeroes");
      kit_puts ("disk: zeroes ok\n");
      /* What a discarded range reads is up to the device (QEMU keeps the data unless discard=unmap);
       * Vireo punches a hole, which reads as zeros. */
      memset (check, 0, 8 * SECTOR);
      status = transfer (KIT_VIRTIO_BLK_T_IN, 8, buffer, 8 * SECTOR, 1);
      if (status != KIT_VIRTIO_BLK_S_OK)
        failed ("read of the discarded range", status);
      kit_puts (memcmp (buffer, check, 8 * SECTOR) == 0 ? "disk: discarded range reads zeros\n"
                                                        : "disk: discarded range kept its data\n");
    }
  else
    kit_puts ("disk: no discard\n");

  status = transfer (KIT_VIRTIO_BLK_T_IN, disk.capacity, buffer, SECTOR, 1);
  if (status != KIT_VIRTIO_BLK_S_IOERR)
    failed ("a read past the end", status);
  kit_puts ("disk: past the end refused\n");
}

/* bench=N: N MiB written, then read, in 64 KiB requests across the disk, for the host to time. */
static void
bench (uint64_t mib)
{
  uint64_t per_request = sizeof bench_buffer / SECTOR;
  uint64_t span = (disk.capacity / per_request) * per_request;
  int status;

  if (span == 0)
    failed ("the disk is too small for bench", 0);
  for (int pass = 0; pass < 2; pass++)
    for (uint64_t i = 0; i < mib * 16; i++)
      {
        status = transfer (pass == 0 ? KIT_VIRTIO_BLK_T_OUT : KIT_VIRTIO_BLK_T_IN, (i * per_request) % span,
                           bench_buffer, sizeof bench_buffer, 1);
        if (status != KIT_VIRTIO_BLK_S_OK)
          failed ("bench", status);
      }
  kit_printf ("disk: bench %u MiB written and read\n", (unsigned) mib);
}

static long
run (void *arg)
{
  KitBlkSegment id = { serial, 20 };
  int status;

  if (!kit_virtio_blk_init (&disk, 0))
    {
      kit_puts ("disk: FAIL no virtio-blk disk\n");
      kit_poweroff ();
    }
  kit_printf ("disk: capacity %u sectors, features 0x%x\n", (unsigned) disk.capacity, disk.features);
  status = kit_virtio_blk_request (&disk, KIT_VIRTIO_BLK_T_GET_ID, 0, &id, 1);
  if (status != KIT_VIRTIO_BLK_S_OK)
    failed ("get id", status);
  kit_printf ("disk: serial %s\n", serial);

  if (disk.capacity < 48)
    failed ("the disk is smaller than 48 sectors", 0);
  if (disk.features & (1u << KIT_VIRTIO_BLK_F_RO))
    read_only_checks ();
  else
    {
      uint64_t mib = 0;

      writable_checks ();
      if (kit_cmdline_u64 ("bench", &mib) && mib > 0)
        bench (mib);
    }
  kit_puts ("disk: done\n");
  kit_poweroff ();
}

void
guest_main (void)
{
  kit_run_user (run, NULL);
}
