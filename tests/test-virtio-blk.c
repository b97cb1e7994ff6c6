/* test-virtio-blk.c — the virtio-blk device as a driver sees it, honest and hostile: its
 * configuration and features, reads and writes over several buffers reaching the image, flush,
 * get-id, discard and write-zeroes, and chains that break the rules (short headers, missing status,
 * wrong directions, sectors past the end, odd lengths, huge transfers, unknown types and flags,
 * buffers outside RAM), a read-only disk, and saved state. */
#include "virtio-driver.h"
#include "block/block.h"
#include "devices/virtio-blk.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#define IMAGE_SIZE (256u * 1024)
#define QUEUE_BASE 0x100000
#define HEADER     0x200000
#define STATUS     0x201000
#define DATA       0x210000

#define T_IN           0
#define T_OUT          1
#define T_FLUSH        4
#define T_GET_ID       8
#define T_DISCARD      11
#define T_WRITE_ZEROES 13
#define S_OK           0
#define S_IOERR        1
#define S_UNSUPP       2

#define F_RO           5
#define F_FLUSH        9
#define F_DISCARD      13
#define F_WRITE_ZEROES 14

typedef struct
{
  TestMachine m;
  char *dir;
  char *path;
  HvVirtioBlk *blk;
  TestDriver d;
  TestQueue q;
} Fixture;

static HvVirtioBlk *
new_disk (Fixture *f, gboolean read_only, unsigned n_queues)
{
  g_autoptr (GError) error = NULL;
  HvBlockOptions options = { .read_only = read_only, .cache = HV_BLOCK_CACHE_WRITEBACK };
  int fd = open (f->path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  HvBlock *block = hv_block_open (fd, &options, NULL, NULL, &error);
  HvVirtioBlk *blk;

  g_assert_no_error (error);
  blk = hv_virtio_blk_new (&f->m.tp.platform, f->m.pci, "disk0", block, "VIREO-SERIAL-12345678", n_queues,
                           &error);
  g_assert_no_error (error);
  return blk;
}

static void
setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  int fd;

  f->dir = g_dir_make_tmp ("vireo-virtio-blk-XXXXXX", &error);
  g_assert_no_error (error);
  f->path = g_build_filename (f->dir, "disk.img", NULL);
  fd = open (f->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  g_assert_cmpint (ftruncate (fd, IMAGE_SIZE), ==, 0);
  close (fd);
  test_machine_init (&f->m);
  f->blk = new_disk (f, g_strcmp0 (data, "ro") == 0, g_strcmp0 (data, "mq") == 0 ? 4 : 1);
  test_driver_probe (&f->d, &f->m, 1);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  hv_virtio_blk_free (f->blk);
  test_machine_clear (&f->m);
  g_unlink (f->path);
  g_rmdir (f->dir);
  g_free (f->path);
  g_free (f->dir);
}

static uint64_t
offered (Fixture *f)
{
  return test_driver_device_features (&f->d);
}

static void
bring_up (Fixture *f)
{
  uint64_t features = offered (f)
                      & (HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1) | HV_VIRTIO_FEATURE (F_RO)
                         | HV_VIRTIO_FEATURE (F_FLUSH) | HV_VIRTIO_FEATURE (F_DISCARD)
                         | HV_VIRTIO_FEATURE (F_WRITE_ZEROES));

  g_assert_true (test_driver_negotiate (&f->d, features));
  test_queue_setup (&f->q, &f->d, 0, 128, QUEUE_BASE, HV_VIRTIO_MSI_NO_VECTOR);
  test_driver_set_status (&f->d, test_driver_status (&f->d) | HV_VIRTIO_STATUS_DRIVER_OK);
}

static void
put_header (Fixture *f, uint32_t type, uint64_t sector)
{
  uint8_t *p = test_guest (&f->m, HEADER, 16);
  uint32_t type_le = GUINT32_TO_LE (type);
  uint64_t sector_le = GUINT64_TO_LE (sector);

  memset (p, 0, 16);
  memcpy (p, &type_le, 4);
  memcpy (p + 8, &sector_le, 8);
}

/* Runs the chain made available last until the device returns it; the length it reported. */
static uint32_t
complete (Fixture *f)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
  uint32_t id, len;

  test_queue_kick (&f->q, 2);
  for (;;)
    {
      test_machine_run_io (&f->m);
      if (test_queue_get_used (&f->q, &id, &len))
        return len;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (100);
    }
}

static uint8_t
status (Fixture *f)
{
  return *test_guest (&f->m, STATUS, 1);
}

/* A well-formed request: header, @n data buffers of @len bytes at DATA (the device writes them for
 * IN and GET_ID), status. */
static uint8_t
request (Fixture *f, uint32_t type, uint64_t sector, unsigned n, uint32_t len)
{
  TestBuffer chain[8];
  gboolean writes = type == T_IN || type == T_GET_ID;
  unsigned count = 0;

  put_header (f, type, sector);
  *test_guest (&f->m, STATUS, 1) = 0xff;
  chain[count++] = (TestBuffer){ HEADER, 16, FALSE };
  for (unsigned i = 0; i < n; i++)
    chain[count++] = (TestBuffer){ DATA + (uint64_t) i * len, len, writes };
  chain[count++] = (TestBuffer){ STATUS, 1, TRUE };
  test_queue_add_chain (&f->q, chain, count);
  complete (f);
  return status (f);
}

static void
assert_image (Fixture *f, uint64_t offset, size_t len, uint8_t value)
{
  g_autofree uint8_t *data = g_malloc (len);
  int fd = open (f->path, O_RDONLY | O_CLOEXEC);

  g_assert_cmpint (pread (fd, data, len, (off_t) offset), ==, (ssize_t) len);
  close (fd);
  for (size_t i = 0; i < len; i++)
    g_assert_cmpuint (data[i], ==, value);
}

static void
test_config (Fixture *f, gconstpointer data)
{
  uint64_t features = offered (f);

  g_assert_cmphex (test_config_read (&f->m, 1, 0x02, 2), ==, 0x1042);
  g_assert_true (features & HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1));
  g_assert_true (features & HV_VIRTIO_FEATURE (F_FLUSH));
  g_assert_true (features & HV_VIRTIO_FEATURE (F_DISCARD));
  g_assert_true (features & HV_VIRTIO_FEATURE (F_WRITE_ZEROES));
  g_assert_false (features & HV_VIRTIO_FEATURE (F_RO));
  g_assert_cmpuint (test_mmio_read (&f->m, f->d.device + 0, 4), ==, IMAGE_SIZE / 512);
  g_assert_cmpuint (test_mmio_read (&f->m, f->d.device + 4, 4), ==, 0);
  g_assert_cmpuint (test_mmio_read (&f->m, f->d.device + 12, 4), ==, 126); /* seg_max */
  g_assert_cmpuint (test_mmio_read (&f->m, f->d.device + 20, 4), ==, 512); /* blk_size */
  g_assert_cmpuint (test_mmio_read (&f->m, f->d.device + 40, 4), ==, 1);   /* max_discard_seg */
}

static void
test_read_write (Fixture *f, gconstpointer data)
{
  uint8_t *buffers = test_guest (&f->m, DATA, 4 * 1024);
  char serial[21] = { 0 };

  bring_up (f);
  /* Four buffers of 1 KiB: sectors 8 to 15. */
  for (unsigned i = 0; i < 4 * 1024; i++)
    buffers[i] = (uint8_t) (i / 1024 + 0x10);
  g_assert_cmpuint (request (f, T_OUT, 8, 4, 1024), ==, S_OK);
  g_assert_cmpuint (request (f, T_FLUSH, 0, 0, 0), ==, S_OK);
  for (unsigned i = 0; i < 4; i++)
    assert_image (f, 8 * 512 + i * 1024, 1024, (uint8_t) (0x10 + i));

  memset (buffers, 0, 4 * 1024);
  g_assert_cmpuint (request (f, T_IN, 10, 2, 512), ==, S_OK);
  g_assert_cmpuint (buffers[0], ==, 0x11);
  g_assert_cmpuint (buffers[512], ==, 0x11);
  g_assert_cmpuint (buffers[1023], ==, 0x11);

  /* Discard and write-zeroes: one segment each, no flags. */
  {
    uint8_t segment[16] = { 0 };
    segment[0] = 8; /* sector 8 */
    segment[8] = 2; /* two sectors */
    memcpy (buffers, segment, 16);
    g_assert_cmpuint (request (f, T_DISCARD, 0, 1, 16), ==, S_OK);
    assert_image (f, 8 * 512, 1024, 0);
    segment[0] = 10;
    memcpy (buffers, segment, 16);
    g_assert_cmpuint (request (f, T_WRITE_ZEROES, 0, 1, 16), ==, S_OK);
    assert_image (f, 10 * 512, 1024, 0);
    assert_image (f, 12 * 512, 1024, 0x12);
  }

  memset (buffers, 0, 32);
  g_assert_cmpuint (request (f, T_GET_ID, 0, 1, 20), ==, S_OK);
  memcpy (serial, buffers, 20);
  g_assert_cmpstr (serial, ==, "VIREO-SERIAL-1234567");
}

/* Request @i of a batch: header at HEADER + 16 * @i, @len bytes at DATA + @i * @len, status at
 * STATUS + @i; made available, not kicked.  Returns its head. */
static uint16_t
queue_request (Fixture *f, unsigned i, uint32_t type, uint64_t sector, uint32_t len)
{
  uint8_t *header = test_guest (&f->m, HEADER + 16 * i, 16);
  TestBuffer chain[3] = {
    { HEADER + 16 * i, 16, FALSE },
    { DATA + (uint64_t) i * len, len, type == T_IN },
    { STATUS + i, 1, TRUE },
  };
  uint32_t type_le = GUINT32_TO_LE (type);
  uint64_t sector_le = GUINT64_TO_LE (sector);

  memset (header, 0, 16);
  memcpy (header, &type_le, 4);
  memcpy (header + 8, &sector_le, 8);
  *test_guest (&f->m, STATUS + i, 1) = 0xff;
  return test_queue_add_chain (&f->q, chain, 3);
}

/* Kicks once and waits for @n chains; their lengths by batch position (@heads: each one's head). */
static void
complete_batch (Fixture *f, const uint16_t *heads, unsigned n, uint32_t *lens)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
  unsigned done = 0;

  test_queue_kick (&f->q, 2);
  while (done < n)
    {
      uint32_t id, len;

      test_machine_run_io (&f->m);
      while (test_queue_get_used (&f->q, &id, &len))
        {
          unsigned i;

          for (i = 0; i < n && heads[i] != id; i++)
            ;
          g_assert_cmpuint (i, <, n);
          lens[i] = len;
          done++;
        }
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (100);
    }
}

/* Requests for ranges that follow one another, queued together (the device may merge them into one
 * transfer), each still answered on its own with its own data; one that does not follow is not
 * mixed in. */
static void
test_batch (Fixture *f, gconstpointer data)
{
  uint8_t *buffers = test_guest (&f->m, DATA, 8 * 1024);
  uint16_t heads[5];
  uint32_t lens[5];

  bring_up (f);
  /* Writes: sectors 16-17, 18-19, 20-21, then 40-41 and 22-23 (the last follows the third again). */
  for (unsigned i = 0; i < 5; i++)
    memset (buffers + i * 1024, 0x30 + i, 1024);
  heads[0] = queue_request (f, 0, T_OUT, 16, 1024);
  heads[1] = queue_request (f, 1, T_OUT, 18, 1024);
  heads[2] = queue_request (f, 2, T_OUT, 20, 1024);
  heads[3] = queue_request (f, 3, T_OUT, 40, 1024);
  heads[4] = queue_request (f, 4, T_OUT, 22, 1024);
  complete_batch (f, heads, 5, lens);
  for (unsigned i = 0; i < 5; i++)
    {
      g_assert_cmpuint (*test_guest (&f->m, STATUS + i, 1), ==, S_OK);
      g_assert_cmpuint (lens[i], ==, 1);
    }
  assert_image (f, 16 * 512, 1024, 0x30);
  assert_image (f, 18 * 512, 1024, 0x31);
  assert_image (f, 20 * 512, 1024, 0x32);
  assert_image (f, 40 * 512, 1024, 0x33);
  assert_image (f, 22 * 512, 1024, 0x34);

  /* Reads of the same ranges, in another order: sectors 18-19, 20-21, 22-23, 16-17. */
  memset (buffers, 0, 8 * 1024);
  heads[0] = queue_request (f, 0, T_IN, 18, 1024);
  heads[1] = queue_request (f, 1, T_IN, 20, 1024);
  heads[2] = queue_request (f, 2, T_IN, 22, 1024);
  heads[3] = queue_request (f, 3, T_IN, 16, 1024);
  complete_batch (f, heads, 4, lens);
  for (unsigned i = 0; i < 4; i++)
    {
      static const uint8_t expected[] = { 0x31, 0x32, 0x34, 0x30 };

      g_assert_cmpuint (*test_guest (&f->m, STATUS + i, 1), ==, S_OK);
      g_assert_cmpuint (lens[i], ==, 1024 + 1);
      g_assert_cmpuint (buffers[i * 1024], ==, expected[i]);
      g_assert_cmpuint (buffers[i * 1024 + 1023], ==, expected[i]);
    }

  /* A read that follows a write is not merged into it (sectors 24-25 written, 26-27 read). */
  memset (buffers, 0x55, 1024);
  memset (buffers + 1024, 0xee, 1024);
  heads[0] = queue_request (f, 0, T_OUT, 24, 1024);
  heads[1] = queue_request (f, 1, T_IN, 26, 1024);
  complete_batch (f, heads, 2, lens);
  g_assert_cmpuint (lens[0], ==, 1);
  g_assert_cmpuint (lens[1], ==, 1024 + 1);
  assert_image (f, 24 * 512, 1024, 0x55);
  g_assert_cmpuint (buffers[1024], ==, 0);
}

static void
test_hostile (Fixture *f, gconstpointer data)
{
  uint8_t *buffers = test_guest (&f->m, DATA, 64);
  TestBuffer chain[4];
  uint32_t len;

  bring_up (f);

  /* Sectors past the end, and a sector number that overflows when made bytes. */
  g_assert_cmpuint (request (f, T_IN, IMAGE_SIZE / 512, 1, 512), ==, S_IOERR);
  g_assert_cmpuint (request (f, T_IN, IMAGE_SIZE / 512 - 1, 2, 512), ==, S_IOERR);
  g_assert_cmpuint (request (f, T_OUT, G_MAXUINT64 / 256, 1, 512), ==, S_IOERR);
  /* Lengths that are not whole sectors, and none at all. */
  g_assert_cmpuint (request (f, T_IN, 0, 1, 100), ==, S_IOERR);
  g_assert_cmpuint (request (f, T_OUT, 0, 0, 0), ==, S_IOERR);
  /* Unknown request types. */
  g_assert_cmpuint (request (f, 0x99, 0, 1, 512), ==, S_UNSUPP);
  g_assert_cmpuint (request (f, 10 /* GET_LIFETIME */, 0, 1, 512), ==, S_UNSUPP);

  /* Discard: the unmap flag and unknown flags are not supported; two segments are more than offered;
   * a range past the end fails. */
  memset (buffers, 0, 64);
  buffers[8] = 1;
  buffers[12] = 1;
  g_assert_cmpuint (request (f, T_DISCARD, 0, 1, 16), ==, S_UNSUPP);
  buffers[12] = 0x80;
  g_assert_cmpuint (request (f, T_WRITE_ZEROES, 0, 1, 16), ==, S_UNSUPP);
  buffers[12] = 0;
  g_assert_cmpuint (request (f, T_DISCARD, 0, 2, 16), ==, S_IOERR);
  buffers[0] = 0xff;
  buffers[1] = 0xff;
  g_assert_cmpuint (request (f, T_DISCARD, 0, 1, 16), ==, S_IOERR);

  /* A header that is too short. */
  *test_guest (&f->m, STATUS, 1) = 0xff;
  chain[0] = (TestBuffer){ HEADER, 8, FALSE };
  chain[1] = (TestBuffer){ STATUS, 1, TRUE };
  test_queue_add_chain (&f->q, chain, 2);
  g_assert_cmpuint (complete (f), ==, 1);
  g_assert_cmpuint (status (f), ==, S_IOERR);

  /* A write whose data the driver marked device-writable: no data to write. */
  put_header (f, T_OUT, 0);
  *test_guest (&f->m, STATUS, 1) = 0xff;
  chain[0] = (TestBuffer){ HEADER, 16, FALSE };
  chain[1] = (TestBuffer){ DATA, 512, TRUE };
  chain[2] = (TestBuffer){ STATUS, 1, TRUE };
  test_queue_add_chain (&f->q, chain, 3);
  complete (f);
  g_assert_cmpuint (status (f), ==, S_IOERR);

  /* No writable byte for the status: returned untouched. */
  put_header (f, T_IN, 0);
  chain[0] = (TestBuffer){ HEADER, 16, FALSE };
  test_queue_add_chain (&f->q, chain, 1);
  g_assert_cmpuint (complete (f), ==, 0);

  /* A transfer larger than seg_max x size_max, the same RAM named three times. */
  put_header (f, T_IN, 0);
  *test_guest (&f->m, STATUS, 1) = 0xff;
  chain[0] = (TestBuffer){ HEADER, 16, FALSE };
  for (unsigned i = 1; i <= 2; i++)
    chain[i] = (TestBuffer){ 0, TEST_RAM_SIZE - 0x1000, TRUE };
  chain[3] = (TestBuffer){ STATUS, 1, TRUE };
  test_queue_add_chain (&f->q, chain, 4);
  len = complete (f);
  g_assert_cmpuint (status (f), ==, S_IOERR);
  g_assert_cmpuint (len, ==, 1);

  /* Still serving honest requests after all that. */
  g_assert_cmpuint (request (f, T_IN, 0, 1, 512), ==, S_OK);
  g_assert_cmpuint (test_driver_status (&f->d) & HV_VIRTIO_STATUS_NEEDS_RESET, ==, 0);

  /* A buffer outside guest RAM breaks the ring: the device wants a reset, and does nothing else. */
  put_header (f, T_IN, 0);
  chain[0] = (TestBuffer){ HEADER, 16, FALSE };
  chain[1] = (TestBuffer){ TEST_RAM_SIZE + 0x10000, 512, TRUE };
  chain[2] = (TestBuffer){ STATUS, 1, TRUE };
  test_queue_add_chain (&f->q, chain, 3);
  test_queue_kick (&f->q, 2);
  test_machine_run_io (&f->m);
  g_assert_cmpuint (test_driver_status (&f->d) & HV_VIRTIO_STATUS_NEEDS_RESET, !=, 0);
  g_assert_cmpuint (hv_virtio_blk_get_in_flight (f->blk), ==, 0);
}

static void
test_read_only (Fixture *f, gconstpointer data)
{
  uint8_t *buffers = test_guest (&f->m, DATA, 512);

  g_assert_true (offered (f) & HV_VIRTIO_FEATURE (F_RO));
  g_assert_false (offered (f) & HV_VIRTIO_FEATURE (F_DISCARD));
  bring_up (f);
  memset (buffers, 0xee, 512);
  g_assert_cmpuint (request (f, T_OUT, 0, 1, 512), ==, S_IOERR);
  assert_image (f, 0, 512, 0);
  memset (buffers, 0, 16);
  buffers[8] = 1;
  g_assert_cmpuint (request (f, T_DISCARD, 0, 1, 16), ==, S_UNSUPP);
  g_assert_cmpuint (request (f, T_IN, 0, 1, 512), ==, S_OK);
  g_assert_cmpuint (request (f, T_FLUSH, 0, 0, 0), ==, S_OK);
}

/* Several request queues: each answers on itself. */
static void
test_multi_queue (Fixture *f, gconstpointer data)
{
  uint64_t features = offered (f);
  TestQueue second;
  TestBuffer chain[3];
  uint32_t id, len;

  g_assert_true (features & HV_VIRTIO_FEATURE (12));                     /* VIRTIO_BLK_F_MQ */
  g_assert_cmpuint (test_mmio_read (&f->m, f->d.device + 34, 2), ==, 4); /* num_queues */
  g_assert_true (test_driver_negotiate (
      &f->d, features & (HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1) | HV_VIRTIO_FEATURE (12))));
  test_queue_setup (&f->q, &f->d, 0, 128, QUEUE_BASE, HV_VIRTIO_MSI_NO_VECTOR);
  test_queue_setup (&second, &f->d, 3, 64, QUEUE_BASE + 0x8000, HV_VIRTIO_MSI_NO_VECTOR);
  test_driver_set_status (&f->d, test_driver_status (&f->d) | HV_VIRTIO_STATUS_DRIVER_OK);

  put_header (f, T_IN, 1);
  *test_guest (&f->m, STATUS, 1) = 0xff;
  chain[0] = (TestBuffer){ HEADER, 16, FALSE };
  chain[1] = (TestBuffer){ DATA, 512, TRUE };
  chain[2] = (TestBuffer){ STATUS, 1, TRUE };
  test_queue_add_chain (&second, chain, 3);
  test_queue_kick (&second, 2);
  for (gint64 deadline = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
       !test_queue_get_used (&second, &id, &len);)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      test_machine_run_io (&f->m);
      g_usleep (100);
    }
  g_assert_cmpuint (len, ==, 513);
  g_assert_cmpuint (status (f), ==, S_OK);
  g_assert_false (test_queue_get_used (&f->q, &id, &len));
  /* The first queue still works beside it. */
  g_assert_cmpuint (request (f, T_IN, 0, 1, 512), ==, S_OK);
}

static void
test_save_load (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) state = NULL;
  g_autoptr (GVariant) bad = NULL;
  GVariantDict dict;

  bring_up (f);
  g_assert_cmpuint (request (f, T_IN, 0, 1, 512), ==, S_OK);
  hv_virtio_blk_quiesce (f->blk, TRUE);
  state = g_variant_ref_sink (hv_virtio_blk_save_state (f->blk));
  hv_virtio_blk_quiesce (f->blk, FALSE);

  /* Another size is another disk. */
  g_variant_dict_init (&dict, state);
  g_variant_dict_insert (&dict, "capacity", "t", (guint64) IMAGE_SIZE * 2);
  bad = g_variant_ref_sink (g_variant_dict_end (&dict));
  g_assert_false (hv_virtio_blk_load_state (f->blk, bad, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
  g_clear_error (&error);

  g_assert_true (hv_virtio_blk_load_state (f->blk, state, &error));
  g_assert_no_error (error);
  /* The queue goes on where it was. */
  g_assert_cmpuint (request (f, T_IN, 1, 1, 512), ==, S_OK);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/virtio-blk/config", Fixture, NULL, setup, test_config, teardown);
  g_test_add ("/virtio-blk/read-write", Fixture, NULL, setup, test_read_write, teardown);
  g_test_add ("/virtio-blk/batch", Fixture, NULL, setup, test_batch, teardown);
  g_test_add ("/virtio-blk/hostile", Fixture, NULL, setup, test_hostile, teardown);
  g_test_add ("/virtio-blk/read-only", Fixture, "ro", setup, test_read_only, teardown);
  g_test_add ("/virtio-blk/save-load", Fixture, NULL, setup, test_save_load, teardown);
  g_test_add ("/virtio-blk/multi-queue", Fixture, "mq", setup, test_multi_queue, teardown);
  return g_test_run ();
}
