/* test-ahci.c — the AHCI controller as a driver sees it, honest and hostile: its PCI identity and
 * registers, a SATA disk (IDENTIFY, DMA and NCQ reads and writes over several PRDs reaching the image,
 * flush, TRIM), an ATAPI CD-ROM (INQUIRY, READ CAPACITY, READ(10), sense data, media events, unit
 * attention after a disc change, the tray lock), command tables that break the rules (outside RAM,
 * PRDs past the end of memory or shorter than the transfer, LBAs past the end, unknown commands,
 * commands to empty ports), interrupts, and saved state. */
#include "virtio-driver.h"
#include "block/block.h"
#include "devices/ahci.h"
#include "x86/layout.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#define DISK_SIZE  (1u << 20)
#define CD_SECTORS 64
#define SLOT       1 /* the test's first PCI slot */

/* Guest memory layout. */
#define CLB(port)      (0x100000ull + (port) *0x1000ull)
#define FB(port)       (CLB (port) + 0x400)
#define CT(port, slot) (0x180000ull + (port) *0x10000ull + (slot) *0x400ull)
#define DATA           0x300000ull

#define P_IS   0x10
#define P_IE   0x14
#define P_CMD  0x18
#define P_TFD  0x20
#define P_SIG  0x24
#define P_SSTS 0x28
#define P_SCTL 0x2c
#define P_SERR 0x30
#define P_SACT 0x34
#define P_CI   0x38

#define IS_DHRS (1u << 0)
#define IS_PSS  (1u << 1)
#define IS_SDBS (1u << 3)
#define IS_HBFS (1u << 29)
#define IS_TFES (1u << 30)

typedef struct
{
  TestMachine m;
  char *dir;
  char *disk_path;
  char *cd_path;
  HvAhci *ahci;
  uint64_t abar;
} Fixture;

typedef struct
{
  uint64_t address;
  uint32_t len;
} Prd;

static HvBlock *
open_block (const char *path, gboolean read_only)
{
  g_autoptr (GError) error = NULL;
  HvBlockOptions options = { .read_only = read_only, .cache = HV_BLOCK_CACHE_WRITEBACK };
  int fd = open (path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  HvBlock *block = hv_block_open (fd, &options, NULL, NULL, &error);

  g_assert_no_error (error);
  return block;
}

static void
make_file (const char *path, gsize size, gboolean pattern)
{
  g_autofree uint8_t *data = g_malloc0 (size);

  if (pattern)
    for (gsize i = 0; i < size; i += 2048)
      {
        memset (data + i, (int) (i / 2048 + 1), 2048);
        memcpy (data + i, "SECTOR", 6);
      }
  g_assert_true (g_file_set_contents (path, (const char *) data, (gssize) size, NULL));
}

static uint32_t
hba_read (Fixture *f, unsigned reg)
{
  return (uint32_t) test_mmio_read (&f->m, f->abar + reg, 4);
}

static void
hba_write (Fixture *f, unsigned reg, uint32_t value)
{
  test_mmio_write (&f->m, f->abar + reg, 4, value);
}

static uint32_t
port_read (Fixture *f, unsigned port, unsigned reg)
{
  return hba_read (f, 0x100 + 0x80 * port + reg);
}

static void
port_write (Fixture *f, unsigned port, unsigned reg, uint32_t value)
{
  hba_write (f, 0x100 + 0x80 * port + reg, value);
}

static void
start_port (Fixture *f, unsigned port)
{
  port_write (f, port, 0x00, (uint32_t) CLB (port));
  port_write (f, port, 0x04, 0);
  port_write (f, port, 0x08, (uint32_t) FB (port));
  port_write (f, port, 0x0c, 0);
  port_write (f, port, P_CMD, 0x10); /* FRE */
  port_write (f, port, P_SERR, 0xffffffff);
  port_write (f, port, P_CMD, 0x11); /* FRE | ST */
}

static void
restart_port (Fixture *f, unsigned port)
{
  port_write (f, port, P_CMD, 0x10);
  g_assert_cmpuint (port_read (f, port, P_CMD) & (1u << 15), ==, 0);
  port_write (f, port, P_IS, 0xffffffff);
  port_write (f, port, P_CMD, 0x11);
}

/* Writes a command into @slot: the FIS, an ATAPI command, the PRDs. */
static void
put_command (Fixture *f, unsigned port, unsigned slot, const uint8_t *cfis, const uint8_t *cdb,
             const Prd *prds, unsigned n_prds, gboolean write)
{
  uint8_t *header = test_guest (&f->m, CLB (port) + 32 * slot, 32);
  uint8_t *table = test_guest (&f->m, CT (port, slot), 0x80 + 16 * n_prds);
  uint32_t flags = 5 | (cdb ? 1u << 5 : 0) | (write ? 1u << 6 : 0) | n_prds << 16;

  memset (header, 0, 32);
  memset (table, 0, 0x80 + 16 * n_prds);
  memcpy (header, &(uint32_t){ GUINT32_TO_LE (flags) }, 4);
  memcpy (header + 8, &(uint64_t){ GUINT64_TO_LE (CT (port, slot)) }, 8);
  memcpy (table, cfis, 20);
  if (cdb)
    memcpy (table + 0x40, cdb, 12);
  for (unsigned i = 0; i < n_prds; i++)
    {
      memcpy (table + 0x80 + 16 * i, &(uint64_t){ GUINT64_TO_LE (prds[i].address) }, 8);
      memcpy (table + 0x80 + 16 * i + 12, &(uint32_t){ GUINT32_TO_LE (prds[i].len - 1) }, 4);
    }
}

static void
make_fis (uint8_t *fis, uint8_t command, uint64_t lba, unsigned count, uint8_t features)
{
  memset (fis, 0, 20);
  fis[0] = 0x27;
  fis[1] = 0x80;
  fis[2] = command;
  fis[3] = features;
  fis[4] = (uint8_t) lba;
  fis[5] = (uint8_t) (lba >> 8);
  fis[6] = (uint8_t) (lba >> 16);
  fis[7] = 0x40;
  fis[8] = (uint8_t) (lba >> 24);
  fis[9] = (uint8_t) (lba >> 32);
  fis[10] = (uint8_t) (lba >> 40);
  fis[12] = (uint8_t) count;
  fis[13] = (uint8_t) (count >> 8);
}

/* Issues @slot and runs the I/O thread until the controller clears its PxCI (and PxSACT) bit; the
 * port's PxIS, cleared afterwards. */
static uint32_t
run (Fixture *f, unsigned port, unsigned slot, gboolean ncq)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
  uint32_t is;

  if (ncq)
    port_write (f, port, P_SACT, 1u << slot);
  port_write (f, port, P_CI, 1u << slot);
  for (;;)
    {
      test_machine_run_io (&f->m);
      if (!(port_read (f, port, P_CI) & (1u << slot)) && !(port_read (f, port, P_SACT) & (1u << slot)))
        break;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (100);
    }
  is = port_read (f, port, P_IS);
  port_write (f, port, P_IS, is);
  return is;
}

static uint32_t
prdbc (Fixture *f, unsigned port, unsigned slot)
{
  uint32_t value;

  memcpy (&value, test_guest (&f->m, CLB (port) + 32 * slot + 4, 4), 4);
  return GUINT32_FROM_LE (value);
}

static uint32_t
ata (Fixture *f, unsigned port, uint8_t command, uint64_t lba, unsigned count, const Prd *prds,
     unsigned n_prds, gboolean write)
{
  uint8_t fis[20];

  make_fis (fis, command, lba, count, 0);
  put_command (f, port, 0, fis, NULL, prds, n_prds, write);
  return run (f, port, 0, FALSE);
}

static uint32_t
atapi (Fixture *f, const uint8_t *cdb, uint32_t len)
{
  uint8_t fis[20];
  Prd prd = { DATA, len ? len : 2 };

  make_fis (fis, 0xa0, 0, 0, 0x01);
  put_command (f, 1, 0, fis, cdb, &prd, 1, FALSE);
  return run (f, 1, 0, FALSE);
}

/* The sense key and ASC after a command that failed (REQUEST SENSE). */
static unsigned
sense (Fixture *f)
{
  uint8_t cdb[12] = { 0x03, 0, 0, 0, 18 };
  uint8_t *data = test_guest (&f->m, DATA, 18);

  g_assert_cmpuint (atapi (f, cdb, 18) & IS_TFES, ==, 0);
  return (unsigned) data[2] << 8 | data[12];
}

static void
setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  uint32_t bar;

  f->dir = g_dir_make_tmp ("vireo-ahci-XXXXXX", &error);
  g_assert_no_error (error);
  f->disk_path = g_build_filename (f->dir, "disk.img", NULL);
  f->cd_path = g_build_filename (f->dir, "cd.iso", NULL);
  make_file (f->disk_path, DISK_SIZE, FALSE);
  make_file (f->cd_path, CD_SECTORS * 2048, TRUE);
  test_machine_init (&f->m);
  f->ahci = hv_ahci_new (&f->m.tp.platform, f->m.pci, "ahci", &error);
  g_assert_no_error (error);
  g_assert_cmpint (hv_ahci_add_disk (f->ahci, "sata0", open_block (f->disk_path, FALSE), "SERIAL-1", &error),
                   ==, 0);
  g_assert_cmpint (hv_ahci_add_cdrom (f->ahci, "cdrom0", open_block (f->cd_path, TRUE), &error), ==, 1);
  g_assert_no_error (error);

  g_assert_cmphex (test_config_read (&f->m, SLOT, 0x00, 4), ==, 0x29228086);
  g_assert_cmphex (test_config_read (&f->m, SLOT, 0x08, 4) >> 8, ==, 0x010601);
  g_assert_cmpuint (test_config_read (&f->m, SLOT, 0x3d, 1), ==, 1);
  bar = test_config_read (&f->m, SLOT, 0x24, 4);
  g_assert_cmphex (bar & 0xf, ==, 0);
  f->abar = bar & ~0xfu;
  g_assert_cmphex (f->abar, !=, 0);
  test_config_write (&f->m, SLOT, 0x04, 2, 0x0006); /* memory, bus master */
  hba_write (f, 0x04, 0x80000001);                  /* AE, HR */
  g_assert_cmphex (hba_read (f, 0x04) & 1, ==, 0);
  start_port (f, 0);
  start_port (f, 1);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  hv_ahci_free (f->ahci);
  test_machine_clear (&f->m);
  g_unlink (f->disk_path);
  g_unlink (f->cd_path);
  g_rmdir (f->dir);
  g_free (f->disk_path);
  g_free (f->cd_path);
  g_free (f->dir);
}

static void
test_registers (Fixture *f, gconstpointer data)
{
  uint32_t cap = hba_read (f, 0x00);

  g_assert_cmpuint (cap & 0x1f, ==, 5);         /* six ports */
  g_assert_cmpuint ((cap >> 8) & 0x1f, ==, 31); /* 32 slots */
  g_assert_true (cap & (1u << 18));             /* AHCI only */
  g_assert_true (cap & (1u << 30));             /* NCQ */
  g_assert_cmphex (hba_read (f, 0x0c), ==, 0x3f);
  g_assert_cmphex (hba_read (f, 0x10), >=, 0x10000);
  g_assert_cmphex (hba_read (f, 0x04) & (1u << 31), !=, 0);

  g_assert_cmphex (port_read (f, 0, P_SIG), ==, 0x00000101);
  g_assert_cmphex (port_read (f, 1, P_SIG), ==, 0xeb140101);
  g_assert_cmphex (port_read (f, 0, P_SSTS) & 0xf, ==, 3);
  g_assert_cmphex (port_read (f, 1, P_SSTS) & 0xf, ==, 3);
  g_assert_cmphex (port_read (f, 2, P_SSTS) & 0xf, ==, 0);
  g_assert_cmphex (port_read (f, 0, P_TFD) & 0x89, ==, 0); /* neither BSY, DRQ nor ERR */
  g_assert_cmphex (port_read (f, 0, P_CMD) & (1u << 15 | 1u << 14), ==, 1u << 15 | 1u << 14);
}

static void
test_disk_identify (Fixture *f, gconstpointer data)
{
  Prd prd = { DATA, 512 };
  uint8_t *id = test_guest (&f->m, DATA, 512);
  uint8_t sum = 0;
  uint64_t sectors;

  /* Firmware tells a disk from a CD-ROM by IDENTIFY PACKET DEVICE failing. */
  g_assert_cmphex (ata (f, 0, 0xa1, 0, 0, &prd, 1, FALSE) & IS_TFES, !=, 0);
  g_assert_cmphex (port_read (f, 0, P_TFD) & 0x01, ==, 1);
  restart_port (f, 0);

  g_assert_cmphex (ata (f, 0, 0xec, 0, 0, &prd, 1, FALSE) & (IS_PSS | IS_TFES), ==, IS_PSS);
  g_assert_cmpuint (prdbc (f, 0, 0), ==, 512);
  g_assert_cmphex (id[0] | id[1] << 8, ==, 0x0040);
  g_assert_cmphex ((id[166] | id[167] << 8) & (1u << 10), !=, 0); /* LBA48 */
  memcpy (&sectors, id + 200, 8);
  g_assert_cmpuint (GUINT64_FROM_LE (sectors), ==, DISK_SIZE / 512);
  g_assert_cmpmem (id + 20, 8, "ESIRLA1-", 8); /* "SERIAL-1" with its bytes swapped */
  g_assert_cmpuint (id[510], ==, 0xa5);
  for (unsigned i = 0; i < 512; i++)
    sum += id[i];
  g_assert_cmpuint (sum, ==, 0);
}

static void
test_disk_io (Fixture *f, gconstpointer data)
{
  /* Three PRDs of uneven sizes covering 8 sectors. */
  Prd prds[] = { { DATA, 1024 }, { DATA + 0x10000, 2048 }, { DATA + 0x20000, 1024 } };
  Prd back[] = { { DATA + 0x40000, 4096 } };
  g_autofree uint8_t *file = NULL;
  uint8_t expect[4096];
  gsize len;
  int fd;

  for (unsigned i = 0; i < 3; i++)
    memset (test_guest (&f->m, prds[i].address, prds[i].len), 'a' + (int) i, prds[i].len);
  memset (expect, 'a', 1024);
  memset (expect + 1024, 'b', 2048);
  memset (expect + 3072, 'c', 1024);

  g_assert_cmphex (ata (f, 0, 0x35, 100, 8, prds, 3, TRUE) & (IS_DHRS | IS_TFES), ==, IS_DHRS);
  g_assert_cmpuint (prdbc (f, 0, 0), ==, 4096);
  g_assert_cmphex (ata (f, 0, 0xea, 0, 0, NULL, 0, FALSE) & IS_TFES, ==, 0);
  g_assert_true (g_file_get_contents (f->disk_path, (char **) &file, &len, NULL));
  g_assert_cmpmem (file + 100 * 512, 4096, expect, 4096);

  g_assert_cmphex (ata (f, 0, 0x25, 100, 8, back, 1, FALSE) & IS_TFES, ==, 0);
  g_assert_cmpmem (test_guest (&f->m, back[0].address, 4096), 4096, expect, 4096);
  /* LBA28 DMA as SeaBIOS sends it. */
  memset (test_guest (&f->m, back[0].address, 4096), 0, 4096);
  g_assert_cmphex (ata (f, 0, 0xc8, 100, 8, back, 1, FALSE) & IS_TFES, ==, 0);
  g_assert_cmpmem (test_guest (&f->m, back[0].address, 4096), 4096, expect, 4096);

  /* NCQ: two writes in flight together, then a queued read. */
  {
    uint8_t fis[20];
    Prd one = { DATA + 0x50000, 512 }, two = { DATA + 0x60000, 512 }, read = { DATA + 0x70000, 1024 };
    gint64 deadline = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;

    memset (test_guest (&f->m, one.address, 512), 'x', 512);
    memset (test_guest (&f->m, two.address, 512), 'y', 512);
    make_fis (fis, 0x61, 200, 0, 1);
    fis[12] = 3 << 3; /* tag 3 */
    put_command (f, 0, 3, fis, NULL, &one, 1, TRUE);
    make_fis (fis, 0x61, 201, 0, 1);
    fis[12] = 4 << 3;
    put_command (f, 0, 4, fis, NULL, &two, 1, TRUE);
    port_write (f, 0, P_SACT, 1u << 3 | 1u << 4);
    port_write (f, 0, P_CI, 1u << 3 | 1u << 4);
    while (port_read (f, 0, P_SACT) & (1u << 3 | 1u << 4))
      {
        test_machine_run_io (&f->m);
        g_assert_cmpint (g_get_monotonic_time (), <, deadline);
        g_usleep (100);
      }
    g_assert_cmphex (port_read (f, 0, P_IS) & (IS_SDBS | IS_TFES), ==, IS_SDBS);
    port_write (f, 0, P_IS, 0xffffffff);
    make_fis (fis, 0x60, 200, 0, 2);
    fis[12] = 5 << 3;
    put_command (f, 0, 5, fis, NULL, &read, 1, FALSE);
    g_assert_cmphex (run (f, 0, 5, TRUE) & (IS_SDBS | IS_TFES), ==, IS_SDBS);
    g_assert_cmpuint (test_guest (&f->m, read.address, 1024)[0], ==, 'x');
    g_assert_cmpuint (test_guest (&f->m, read.address, 1024)[1023], ==, 'y');
  }

  /* TRIM where the image can discard: the range reads back as zeros from the raw file. */
  fd = open (f->disk_path, O_RDONLY | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  close (fd);
  {
    uint8_t *id = test_guest (&f->m, DATA, 512);
    Prd prd = { DATA, 512 };

    g_assert_cmphex (ata (f, 0, 0xec, 0, 0, &prd, 1, FALSE) & IS_TFES, ==, 0);
    if (id[338] & 1)
      {
        uint8_t *range = test_guest (&f->m, DATA + 0x1000, 512);
        Prd list = { DATA + 0x1000, 512 };
        uint64_t entry = GUINT64_TO_LE (96ull | 16ull << 48); /* LBA 96, 16 sectors */
        g_autofree uint8_t *after = NULL;
        uint8_t zeros[4096] = { 0 };
        uint8_t fis[20];

        memset (range, 0, 512);
        memcpy (range, &entry, 8);
        make_fis (fis, 0x06, 0, 1, 0x01);
        put_command (f, 0, 0, fis, NULL, &list, 1, TRUE);
        g_assert_cmphex (run (f, 0, 0, FALSE) & IS_TFES, ==, 0);
        g_assert_true (g_file_get_contents (f->disk_path, (char **) &after, &len, NULL));
        g_assert_cmpmem (after + 100 * 512, 4096, zeros, 4096);
      }
    else
      g_test_message ("the image cannot discard here: TRIM not offered");
  }

  /* READ VERIFY inside and past the end. */
  g_assert_cmphex (ata (f, 0, 0x42, 0, 8, NULL, 0, FALSE) & IS_TFES, ==, 0);
  g_assert_cmphex (ata (f, 0, 0x42, DISK_SIZE / 512, 1, NULL, 0, FALSE) & IS_TFES, !=, 0);
}

static void
test_hostile (Fixture *f, gconstpointer data)
{
  Prd outside = { TEST_RAM_SIZE - 512, 4096 };
  Prd huge = { DATA, 4u << 20 };
  Prd small = { DATA, 512 };
  uint8_t fis[20];

  /* A PRD past the end of RAM: a host bus error, the port stops, nothing crashes. */
  g_assert_cmphex (ata (f, 0, 0x25, 0, 8, &outside, 1, FALSE) & IS_HBFS, !=, 0);
  restart_port (f, 0);
  /* A PRD larger than RAM. */
  g_assert_cmphex (ata (f, 0, 0x25, 0, 8, &huge, 1, FALSE) & IS_HBFS, !=, 0);
  restart_port (f, 0);
  /* A scatter list shorter than the transfer. */
  g_assert_cmphex (ata (f, 0, 0x25, 0, 8, &small, 1, FALSE) & IS_TFES, !=, 0);
  restart_port (f, 0);
  /* Past the end of the disk, and a count wrapping LBA48 arithmetic. */
  g_assert_cmphex (ata (f, 0, 0x25, DISK_SIZE / 512 - 1, 2, &small, 1, FALSE) & IS_TFES, !=, 0);
  g_assert_cmphex ((port_read (f, 0, P_TFD) >> 8) & 0x10, !=, 0); /* IDNF */
  restart_port (f, 0);
  g_assert_cmphex (ata (f, 0, 0x25, 0xffffffffffffull, 0, &small, 1, FALSE) & IS_TFES, !=, 0);
  restart_port (f, 0);
  /* Unknown commands, and a FIS that is no command. */
  g_assert_cmphex (ata (f, 0, 0x99, 0, 0, NULL, 0, FALSE) & IS_TFES, !=, 0);
  restart_port (f, 0);
  make_fis (fis, 0xec, 0, 0, 0);
  fis[0] = 0x34;
  put_command (f, 0, 0, fis, NULL, &small, 1, FALSE);
  g_assert_cmphex (run (f, 0, 0, FALSE) & IS_TFES, !=, 0);
  restart_port (f, 0);

  /* A command list outside RAM. */
  port_write (f, 0, P_CMD, 0x10);
  port_write (f, 0, 0x00, 0xfffffc00);
  port_write (f, 0, 0x04, 0xffffffff);
  port_write (f, 0, P_CMD, 0x11);
  port_write (f, 0, P_CI, 1);
  test_machine_run_io (&f->m);
  g_assert_cmphex (port_read (f, 0, P_IS) & IS_HBFS, !=, 0);
  g_assert_cmphex (port_read (f, 0, P_CI), ==, 0);
  port_write (f, 0, P_CMD, 0x10);
  start_port (f, 0);
  port_write (f, 0, P_IS, 0xffffffff);

  /* A port without a drive takes no command and writes nothing. */
  memset (test_guest (&f->m, DATA, 512), 0x5a, 512);
  port_write (f, 3, 0x00, (uint32_t) CLB (3));
  port_write (f, 3, P_CMD, 0x11);
  g_assert_cmphex (port_read (f, 3, P_CMD) & (1u << 15), ==, 0); /* never running */
  make_fis (fis, 0xec, 0, 0, 0);
  put_command (f, 3, 0, fis, NULL, &small, 1, FALSE);
  port_write (f, 3, P_CI, 1);
  test_machine_run_io (&f->m);
  g_assert_cmphex (port_read (f, 3, P_CI), ==, 0);
  g_assert_cmphex (port_read (f, 3, P_IS), ==, 0);
  g_assert_cmpuint (test_guest (&f->m, DATA, 512)[0], ==, 0x5a);
  /* Registers past the last port, and odd widths. */
  hba_write (f, 0x100 + 0x80 * 6, 0xffffffff);
  g_assert_cmphex (hba_read (f, 0x100 + 0x80 * 6), ==, 0);
  test_mmio_write (&f->m, f->abar + 0x138, 1, 0xff);
  g_assert_cmphex (port_read (f, 0, P_CI), ==, 0);

  /* After all that the disk still works. */
  g_assert_cmphex (ata (f, 0, 0xec, 0, 0, &small, 1, FALSE) & IS_TFES, ==, 0);
}

static void
test_cdrom (Fixture *f, gconstpointer data)
{
  Prd prd = { DATA, 512 };
  uint8_t *buf = test_guest (&f->m, DATA, 8192);
  uint8_t inquiry[12] = { 0x12, 0, 0, 0, 36 };
  uint8_t tur[12] = { 0 };
  uint8_t capacity[12] = { 0x25 };
  uint8_t read10[12] = { 0x28, 0, 0, 0, 0, 3, 0, 0, 2 };
  uint8_t beyond[12] = { 0x28, 0, 0, 0, 0, CD_SECTORS - 1, 0, 0, 2 };
  uint8_t gesn[12] = { 0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8 };
  uint8_t toc[12] = { 0x43, 0, 0, 0, 0, 0, 0, 0, 100 };
  uint8_t config[12] = { 0x46, 0, 0, 0, 0, 0, 0, 0, 100 };
  uint8_t mode[12] = { 0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 100 };
  uint8_t prevent[12] = { 0x1e, 0, 0, 0, 1 };
  uint8_t allow[12] = { 0x1e };
  uint8_t eject[12] = { 0x1b, 0, 0, 0, 0x02 };
  uint8_t load[12] = { 0x1b, 0, 0, 0, 0x03 };
  g_autoptr (GError) error = NULL;

  /* An ATAPI device aborts IDENTIFY DEVICE and answers IDENTIFY PACKET DEVICE. */
  g_assert_cmphex (ata (f, 1, 0xec, 0, 0, &prd, 1, FALSE) & IS_TFES, !=, 0);
  restart_port (f, 1);
  g_assert_cmphex (ata (f, 1, 0xa1, 0, 0, &prd, 1, FALSE) & IS_TFES, ==, 0);
  g_assert_cmphex ((buf[0] | buf[1] << 8) >> 8 & 0x1f, ==, 5);

  g_assert_cmphex (atapi (f, inquiry, 36) & IS_TFES, ==, 0);
  g_assert_cmpuint (buf[0], ==, 5);
  g_assert_cmpuint (buf[1], ==, 0x80);
  g_assert_cmphex (atapi (f, tur, 0) & IS_TFES, ==, 0);
  g_assert_cmphex (atapi (f, capacity, 8) & IS_TFES, ==, 0);
  g_assert_cmpuint (buf[3], ==, CD_SECTORS - 1);
  g_assert_cmpuint (buf[6] << 8 | buf[7], ==, 2048);

  g_assert_cmphex (atapi (f, read10, 4096) & IS_TFES, ==, 0);
  g_assert_cmpmem (buf, 6, "SECTOR", 6);
  g_assert_cmpuint (buf[100], ==, 4);
  g_assert_cmpuint (buf[2048 + 100], ==, 5);
  g_assert_cmpuint (prdbc (f, 1, 0), ==, 4096);

  g_assert_cmphex (atapi (f, beyond, 4096) & IS_TFES, !=, 0);
  restart_port (f, 1);
  g_assert_cmphex (sense (f), ==, 0x0521); /* ILLEGAL REQUEST, LBA out of range */

  g_assert_cmphex (atapi (f, toc, 100) & IS_TFES, ==, 0);
  g_assert_cmpuint (buf[2], ==, 1);
  g_assert_cmpuint (buf[14], ==, 0xaa);
  g_assert_cmphex (atapi (f, config, 100) & IS_TFES, ==, 0);
  g_assert_cmphex (buf[6] << 8 | buf[7], ==, 0x0008); /* CD-ROM profile */
  g_assert_cmphex (atapi (f, mode, 100) & IS_TFES, ==, 0);
  g_assert_cmpuint (buf[8], ==, 0x2a);
  {
    uint8_t read12[12] = { 0xa8, 0, 0, 0, 0, 5, 0, 0, 0, 1 };
    uint8_t disc_info[12] = { 0x51, 0, 0, 0, 0, 0, 0, 0, 34 };
    uint8_t mechanism[12] = { 0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 8 };
    uint8_t speed[12] = { 0xbb, 0, 0xff, 0xff };
    uint8_t unpolled[12] = { 0x4a, 0, 0, 0, 0x10, 0, 0, 0, 8 };
    uint8_t unknown[12] = { 0xff };

    g_assert_cmphex (atapi (f, read12, 2048) & IS_TFES, ==, 0);
    g_assert_cmpuint (buf[100], ==, 6);
    g_assert_cmphex (atapi (f, disc_info, 34) & IS_TFES, ==, 0);
    g_assert_cmpuint (buf[2] & 3, ==, 2); /* a complete disc */
    g_assert_cmphex (atapi (f, mechanism, 8) & IS_TFES, ==, 0);
    g_assert_cmpuint (buf[1] & 0x10, ==, 0); /* tray closed */
    g_assert_cmphex (atapi (f, speed, 0) & IS_TFES, ==, 0);
    g_assert_cmphex (atapi (f, unpolled, 8) & IS_TFES, !=, 0); /* only polled events */
    restart_port (f, 1);
    g_assert_cmphex (sense (f), ==, 0x0524);
    g_assert_cmphex (atapi (f, unknown, 0) & IS_TFES, !=, 0);
    restart_port (f, 1);
    g_assert_cmphex (sense (f), ==, 0x0520);
  }

  /* The host takes the disc out: NOT READY, MEDIUM NOT PRESENT and a removal event. */
  g_assert_true (hv_ahci_change_medium (f->ahci, 1, NULL, FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmphex (atapi (f, gesn, 8) & IS_TFES, ==, 0);
  g_assert_cmpuint (buf[4], ==, 3);
  g_assert_cmpuint (buf[5] & 3, ==, 1); /* tray open, no disc */
  g_assert_cmphex (atapi (f, tur, 0) & IS_TFES, !=, 0);
  restart_port (f, 1);
  g_assert_cmphex (sense (f), ==, 0x023a);

  /* A new disc: a media event, then UNIT ATTENTION once, then ready. */
  g_assert_true (hv_ahci_change_medium (f->ahci, 1, open_block (f->cd_path, TRUE), FALSE, &error));
  g_assert_cmphex (atapi (f, gesn, 8) & IS_TFES, ==, 0);
  g_assert_cmpuint (buf[4], ==, 2);
  g_assert_cmpuint (buf[5] & 3, ==, 2);
  g_assert_cmphex (atapi (f, tur, 0) & IS_TFES, !=, 0);
  restart_port (f, 1);
  g_assert_cmphex (sense (f), ==, 0x0628);
  g_assert_cmphex (atapi (f, tur, 0) & IS_TFES, ==, 0);

  /* A locked tray: the guest cannot eject and the host's eject fails unless forced. */
  g_assert_cmphex (atapi (f, prevent, 0) & IS_TFES, ==, 0);
  g_assert_cmphex (atapi (f, eject, 0) & IS_TFES, !=, 0);
  restart_port (f, 1);
  g_assert_cmphex (sense (f), ==, 0x0553);
  g_assert_false (hv_ahci_change_medium (f->ahci, 1, NULL, FALSE, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_STATE);
  g_clear_error (&error);
  g_assert_cmphex (atapi (f, allow, 0) & IS_TFES, ==, 0);
  /* The guest ejects and loads again: the same disc comes back. */
  g_assert_cmphex (atapi (f, eject, 0) & IS_TFES, ==, 0);
  g_assert_cmphex (atapi (f, tur, 0) & IS_TFES, !=, 0);
  restart_port (f, 1);
  g_assert_cmphex (sense (f), ==, 0x023a);
  g_assert_cmphex (atapi (f, load, 0) & IS_TFES, ==, 0);
  g_assert_cmphex (atapi (f, tur, 0) & IS_TFES, !=, 0); /* unit attention */
  restart_port (f, 1);
  g_assert_cmphex (atapi (f, read10, 4096) & IS_TFES, ==, 0);
  g_assert_cmpmem (buf, 6, "SECTOR", 6);

  /* Forced: out it goes though locked. */
  g_assert_cmphex (atapi (f, prevent, 0) & IS_TFES, ==, 0);
  g_assert_true (hv_ahci_change_medium (f->ahci, 1, NULL, TRUE, &error));
  g_assert_no_error (error);
  g_assert_cmphex (atapi (f, capacity, 8) & IS_TFES, !=, 0);
  restart_port (f, 1);
  g_assert_cmphex (sense (f), ==, 0x023a);
  /* The disk is no CD-ROM. */
  g_assert_false (hv_ahci_change_medium (f->ahci, 0, NULL, TRUE, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
}

static void
test_interrupts (Fixture *f, gconstpointer data)
{
  unsigned gsi = HV_PCI_INTX_GSI (SLOT, 0);
  Prd prd = { DATA, 512 };

  port_write (f, 0, P_IE, 0xffffffff);
  g_assert_false (test_machine_irq_level (&f->m, gsi));
  hba_write (f, 0x04, 0x80000002); /* AE, IE */
  {
    uint8_t fis[20];

    make_fis (fis, 0xec, 0, 0, 0);
    put_command (f, 0, 0, fis, NULL, &prd, 1, FALSE);
    port_write (f, 0, P_CI, 1);
    for (int i = 0; i < 1000 && port_read (f, 0, P_CI); i++)
      test_machine_run_io (&f->m);
  }
  g_assert_true (test_machine_irq_level (&f->m, gsi));
  g_assert_cmphex (hba_read (f, 0x08), ==, 1);
  port_write (f, 0, P_IS, 0xffffffff);
  g_assert_false (test_machine_irq_level (&f->m, gsi));
  g_assert_cmphex (hba_read (f, 0x08), ==, 0);

  /* MSI: the capability is where the list says; one message per new status, no INTx. */
  g_assert_cmphex (test_config_read (&f->m, SLOT, 0x06, 2) & 0x10, !=, 0);
  g_assert_cmphex (test_config_read (&f->m, SLOT, 0x34, 1), ==, 0x80);
  g_assert_cmphex (test_config_read (&f->m, SLOT, 0x80, 1), ==, 0x05);
  test_config_write (&f->m, SLOT, 0x84, 4, (uint32_t) TEST_MSI_ADDRESS);
  test_config_write (&f->m, SLOT, 0x88, 4, 0);
  test_config_write (&f->m, SLOT, 0x8c, 2, 0x4041);
  test_config_write (&f->m, SLOT, 0x82, 2, 0x0001);
  for (int round = 0; round < 2; round++)
    {
      uint8_t fis[20];

      make_fis (fis, 0xec, 0, 0, 0);
      put_command (f, 0, 0, fis, NULL, &prd, 1, FALSE);
      port_write (f, 0, P_CI, 1);
      for (int i = 0; i < 1000 && port_read (f, 0, P_CI); i++)
        test_machine_run_io (&f->m);
      g_assert_cmpuint (test_machine_take_msi (&f->m, 0x4041), ==, 1);
      g_assert_false (test_machine_irq_level (&f->m, gsi));
      port_write (f, 0, P_IS, 0xffffffff);
    }
  g_assert_cmpuint (test_machine_take_msi (&f->m, 0x4041), ==, 0);
}

static void
test_state (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) port0 = NULL;
  g_autoptr (GVariant) port1 = NULL;
  uint8_t prevent[12] = { 0x1e, 0, 0, 0, 1 };
  HvAhci *copy;

  port_write (f, 0, P_IE, 0x1);
  hba_write (f, 0x04, 0x80000002);
  g_assert_cmphex (atapi (f, prevent, 0) & IS_TFES, ==, 0);
  hv_ahci_quiesce (f->ahci, TRUE);
  port0 = g_variant_ref_sink (vireo_test_state_through_bytes (hv_ahci_save_port (f->ahci, 0, TRUE)));
  port1 = g_variant_ref_sink (vireo_test_state_through_bytes (hv_ahci_save_port (f->ahci, 1, FALSE)));
  hv_ahci_quiesce (f->ahci, FALSE);

  hv_ahci_free (f->ahci);
  f->ahci = copy = hv_ahci_new (&f->m.tp.platform, f->m.pci, "ahci", &error);
  g_assert_no_error (error);
  hv_ahci_add_disk (copy, "sata0", open_block (f->disk_path, FALSE), NULL, &error);
  hv_ahci_add_cdrom (copy, "cdrom0", open_block (f->cd_path, TRUE), &error);
  g_assert_no_error (error);
  g_assert_true (hv_ahci_load_port (copy, 0, port0, &error));
  g_assert_no_error (error);
  g_assert_true (hv_ahci_load_port (copy, 1, port1, &error));
  g_assert_no_error (error);
  /* The new controller is at another slot; its registers are the saved ones. */
  {
    uint32_t bar;
    unsigned slot = hv_ahci_get_pci (copy)->slot;

    bar = test_config_read (&f->m, slot, 0x24, 4);
    test_config_write (&f->m, slot, 0x04, 2, 0x0006);
    f->abar = bar & ~0xfu;
  }
  g_assert_cmphex (port_read (f, 0, 0x00), ==, (uint32_t) CLB (0));
  g_assert_cmphex (port_read (f, 0, P_IE), ==, 1);
  g_assert_cmphex (port_read (f, 0, P_CMD) & 0x11, ==, 0x11);
  g_assert_cmphex (hba_read (f, 0x04) & 2, ==, 2);
  g_assert_false (hv_ahci_change_medium (copy, 1, NULL, FALSE, &error)); /* still locked */
  g_clear_error (&error);

  /* A section from another port, or with a bad field, is refused. */
  g_assert_false (hv_ahci_load_port (copy, 1, port0, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/ahci/registers", Fixture, NULL, setup, test_registers, teardown);
  g_test_add ("/ahci/disk/identify", Fixture, NULL, setup, test_disk_identify, teardown);
  g_test_add ("/ahci/disk/io", Fixture, NULL, setup, test_disk_io, teardown);
  g_test_add ("/ahci/hostile", Fixture, NULL, setup, test_hostile, teardown);
  g_test_add ("/ahci/cdrom", Fixture, NULL, setup, test_cdrom, teardown);
  g_test_add ("/ahci/interrupts", Fixture, NULL, setup, test_interrupts, teardown);
  g_test_add ("/ahci/state", Fixture, NULL, setup, test_state, teardown);
  return g_test_run ();
}
