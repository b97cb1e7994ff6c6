/* boot-counter.c — counts its own boots on its first virtio-blk disk, for the checkpoint tests: a disk
 * state shows in what the guest prints at its next boot.
 *
 * Sector 1 of the disk holds the counter: the 8 bytes BOOT_COUNTER_MAGIC, then the count as a
 * little-endian 32-bit number; anything else there (a fresh disk) counts as 0.  Each boot reads it, adds
 * one, writes the sector back and flushes (when the device offers FLUSH; without it a completed write is
 * already stable), and only then prints
 *
 *   boot counter N
 *
 * so a host that sees the line may snapshot the disk.  Then it idles, polling the ACPI power button
 * (about every millisecond: each poll is a VM exit); a press prints "boot-counter: power button" and
 * powers off.  Failures print "boot-counter: FAIL ..." and power off. */
#include "kit.h"

#define SECTOR             512
#define COUNTER_SECTOR     1
#define BOOT_COUNTER_MAGIC "VIREOBC1"
#define POLL_CYCLES        (1ull << 21) /* TSC cycles between power-button polls: ~1 ms at 2 GHz */

static KitVirtioBlk disk;
static uint8_t sector[SECTOR] __attribute__ ((aligned (4096)));

static void failed (const char *what, int status) __attribute__ ((noreturn));

static void
failed (const char *what, int status)
{
  kit_printf ("boot-counter: FAIL %s (status %d)\n", what, status);
  kit_poweroff ();
}

static uint32_t
get_le32 (const uint8_t *p)
{
  return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static void
put_le32 (uint8_t *p, uint32_t value)
{
  for (unsigned i = 0; i < 4; i++)
    p[i] = (uint8_t) (value >> (8 * i));
}

static long
run (void *unused)
{
  KitBlkSegment segment = { sector, SECTOR };
  uint32_t count = 0;
  int status;

  if (!kit_virtio_blk_init (&disk, 0))
    failed ("no usable virtio-blk disk", 0);
  if (disk.features & (1u << KIT_VIRTIO_BLK_F_RO))
    failed ("the disk is read-only", 0);
  if (disk.capacity <= COUNTER_SECTOR)
    failed ("the disk is too small", 0);

  status = kit_virtio_blk_request (&disk, KIT_VIRTIO_BLK_T_IN, COUNTER_SECTOR, &segment, 1);
  if (status != KIT_VIRTIO_BLK_S_OK)
    failed ("reading the counter", status);
  if (memcmp (sector, BOOT_COUNTER_MAGIC, 8) == 0)
    count = get_le32 (sector + 8);
  count++;

  memset (sector, 0, SECTOR);
  memcpy (sector, BOOT_COUNTER_MAGIC, 8);
  put_le32 (sector + 8, count);
  status = kit_virtio_blk_request (&disk, KIT_VIRTIO_BLK_T_OUT, COUNTER_SECTOR, &segment, 1);
  if (status != KIT_VIRTIO_BLK_S_OK)
    failed ("writing the counter", status);
  if (disk.features & (1u << KIT_VIRTIO_BLK_F_FLUSH))
    {
      status = kit_virtio_blk_request (&disk, KIT_VIRTIO_BLK_T_FLUSH, 0, NULL, 0);
      if (status != KIT_VIRTIO_BLK_S_OK)
        failed ("flushing the counter", status);
    }
  kit_printf ("boot counter %u\n", (unsigned) count);

  if (!kit_power_button_arm ())
    kit_puts ("boot-counter: no ACPI power button, idling\n");
  for (;;)
    {
      uint64_t start = kit_rdtsc ();

      while (kit_rdtsc () - start < POLL_CYCLES)
        cpu_pause ();
      if (kit_power_button_pressed ())
        {
          kit_puts ("boot-counter: power button\n");
          kit_poweroff ();
        }
    }
}

void
guest_main (void)
{
  kit_run_user (run, NULL);
}
