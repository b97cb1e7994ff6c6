/* test-fw-cfg.c — the fw_cfg device driven as firmware drives it, by a host-side driver: signature and
 * ID, the file directory, items and files through the data port and through DMA; and a hostile guest's
 * DMA descriptors (outside RAM, straddling its end, huge lengths, writes, unknown keys). */
#include "devices/fw-cfg.h"
#include "memory.h"
#include "test-util.h"

#include <string.h>

#define RAM_SIZE (1u << 20)
#define DESC     0x1000u /* where the driver puts its FWCfgDmaAccess */
#define BUF      0x2000u

typedef struct
{
  VireoTestPlatform tp;
  HvMemory memory;
  HvFwCfg *fw;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  vireo_test_platform_init (&f->tp);
  g_assert_true (hv_memory_init (&f->memory, RAM_SIZE, &error));
  f->tp.platform.memory = &f->memory;
  f->fw = hv_fw_cfg_new (&f->tp.platform);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  hv_fw_cfg_free (f->fw);
  hv_memory_clear (&f->memory);
  vireo_test_platform_clear (&f->tp);
}

static void
add_file (Fixture *f, const char *name, const char *text)
{
  g_autoptr (GBytes) bytes = g_bytes_new (text, strlen (text));
  g_autoptr (GError) error = NULL;

  g_assert_true (hv_fw_cfg_add_file (f->fw, name, bytes, &error));
  g_assert_no_error (error);
}

/* The legacy interface: a 16-bit write of the key, then byte reads. */
static void
port_select (Fixture *f, uint16_t key)
{
  vireo_test_io_write (hv_fw_cfg_io, f->fw, 0, 2, key);
}

static void
port_read (Fixture *f, uint8_t *out, gsize len)
{
  for (gsize i = 0; i < len; i++)
    out[i] = (uint8_t) vireo_test_io_read (hv_fw_cfg_io, f->fw, 1, 1);
}

static uint32_t
be32 (const uint8_t *p)
{
  return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}

static void
put_be32 (uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t) (v >> 24);
  p[1] = (uint8_t) (v >> 16);
  p[2] = (uint8_t) (v >> 8);
  p[3] = (uint8_t) v;
}

/* Writes a descriptor at @desc (if it is in RAM) and starts it as SeaBIOS does: the high half of the
 * address (when non-zero), then the low half.  Returns the control word afterwards, or 0xdeadbeef
 * when the descriptor is not in RAM. */
static uint32_t
dma (Fixture *f, uint64_t desc, uint32_t control, uint32_t length, uint64_t address)
{
  uint8_t *d = hv_memory_ptr (&f->memory, desc, 16);

  if (d)
    {
      put_be32 (d, control);
      put_be32 (d + 4, length);
      put_be32 (d + 8, (uint32_t) (address >> 32));
      put_be32 (d + 12, (uint32_t) address);
    }
  /* The port takes the big-endian bytes; the helper stores the value little-endian. */
  if (desc >> 32)
    vireo_test_io_write (hv_fw_cfg_dma_io, f->fw, 0, 4, GUINT32_SWAP_LE_BE ((uint32_t) (desc >> 32)));
  vireo_test_io_write (hv_fw_cfg_dma_io, f->fw, 4, 4, GUINT32_SWAP_LE_BE ((uint32_t) desc));
  return d ? be32 (d) : 0xdeadbeef;
}

static uint8_t *
ram (Fixture *f, uint64_t gpa)
{
  return hv_memory_ptr (&f->memory, gpa, 1);
}

static void
test_signature_and_id (Fixture *f, gconstpointer data)
{
  uint8_t buf[8];

  port_select (f, HV_FW_CFG_SIGNATURE);
  port_read (f, buf, 4);
  g_assert_cmpmem (buf, 4, "QEMU", 4);
  /* Past the end: zeros. */
  port_read (f, buf, 2);
  g_assert_cmpuint (buf[0], ==, 0);
  g_assert_cmpuint (buf[1], ==, 0);

  port_select (f, HV_FW_CFG_ID);
  port_read (f, buf, 4);
  g_assert_cmphex (buf[0], ==, HV_FW_CFG_ID_TRADITIONAL | HV_FW_CFG_ID_DMA);
  g_assert_cmphex (buf[1] | buf[2] | buf[3], ==, 0);

  /* The DMA register reads "QEMU CFG", so a driver can detect it. */
  for (unsigned i = 0; i < 8; i++)
    buf[i] = (uint8_t) vireo_test_io_read (hv_fw_cfg_dma_io, f->fw, i, 1);
  g_assert_cmpmem (buf, 8, "QEMU CFG", 8);

  /* Without guest RAM to reach there is no DMA, and the ID says so. */
  {
    HvPlatform bare = { 0 };
    HvFwCfg *fw = hv_fw_cfg_new (&bare);
    vireo_test_io_write (hv_fw_cfg_io, fw, 0, 2, HV_FW_CFG_ID);
    g_assert_cmphex (vireo_test_io_read (hv_fw_cfg_io, fw, 1, 1), ==, HV_FW_CFG_ID_TRADITIONAL);
    hv_fw_cfg_free (fw);
  }
}

static void
test_items (Fixture *f, gconstpointer data)
{
  uint8_t buf[8];

  hv_fw_cfg_set_item_u64 (f->fw, HV_FW_CFG_RAM_SIZE, G_GUINT64_CONSTANT (0x123456789a));
  hv_fw_cfg_set_item_u16 (f->fw, HV_FW_CFG_NB_CPUS, 3);
  port_select (f, HV_FW_CFG_RAM_SIZE);
  port_read (f, buf, 8);
  g_assert_cmpmem (buf, 8, "\x9a\x78\x56\x34\x12\0\0\0", 8);
  port_select (f, HV_FW_CFG_NB_CPUS);
  port_read (f, buf, 2);
  g_assert_cmpuint (buf[0] | buf[1] << 8, ==, 3);

  /* Keys that hold nothing read as zeros, as SeaBIOS expects of the legacy ones it always reads. */
  for (uint16_t key = 0; key < 0x40; key++)
    {
      if (key == HV_FW_CFG_SIGNATURE || key == HV_FW_CFG_ID || key == HV_FW_CFG_RAM_SIZE
          || key == HV_FW_CFG_NB_CPUS || key == HV_FW_CFG_FILE_DIR)
        continue;
      port_select (f, key);
      port_read (f, buf, 4);
      g_assert_cmpmem (buf, 4, "\0\0\0\0", 4);
    }
  port_select (f, 0xffff);
  port_read (f, buf, 4);
  g_assert_cmpmem (buf, 4, "\0\0\0\0", 4);
  port_select (f, 0x8000);
  port_read (f, buf, 4);
  g_assert_cmpmem (buf, 4, "\0\0\0\0", 4);
}

/* Reads the directory through the ports and checks it lists @names in order with their sizes. */
static void
check_directory (Fixture *f, const char *const *names, const char *const *contents)
{
  uint8_t count[4];
  guint n = g_strv_length ((char **) names);

  port_select (f, HV_FW_CFG_FILE_DIR);
  port_read (f, count, 4);
  g_assert_cmpuint (be32 (count), ==, n);
  for (guint i = 0; i < n; i++)
    {
      uint8_t entry[64];
      uint16_t key;

      port_read (f, entry, sizeof entry);
      g_assert_cmpuint (be32 (entry), ==, strlen (contents[i]));
      key = (uint16_t) (entry[4] << 8 | entry[5]);
      g_assert_cmpuint (key, ==, HV_FW_CFG_FILE_FIRST + i);
      g_assert_cmpstr ((const char *) entry + 8, ==, names[i]);
      g_assert_cmpuint (hv_fw_cfg_get_file_key (f->fw, names[i]), ==, key);
    }
}

static void
test_directory (Fixture *f, gconstpointer data)
{
  static const char *const names[] = { "bootorder", "etc/boot-fail-wait", "etc/e820", "genroms/x.bin", NULL };
  static const char *const contents[] = { "/pci@i0cf8/*@5\n", "wait", "e820e820e820e820e820", "rom", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) empty = g_bytes_new (NULL, 0);
  g_autofree char *long_name = g_strnfill (HV_FW_CFG_NAME_MAX, 'x');
  uint8_t buf[32];

  /* Added out of order: the directory is sorted by name and keys follow it. */
  add_file (f, "etc/e820", "old");
  add_file (f, "genroms/x.bin", "rom");
  add_file (f, "bootorder", "/pci@i0cf8/*@5\n");
  add_file (f, "etc/boot-fail-wait", "\x05");
  {
    g_autoptr (GBytes) wait = g_bytes_new ("wait", 4);
    g_assert_true (hv_fw_cfg_add_file (f->fw, "etc/boot-fail-wait", wait, &error));
  }
  add_file (f, "etc/e820", "e820e820e820e820e820"); /* replaces */
  check_directory (f, names, contents);
  g_assert_cmpuint (hv_fw_cfg_get_file_key (f->fw, "etc/missing"), ==, 0);

  port_select (f, hv_fw_cfg_get_file_key (f->fw, "bootorder"));
  port_read (f, buf, 16);
  g_assert_cmpmem (buf, 16, "/pci@i0cf8/*@5\n\0", 16);

  g_assert_false (hv_fw_cfg_add_file (f->fw, "", empty, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (hv_fw_cfg_add_file (f->fw, long_name, empty, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  check_directory (f, names, contents);
}

static void
test_dma_read (Fixture *f, gconstpointer data)
{
  uint16_t key;
  uint32_t count;

  add_file (f, "etc/table-loader", "0123456789abcdef");
  key = hv_fw_cfg_get_file_key (f->fw, "etc/table-loader");

  /* Select and read in one descriptor, as SeaBIOS's qemu_cfg_read_entry does. */
  memset (ram (f, BUF), 0xaa, 64);
  g_assert_cmphex (dma (f, DESC, (uint32_t) key << 16 | HV_FW_CFG_DMA_SELECT | HV_FW_CFG_DMA_READ, 4, BUF),
                   ==, 0);
  g_assert_cmpmem (ram (f, BUF), 4, "0123", 4);
  g_assert_cmphex (*ram (f, BUF + 4), ==, 0xaa);
  /* Without SELECT a transfer continues where the last one ended; SKIP moves on without writing. */
  g_assert_cmphex (dma (f, DESC, HV_FW_CFG_DMA_SKIP, 2, BUF), ==, 0);
  g_assert_cmphex (dma (f, DESC, HV_FW_CFG_DMA_READ, 4, BUF + 8), ==, 0);
  g_assert_cmpmem (ram (f, BUF + 8), 4, "6789", 4);
  /* Past the end: zero-filled. */
  g_assert_cmphex (dma (f, DESC, HV_FW_CFG_DMA_READ, 12, BUF + 16), ==, 0);
  g_assert_cmpmem (ram (f, BUF + 16), 12, "abcdef\0\0\0\0\0\0", 12);

  /* The directory through DMA, as SeaBIOS reads it: the count, then the entries. */
  g_assert_cmphex (
      dma (f, DESC, HV_FW_CFG_FILE_DIR << 16 | HV_FW_CFG_DMA_SELECT | HV_FW_CFG_DMA_READ, 4, BUF), ==, 0);
  count = be32 (ram (f, BUF));
  g_assert_cmpuint (count, ==, 1);
  g_assert_cmphex (dma (f, DESC, HV_FW_CFG_DMA_READ, 64, BUF), ==, 0);
  g_assert_cmpstr ((const char *) ram (f, BUF) + 8, ==, "etc/table-loader");

  /* A numbered item through DMA. */
  g_assert_cmphex (
      dma (f, DESC, HV_FW_CFG_SIGNATURE << 16 | HV_FW_CFG_DMA_SELECT | HV_FW_CFG_DMA_READ, 4, BUF), ==, 0);
  g_assert_cmpmem (ram (f, BUF), 4, "QEMU", 4);

  /* An unknown key reads as zeros, and is no error. */
  memset (ram (f, BUF), 0xaa, 8);
  g_assert_cmphex (dma (f, DESC, 0x7777u << 16 | HV_FW_CFG_DMA_SELECT | HV_FW_CFG_DMA_READ, 8, BUF), ==, 0);
  g_assert_cmpmem (ram (f, BUF), 8, "\0\0\0\0\0\0\0\0", 8);
}

static void
test_dma_hostile (Fixture *f, gconstpointer data)
{
  uint8_t buf[4];
  uint32_t select_sig = HV_FW_CFG_SIGNATURE << 16 | HV_FW_CFG_DMA_SELECT | HV_FW_CFG_DMA_READ;

  add_file (f, "f", "file");

  /* A descriptor outside RAM, or straddling its end, or far above it, is dropped without effect. */
  port_select (f, hv_fw_cfg_get_file_key (f->fw, "f"));
  dma (f, RAM_SIZE, select_sig, 4, BUF);
  dma (f, RAM_SIZE - 8, select_sig, 4, BUF);
  dma (f, G_GUINT64_CONSTANT (0xfffffffffffffff0), select_sig, 4, BUF);
  dma (f, G_GUINT64_CONSTANT (0x100000000), select_sig, 4, BUF);
  port_read (f, buf, 4);
  g_assert_cmpmem (buf, 4, "file", 4); /* still the file, from its start */

  /* A buffer outside RAM, straddling its end, wrapping around, or too long: the error bit, and RAM
   * beyond the descriptor untouched. */
  memset (ram (f, RAM_SIZE - 2), 0x55, 2);
  g_assert_cmphex (dma (f, DESC, select_sig, 4, RAM_SIZE), ==, HV_FW_CFG_DMA_ERROR);
  g_assert_cmphex (dma (f, DESC, select_sig, 4, RAM_SIZE - 2), ==, HV_FW_CFG_DMA_ERROR);
  g_assert_cmphex (*ram (f, RAM_SIZE - 2), ==, 0x55);
  g_assert_cmphex (dma (f, DESC, select_sig, 0xffffffffu, 0), ==, HV_FW_CFG_DMA_ERROR);
  g_assert_cmphex (dma (f, DESC, select_sig, 0x20, G_GUINT64_CONSTANT (0xfffffffffffffff0)), ==,
                   HV_FW_CFG_DMA_ERROR);
  g_assert_cmphex (dma (f, DESC, select_sig, RAM_SIZE + 1, 0), ==, HV_FW_CFG_DMA_ERROR);
  /* The descriptor itself as the buffer: allowed, the control word is then written last. */
  g_assert_cmphex (dma (f, DESC, select_sig, 4, DESC + 4), ==, 0);
  g_assert_cmpmem (ram (f, DESC + 4), 4, "QEMU", 4);

  /* Nothing is writable. */
  memcpy (ram (f, BUF), "evil", 4);
  g_assert_cmphex (
      dma (f, DESC,
           (uint32_t) hv_fw_cfg_get_file_key (f->fw, "f") << 16 | HV_FW_CFG_DMA_SELECT | HV_FW_CFG_DMA_WRITE,
           4, BUF),
      ==, HV_FW_CFG_DMA_ERROR);
  port_select (f, hv_fw_cfg_get_file_key (f->fw, "f"));
  port_read (f, buf, 4);
  g_assert_cmpmem (buf, 4, "file", 4);
  /* Writes to the data port change nothing either. */
  port_select (f, hv_fw_cfg_get_file_key (f->fw, "f"));
  vireo_test_io_write (hv_fw_cfg_io, f->fw, 1, 1, 'X');
  port_read (f, buf, 4);
  g_assert_cmpmem (buf, 4, "file", 4);

  /* A control word with no operation: finished, nothing moved. */
  g_assert_cmphex (dma (f, DESC, 0, 4, BUF), ==, 0);
  /* Odd widths and offsets on the DMA register do nothing. */
  vireo_test_io_write (hv_fw_cfg_dma_io, f->fw, 1, 1, 0x12);
  vireo_test_io_write (hv_fw_cfg_dma_io, f->fw, 2, 2, 0x1234);
  vireo_test_io_write (hv_fw_cfg_dma_io, f->fw, 4, 2, 0x1234);
  /* A stray high half applies to one transfer only. */
  vireo_test_io_write (hv_fw_cfg_dma_io, f->fw, 0, 4, 0x01000000);
  g_assert_cmphex (dma (f, DESC, select_sig, 4, BUF), ==, select_sig); /* went to 4 GiB + DESC */
  g_assert_cmphex (dma (f, DESC, select_sig, 4, BUF), ==, 0);
  g_assert_cmpmem (ram (f, BUF), 4, "QEMU", 4);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(name, fn) g_test_add ("/fw-cfg/" name, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("signature-and-id", test_signature_and_id);
  ADD ("items", test_items);
  ADD ("directory", test_directory);
  ADD ("dma-read", test_dma_read);
  ADD ("dma-hostile", test_dma_hostile);
  return g_test_run ();
}
