/* flush-writer.c — writes numbered patterns to the first virtio-blk disk and flushes, for the crash
 * test (tests/slow/test-disk-crash.c), which kills the VMM at a random moment and then checks that
 * everything the guest was told is on stable storage reads back:
 *
 *   flush-writer: start, capacity N sectors
 *   flushed S          (after a FLUSH that completed: writes 1..S are durable)
 *
 * Write S fills 4 KiB at FLUSH_WRITER_SLOT(S) with the byte FLUSH_WRITER_BYTE(S); four writes go between
 * flushes.  With noflush=1 on the command line the driver does not negotiate FLUSH, and "flushed S"
 * follows completed writes alone, which the device must then keep stable.  The slots are scattered (so a qcow2 image allocates clusters, tables and refcount blocks
 * while in-place writes go to clusters already there) and never repeat within one run.  Any failure
 * prints "flush-writer: FAIL ..." and powers off; after the last slot, "flush-writer: done". */
#include "kit.h"

#include "flush-writer.h"

static KitVirtioBlk disk;
static uint8_t buffer[FLUSH_WRITER_BYTES] __attribute__ ((aligned (4096)));

static void
failed (const char *what, uint32_t seq, int status)
{
  kit_printf ("flush-writer: FAIL %s %u (status %d)\n", what, (unsigned) seq, status);
  kit_poweroff ();
}

static long
run (void *arg)
{
  uint64_t no_flush = 0;

  (void) kit_cmdline_u64 ("noflush", &no_flush);
  if (!kit_virtio_blk_init_without (&disk, 0, no_flush ? 1u << KIT_VIRTIO_BLK_F_FLUSH : 0))
    {
      kit_puts ("flush-writer: FAIL no virtio-blk disk\n");
      kit_poweroff ();
    }
  if (disk.capacity < FLUSH_WRITER_SLOTS * (FLUSH_WRITER_BYTES / 512))
    failed ("the disk is too small", 0, 0);
  if (!no_flush && !(disk.features & (1u << KIT_VIRTIO_BLK_F_FLUSH)))
    failed ("no FLUSH", 0, 0);
  kit_printf ("flush-writer: start, capacity %u sectors%s\n", (unsigned) disk.capacity,
              no_flush ? ", FLUSH not negotiated" : "");
  for (uint32_t seq = 1; seq < FLUSH_WRITER_SLOTS; seq++)
    {
      KitBlkSegment segment = { buffer, sizeof buffer };
      int status;

      memset (buffer, FLUSH_WRITER_BYTE (seq), sizeof buffer);
      status = kit_virtio_blk_request (&disk, KIT_VIRTIO_BLK_T_OUT,
                                       (uint64_t) FLUSH_WRITER_SLOT (seq) * (FLUSH_WRITER_BYTES / 512),
                                       &segment, 1);
      if (status != KIT_VIRTIO_BLK_S_OK)
        failed ("write", seq, status);
      if (seq % FLUSH_WRITER_BATCH == 0)
        {
          /* Without FLUSH negotiated a completed write is already stable (virtio 1.2 §5.2.6.2). */
          if (!no_flush)
            status = kit_virtio_blk_request (&disk, KIT_VIRTIO_BLK_T_FLUSH, 0, NULL, 0);
          if (status != KIT_VIRTIO_BLK_S_OK)
            failed ("flush after", seq, status);
          kit_printf ("flushed %u\n", (unsigned) seq);
        }
    }
  kit_puts ("flush-writer: done\n");
  kit_poweroff ();
}

void
guest_main (void)
{
  kit_run_user (run, NULL);
}
