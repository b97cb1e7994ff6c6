/* test-memory.c — guest RAM layout around the PCI hole, bounds checks, memory-size parsing, and saved
 * memory mapped lazily over RAM and saved again. */
#include "memory.h"
#include "snapshot-file.h"
#include "x86/layout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
test_small_layout (void)
{
  HvMemory mem;
  g_autoptr (GError) error = NULL;

  g_assert_true (hv_memory_init (&mem, 128ull << 20, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (mem.n_regions, ==, 1);
  g_assert_cmpuint (hv_memory_low_end (&mem), ==, 128ull << 20);
  g_assert_nonnull (hv_memory_ptr (&mem, 0, 128ull << 20));
  g_assert_null (hv_memory_ptr (&mem, 0, (128ull << 20) + 1));
  g_assert_null (hv_memory_ptr (&mem, 128ull << 20, 1));
  g_assert_nonnull (hv_memory_ptr (&mem, (128ull << 20) - 1, 1));
  /* Zero-length ranges at the very end are inside; past it, not. */
  g_assert_nonnull (hv_memory_ptr (&mem, 128ull << 20, 0));
  g_assert_null (hv_memory_ptr (&mem, (128ull << 20) + 1, 0));
  hv_memory_clear (&mem);
}

static void
test_hole_layout (void)
{
  HvMemory mem;
  uint8_t *low, *high;

  g_assert_true (hv_memory_init (&mem, 5ull << 30, NULL));
  g_assert_cmpuint (mem.n_regions, ==, 2);
  g_assert_cmpuint (hv_memory_low_end (&mem), ==, HV_LOW_RAM_MAX);
  g_assert_cmpuint (mem.regions[1].gpa, ==, HV_HIGH_RAM_START);
  g_assert_cmpuint (mem.regions[1].size, ==, (5ull << 30) - HV_LOW_RAM_MAX);

  /* The hole is not RAM; both sides are, and they are distinct memfd pages. */
  g_assert_null (hv_memory_ptr (&mem, HV_MMIO32_START, 1));
  g_assert_null (hv_memory_ptr (&mem, HV_IOAPIC_ADDR, 4));
  g_assert_null (hv_memory_ptr (&mem, HV_LOW_RAM_MAX - 4, 8));
  low = hv_memory_ptr (&mem, HV_LOW_RAM_MAX - 1, 1);
  high = hv_memory_ptr (&mem, HV_HIGH_RAM_START, 1);
  g_assert_nonnull (low);
  g_assert_nonnull (high);
  g_assert_true (high == low + 1);
  g_assert_null (hv_memory_ptr (&mem, HV_HIGH_RAM_START + mem.regions[1].size, 1));
  hv_memory_clear (&mem);
}

static void
test_guest_values_cannot_overflow (void)
{
  HvMemory mem;

  g_assert_true (hv_memory_init (&mem, 64ull << 20, NULL));
  g_assert_null (hv_memory_ptr (&mem, G_MAXUINT64, 2));
  g_assert_null (hv_memory_ptr (&mem, 0x1000, G_MAXUINT64));
  g_assert_null (hv_memory_ptr (&mem, G_MAXUINT64 - 0xfff, 0x1000));
  g_assert_null (hv_memory_ptr (&mem, 1, G_MAXUINT64));
  g_assert_false (hv_memory_check (&mem, 0x8000000000000000ull, 0x8000000000000000ull));
  hv_memory_clear (&mem);
}

static void
test_write (void)
{
  HvMemory mem;
  g_autoptr (GError) error = NULL;
  const char text[] = "vireo";

  g_assert_true (hv_memory_init (&mem, 32ull << 20, NULL));
  g_assert_true (hv_memory_write (&mem, 0x1000, text, sizeof text, "a string", &error));
  g_assert_cmpstr (hv_memory_ptr (&mem, 0x1000, sizeof text), ==, "vireo");
  g_assert_false (hv_memory_write (&mem, (32ull << 20) - 2, text, sizeof text, "the initrd", &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_TOO_LARGE);
  g_assert_nonnull (g_strrstr (error->message, "the initrd"));
  hv_memory_clear (&mem);
}

static void
test_bad_sizes (void)
{
  HvMemory mem;
  g_autoptr (GError) error = NULL;

  g_assert_false (hv_memory_init (&mem, 0, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (hv_memory_init (&mem, (32ull << 20) + 1, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
}

static void
test_parse_sizes (void)
{
  static const struct
  {
    const char *text;
    uint64_t bytes;
  } good[] = {
    { "512", 512ull << 20 },   { "512M", 512ull << 20 }, { "512MiB", 512ull << 20 },
    { "2G", 2ull << 30 },      { "2g", 2ull << 30 },     { "1.5G", 3ull << 29 },
    { "65536K", 64ull << 20 }, { "1T", 1ull << 40 },     { "64MB", 64ull << 20 },
  };
  static const char *const bad[] = {
    "", "abc", "-1", "0", "12Q", "1G2", "1 G", "0x100", "1e3", "1.5.2G", "99999999999999T"
  };

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    {
      uint64_t bytes = 0;
      g_autoptr (GError) error = NULL;
      g_assert_true (hv_parse_memory_size (good[i].text, &bytes, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (bytes, ==, good[i].bytes);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      uint64_t bytes = 0;
      g_autoptr (GError) error = NULL;
      g_assert_false (hv_parse_memory_size (bad[i], &bytes, &error));
      g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
    }
}

static void
test_limits (void)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (hv_check_memory_size (HV_MEMORY_MIN, &error));
  g_assert_false (hv_check_memory_size (HV_MEMORY_MIN - 4096, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "minimum is 32 MiB"));
  g_clear_error (&error);
  g_assert_false (hv_check_memory_size (hv_host_memory_limit () + (1ull << 30), &error));
  g_assert_nonnull (strstr (error->message, "more than this host has"));
  g_clear_error (&error);

  g_assert_true (hv_check_vcpus (1, NULL));
  g_assert_true (hv_check_vcpus (64, NULL));
  g_assert_false (hv_check_vcpus (0, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (hv_check_vcpus (65, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
}

/* Saved memory as the restore sees it: written from @mem into @dir_fd, renamed to "memory", opened
 * and checked (the fd is the caller's).  Returns the bytes of data it holds on disk. */
static int
save_memory (int dir_fd, const HvMemory *mem, const uint8_t id[HV_SNAPSHOT_ID_SIZE], uint64_t *on_disk)
{
  g_autoptr (GError) error = NULL;
  uint64_t written = 0;
  struct stat st;
  int fd;

  g_assert_true (hv_snapshot_write_memory (dir_fd, mem, id, &written, &error));
  g_assert_no_error (error);
  g_assert_no_errno (renameat (dir_fd, "memory.tmp", dir_fd, "memory"));
  fd = hv_snapshot_open_memory (dir_fd, mem->size, id, &error);
  g_assert_no_error (error);
  g_assert_no_errno (fstat (fd, &st));
  *on_disk = (uint64_t) st.st_blocks * 512;
  g_test_message ("saved %" G_GUINT64_FORMAT " KiB of data, %" G_GUINT64_FORMAT " KiB on disk", written >> 10,
                  *on_disk >> 10);
  return fd;
}

static void
fill_page (HvMemory *mem, uint64_t offset, uint8_t value)
{
  memset (mem->base + offset, value, 4096);
}

static void
expect_page (const HvMemory *mem, const uint8_t *expected, uint64_t offset)
{
  if (memcmp (mem->base + offset, expected + offset, 4096) != 0)
    g_error ("page at 0x%" G_GINT64_MODIFIER "x differs from what was saved", offset);
}

/* Saved memory mapped over RAM reads as saved without being read; what the guest writes then is
 * private (the file stays as it was) and a save of that RAM is the file's data plus the written
 * pages, as sparse as before; mapping that save gives it back exactly, and the first file still
 * holds the first contents. */
static void
test_lazy_map (void)
{
  const uint64_t size = 64ull << 20;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_dir_make_tmp ("vireo-memory-XXXXXX", &error);
  g_autofree char *second_path = NULL;
  g_autofree uint8_t *expected = g_malloc0 (size);
  uint8_t id[HV_SNAPSHOT_ID_SIZE] = { 1 }, id2[HV_SNAPSHOT_ID_SIZE] = { 2 };
  HvMemory mem, again;
  uint64_t on_disk, on_disk2;
  uint8_t first_byte;
  int dir_fd, dir2_fd, fd, fd2;

  g_assert_no_error (error);
  dir_fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  second_path = g_build_filename (path, "second", NULL);
  g_assert_no_errno (mkdir (second_path, 0700));
  dir2_fd = open (second_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  g_assert_true (hv_memory_init (&mem, size, &error));
  fill_page (&mem, 0, 0x11);
  fill_page (&mem, 1ull << 20, 0x22);
  fill_page (&mem, (32ull << 20) + 4096, 0x33);
  fill_page (&mem, size - 4096, 0x44);
  memcpy (expected, mem.base, size);
  fd = save_memory (dir_fd, &mem, id, &on_disk);
  g_assert_cmpuint (on_disk, <=, 1ull << 20);

  /* Restore lazily into RAM that holds something else. */
  g_assert_true (hv_memory_init (&again, size, &error));
  fill_page (&again, 8ull << 20, 0x99);
  g_assert_true (hv_memory_map_file (&again, fd, 4096, &error));
  g_assert_no_error (error);
  g_assert_cmpint (again.source_fd, >=, 0);
  for (uint64_t offset = 0; offset < size; offset += 4096)
    expect_page (&again, expected, offset);

  /* The guest writes: into a page the file holds and into one of its holes. */
  fill_page (&again, 1ull << 20, 0x55);
  fill_page (&again, 16ull << 20, 0x66);
  again.base[size - 1] = 0x77;
  memcpy (expected + (1ull << 20), again.base + (1ull << 20), 4096);
  memcpy (expected + (16ull << 20), again.base + (16ull << 20), 4096);
  expected[size - 1] = 0x77;
  /* The first file is untouched. */
  g_assert_cmpint (pread (fd, &first_byte, 1, 4096 + (1ull << 20)), ==, 1);
  g_assert_cmpint (first_byte, ==, 0x22);

  fd2 = save_memory (dir2_fd, &again, id2, &on_disk2);
  g_assert_cmpuint (on_disk2, <=, 1ull << 20);
  g_assert_cmpuint (on_disk2, >=, 5 * 4096);
  hv_memory_clear (&again);

  /* Save → restore → save → restore: the second restore is what the guest had. */
  g_assert_true (hv_memory_map_file (&mem, fd2, 4096, &error));
  g_assert_no_error (error);
  for (uint64_t offset = 0; offset < size; offset += 4096)
    expect_page (&mem, expected, offset);
  /* Mapping replaces the previous file mapping too. */
  g_assert_true (hv_memory_map_file (&mem, fd, 4096, &error));
  g_assert_cmpint (mem.base[1ull << 20], ==, 0x22);
  g_assert_cmpint (mem.base[16ull << 20], ==, 0);
  hv_memory_clear (&mem);

  g_assert_false (hv_memory_init (&mem, size, NULL) && hv_memory_map_file (&mem, fd, 100, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  hv_memory_clear (&mem);

  close (fd);
  close (fd2);
  g_assert_no_errno (unlinkat (dir2_fd, "memory", 0));
  close (dir2_fd);
  g_assert_no_errno (rmdir (second_path));
  g_assert_no_errno (unlinkat (dir_fd, "memory", 0));
  close (dir_fd);
  g_assert_no_errno (rmdir (path));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/memory/small-layout", test_small_layout);
  g_test_add_func ("/memory/hole-layout", test_hole_layout);
  g_test_add_func ("/memory/guest-values-cannot-overflow", test_guest_values_cannot_overflow);
  g_test_add_func ("/memory/write", test_write);
  g_test_add_func ("/memory/bad-sizes", test_bad_sizes);
  g_test_add_func ("/memory/parse-sizes", test_parse_sizes);
  g_test_add_func ("/memory/limits", test_limits);
  g_test_add_func ("/memory/lazy-map", test_lazy_map);
  return g_test_run ();
}
