/* sata.c — drives the SATA disk and the CD-ROM on the first AHCI controller from ring 3 and reports each
 * step on serial, for the guest tests to assert on (and qemu-img/qemu-io to judge the image afterwards):
 *
 *   sata: port P disk N sectors (IDENTIFY DEVICE, LBA48), sata: port P cdrom
 *   disk: sectors 0-7 = 0xa5 (one write of 4 PRDs), 8-15 = 0x5a, the last sector = 0x77, 32-39 a byte
 *   pattern; FLUSH CACHE EXT; all read back ("sata: readback ok"); four NCQ writes and reads at once
 *   ("sata: ncq ok"); TRIM of 8-15 when IDENTIFY offers it ("sata: trim ok" / "sata: no trim"); a read
 *   past the end refused ("sata: past the end refused");
 *   CD-ROM: READ CAPACITY ("sata: cd N sectors"), the ISO's primary volume descriptor at LBA 16 ("sata:
 *   cd volume NAME"), a read past the end refused; with media=2 on the command line it locks the tray
 *   ("sata: cd locked") until the host presses the eject button ("sata: cd eject requested", "sata: cd
 *   unlocked"); with media=1 or 2 it then waits for the host to take the disc out ("sata: cd removed", "sata: cd not ready") and to put one in ("sata:
 *   cd inserted", "sata: cd unit attention", "sata: cd volume NAME"); an empty drive says "sata: cd empty";
 *   then "sata: done" and power-off.  Any failure prints "sata: FAIL ..." and powers off. */
#include "kit.h"

#define SECTOR 512

static KitAhci hba;
static uint8_t buffer[16 * SECTOR] __attribute__ ((aligned (4096)));
static uint8_t check[16 * SECTOR] __attribute__ ((aligned (4096)));
static uint8_t ncq[KIT_AHCI_NCQ_SLOTS][2 * SECTOR] __attribute__ ((aligned (4096)));
static uint8_t identify[SECTOR] __attribute__ ((aligned (64)));
static uint8_t cd[2 * 2048] __attribute__ ((aligned (64)));

static void
failed (const char *what, int status)
{
  kit_printf ("sata: FAIL %s (status %d)\n", what, status);
  kit_poweroff ();
}

static uint16_t
word (unsigned i)
{
  return (uint16_t) (identify[2 * i] | identify[2 * i + 1] << 8);
}

static int
transfer (unsigned port, bool write, uint64_t sector, uint8_t *data, uint32_t len, unsigned pieces)
{
  KitBlkSegment segments[KIT_AHCI_PRDS];
  uint32_t piece = len / pieces;

  for (unsigned i = 0; i < pieces; i++)
    segments[i] = (KitBlkSegment){ data + i * piece, piece };
  return kit_ahci_ata (&hba, port, write ? 0x35 : 0x25, sector, len / SECTOR, 0, segments, pieces, write);
}

static void
write_fill (unsigned port, uint64_t sector, unsigned count, uint8_t value, unsigned pieces)
{
  int status;

  memset (buffer, value, count * SECTOR);
  status = transfer (port, true, sector, buffer, count * SECTOR, pieces);
  if (status != 0)
    failed ("write", status);
}

static void
read_expect (unsigned port, uint64_t sector, unsigned count, uint8_t value, const char *what)
{
  int status;

  memset (check, value, count * SECTOR);
  memset (buffer, ~value, count * SECTOR);
  status = transfer (port, false, sector, buffer, count * SECTOR, count % 2 == 0 ? 2 : 1);
  if (status != 0)
    failed ("read", status);
  if (memcmp (buffer, check, count * SECTOR) != 0)
    failed (what, 0);
}

static void
disk_checks (unsigned port)
{
  KitBlkSegment id = { identify, SECTOR };
  uint64_t sectors, last;
  int status;

  status = kit_ahci_ata (&hba, port, 0xec, 0, 0, 0, &id, 1, false);
  if (status != 0)
    failed ("IDENTIFY DEVICE", status);
  if (!(word (83) & (1u << 10)))
    failed ("no LBA48", word (83));
  sectors = (uint64_t) word (100) | (uint64_t) word (101) << 16 | (uint64_t) word (102) << 32;
  kit_printf ("sata: port %u disk %u sectors\n", port, (unsigned) sectors);
  if (sectors < 48)
    failed ("the disk is smaller than 48 sectors", 0);
  last = sectors - 1;

  write_fill (port, 0, 8, 0xa5, 4);
  write_fill (port, 8, 8, 0x5a, 1);
  write_fill (port, last, 1, 0x77, 1);
  for (unsigned i = 0; i < 8 * SECTOR; i++)
    buffer[i] = (uint8_t) (i * 13 + i / SECTOR);
  status = transfer (port, true, 32, buffer, 8 * SECTOR, 8);
  if (status != 0)
    failed ("write pattern", status);
  status = kit_ahci_ata (&hba, port, 0xea, 0, 0, 0, 0, 0, false);
  if (status != 0)
    failed ("FLUSH CACHE EXT", status);
  read_expect (port, 0, 8, 0xa5, "readback of sectors 0-7");
  read_expect (port, 8, 8, 0x5a, "readback of sectors 8-15");
  read_expect (port, last, 1, 0x77, "readback of the last sector");
  for (unsigned i = 0; i < 8 * SECTOR; i++)
    check[i] = (uint8_t) (i * 13 + i / SECTOR);
  status = transfer (port, false, 32, buffer, 8 * SECTOR, 4);
  if (status != 0 || memcmp (buffer, check, 8 * SECTOR) != 0)
    failed ("readback of the pattern", status);
  kit_puts ("sata: readback ok\n");

  /* Four queued writes of two sectors each (16-23), then four queued reads. */
  {
    uint64_t lba[KIT_AHCI_NCQ_SLOTS];
    void *data[KIT_AHCI_NCQ_SLOTS];

    for (unsigned i = 0; i < KIT_AHCI_NCQ_SLOTS; i++)
      {
        lba[i] = 16 + 2 * i;
        data[i] = ncq[i];
        memset (ncq[i], 0x10 + (int) i, 2 * SECTOR);
      }
    status = kit_ahci_ncq (&hba, port, true, lba, 2, data, KIT_AHCI_NCQ_SLOTS);
    if (status != 0)
      failed ("NCQ write", status);
    for (unsigned i = 0; i < KIT_AHCI_NCQ_SLOTS; i++)
      memset (ncq[i], 0, 2 * SECTOR);
    for (unsigned i = 0; i < KIT_AHCI_NCQ_SLOTS; i++)
      lba[i] = 16 + 2 * (KIT_AHCI_NCQ_SLOTS - 1 - i);
    status = kit_ahci_ncq (&hba, port, false, lba, 2, data, KIT_AHCI_NCQ_SLOTS);
    if (status != 0)
      failed ("NCQ read", status);
    for (unsigned i = 0; i < KIT_AHCI_NCQ_SLOTS; i++)
      if (ncq[i][0] != 0x10 + KIT_AHCI_NCQ_SLOTS - 1 - i || ncq[i][2 * SECTOR - 1] != ncq[i][0])
        failed ("NCQ readback", ncq[i][0]);
    kit_puts ("sata: ncq ok\n");
  }

  if (word (169) & 1)
    {
      KitBlkSegment list = { check, SECTOR };
      uint64_t entry = 8ull | 8ull << 48; /* LBA 8, 8 sectors */

      memset (check, 0, SECTOR);
      memcpy (check, &entry, 8);
      status = kit_ahci_ata (&hba, port, 0x06, 0, 1, 0x01, &list, 1, true);
      if (status != 0)
        failed ("TRIM", status);
      read_expect (port, 8, 8, 0, "zeros after TRIM");
      kit_puts ("sata: trim ok\n");
    }
  else
    kit_puts ("sata: no trim\n");

  status = transfer (port, false, sectors, buffer, SECTOR, 1);
  if (status <= 0)
    failed ("a read past the end", status);
  kit_puts ("sata: past the end refused\n");
}

/* TEST UNIT READY: 0 when ready, else the sense key. */
static int
test_unit_ready (unsigned port)
{
  uint8_t cdb[12] = { 0 };

  return kit_ahci_packet (&hba, port, cdb, 0, 0);
}

/* The additional sense code of the last error. */
static unsigned
last_asc (unsigned port)
{
  uint8_t cdb[12] = { 0x03, 0, 0, 0, 18 };

  if (kit_ahci_packet (&hba, port, cdb, cd, 18) != 0)
    failed ("REQUEST SENSE", 0);
  return cd[12];
}

static void
read_volume (unsigned port)
{
  uint8_t cdb[12] = { 0x28, 0, 0, 0, 0, 16, 0, 0, 1 };
  char name[33];
  int status;
  unsigned n = 32;

  status = kit_ahci_packet (&hba, port, cdb, cd, 2048);
  if (status != 0)
    failed ("READ(10) of the volume descriptor", status);
  if (cd[0] != 1 || memcmp (cd + 1, "CD001", 5) != 0)
    failed ("no ISO 9660 volume descriptor at LBA 16", cd[0]);
  memcpy (name, cd + 40, 32);
  while (n > 0 && name[n - 1] == ' ')
    n--;
  name[n] = '\0';
  kit_printf ("sata: cd volume %s\n", name);
}

/* Polls GET EVENT STATUS NOTIFICATION for a media event of @code, for about a minute. */
static void
wait_media_event (unsigned port, uint8_t code)
{
  uint8_t cdb[12] = { 0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8 };
  uint64_t start = kit_rdtsc ();

  while (kit_rdtsc () - start < (1ull << 38))
    {
      if (kit_ahci_packet (&hba, port, cdb, cd, 8) != 0)
        failed ("GET EVENT STATUS NOTIFICATION", 0);
      if (cd[4] == code)
        return;
      for (unsigned i = 0; i < 100000; i++)
        cpu_pause ();
    }
  failed ("no media event", code);
}

static void
cdrom_checks (unsigned port)
{
  KitBlkSegment id = { identify, SECTOR };
  uint8_t capacity[12] = { 0x25 };
  uint8_t beyond[12] = { 0x28 };
  uint64_t media = 0;
  unsigned sectors;
  int status;

  kit_printf ("sata: port %u cdrom\n", port);
  status = kit_ahci_ata (&hba, port, 0xa1, 0, 0, 0, &id, 1, false);
  if (status != 0 || ((word (0) >> 8) & 0x1f) != 5)
    failed ("IDENTIFY PACKET DEVICE", status);
  /* A fresh drive may first report the disc as new. */
  status = test_unit_ready (port);
  if (status != 0)
    status = test_unit_ready (port);
  if (status == 2 && last_asc (port) == 0x3a)
    {
      kit_puts ("sata: cd empty\n");
      return;
    }
  if (status != 0)
    failed ("TEST UNIT READY", status);
  status = kit_ahci_packet (&hba, port, capacity, cd, 8);
  if (status != 0)
    failed ("READ CAPACITY", status);
  sectors = ((unsigned) cd[0] << 24 | cd[1] << 16 | cd[2] << 8 | cd[3]) + 1;
  kit_printf ("sata: cd %u sectors\n", sectors);
  read_volume (port);
  beyond[2] = (uint8_t) (sectors >> 24);
  beyond[3] = (uint8_t) (sectors >> 16);
  beyond[4] = (uint8_t) (sectors >> 8);
  beyond[5] = (uint8_t) sectors;
  beyond[8] = 1;
  if (kit_ahci_packet (&hba, port, beyond, cd, 2048) != 5)
    failed ("a read past the end of the disc", 0);
  kit_puts ("sata: cd past the end refused\n");

  if (!kit_cmdline_u64 ("media", &media) || media == 0)
    return;
  if (media == 2)
    {
      uint8_t prevent[12] = { 0x1e, 0, 0, 0, 1 };
      uint8_t allow[12] = { 0x1e };

      if (kit_ahci_packet (&hba, port, prevent, 0, 0) != 0)
        failed ("PREVENT MEDIUM REMOVAL", 0);
      kit_puts ("sata: cd locked\n");
      wait_media_event (port, 1);
      kit_puts ("sata: cd eject requested\n");
      if (kit_ahci_packet (&hba, port, allow, 0, 0) != 0)
        failed ("ALLOW MEDIUM REMOVAL", 0);
      kit_puts ("sata: cd unlocked\n");
    }
  kit_puts ("sata: cd waiting for the disc to go\n");
  wait_media_event (port, 3);
  kit_puts ("sata: cd removed\n");
  if (test_unit_ready (port) != 2 || last_asc (port) != 0x3a)
    failed ("an empty drive is not NOT READY, MEDIUM NOT PRESENT", 0);
  kit_puts ("sata: cd not ready\n");
  kit_puts ("sata: cd waiting for a disc\n");
  wait_media_event (port, 2);
  kit_puts ("sata: cd inserted\n");
  if (test_unit_ready (port) != 6 || last_asc (port) != 0x28)
    failed ("no UNIT ATTENTION after the change", 0);
  kit_puts ("sata: cd unit attention\n");
  if (test_unit_ready (port) != 0)
    failed ("not ready with the new disc", 0);
  read_volume (port);
}

static long
run (void *arg)
{
  bool any = false;

  if (!kit_ahci_init (&hba, 0))
    {
      kit_puts ("sata: FAIL no AHCI controller\n");
      kit_poweroff ();
    }
  for (unsigned port = 0; port < KIT_AHCI_PORTS; port++)
    {
      if (hba.kinds[port] == KIT_AHCI_DISK)
        disk_checks (port);
      else if (hba.kinds[port] == KIT_AHCI_CDROM)
        cdrom_checks (port);
      else
        continue;
      any = true;
    }
  if (!any)
    kit_puts ("sata: FAIL no drive\n");
  kit_puts ("sata: done\n");
  kit_poweroff ();
}

void
guest_main (void)
{
  kit_run_user (run, NULL);
}
