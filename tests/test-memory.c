/* test-memory.c — guest RAM layout around the PCI hole, bounds checks, and memory-size parsing. */
#include "memory.h"
#include "x86/layout.h"

#include <string.h>

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
  return g_test_run ();
}
