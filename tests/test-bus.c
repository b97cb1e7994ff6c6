/* test-bus.c — the PIO/MMIO dispatch layer: claiming ranges, routing accesses, unclaimed addresses. */
#include "bus.h"

#include <string.h>

typedef struct
{
  uint64_t last_offset;
  unsigned last_len;
  gboolean last_write;
  unsigned calls;
  uint8_t value;
} Recorder;

static void
record (void *opaque, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write)
{
  Recorder *r = opaque;
  r->last_offset = offset;
  r->last_len = len;
  r->last_write = is_write;
  r->calls++;
  if (is_write)
    r->value = data[0];
  else
    memset (data, r->value, len);
}

static void
test_dispatch (void)
{
  g_autoptr (HvBus) bus = hv_bus_new ("port I/O");
  g_autoptr (GError) error = NULL;
  Recorder a = { 0 }, b = { 0 };
  uint8_t data[8];

  g_assert_true (hv_bus_register (bus, 0x3f8, 8, "serial", record, &a, &error));
  g_assert_no_error (error);
  g_assert_true (hv_bus_register (bus, 0x60, 1, "i8042", record, &b, &error));
  g_assert_no_error (error);

  data[0] = 0x41;
  g_assert_true (hv_bus_dispatch (bus, 0x3fb, data, 1, TRUE));
  g_assert_cmpuint (a.calls, ==, 1);
  g_assert_cmpuint (a.last_offset, ==, 3);
  g_assert_true (a.last_write);
  g_assert_cmpuint (a.value, ==, 0x41);
  g_assert_cmpuint (b.calls, ==, 0);

  g_assert_true (hv_bus_dispatch (bus, 0x3f8, data, 2, FALSE));
  g_assert_cmpuint (data[0], ==, 0x41);
  g_assert_cmpuint (data[1], ==, 0x41);
  g_assert_cmpuint (a.last_len, ==, 2);

  g_assert_true (hv_bus_dispatch (bus, 0x60, data, 1, FALSE));
  g_assert_cmpuint (b.calls, ==, 1);

  /* The first and last byte of a range belong to it; the bytes around it do not. */
  g_assert_true (hv_bus_dispatch (bus, 0x3ff, data, 1, FALSE));
  g_assert_false (hv_bus_dispatch (bus, 0x3f7, data, 1, FALSE));
  g_assert_false (hv_bus_dispatch (bus, 0x400, data, 1, FALSE));
  g_assert_false (hv_bus_dispatch (bus, 0x61, data, 1, FALSE));
}

static void
test_unclaimed_reads_all_ones (void)
{
  g_autoptr (HvBus) bus = hv_bus_new ("MMIO");
  uint8_t data[4] = { 1, 2, 3, 4 };

  g_assert_false (hv_bus_dispatch (bus, 0xfed00000, data, 4, FALSE));
  for (int i = 0; i < 4; i++)
    g_assert_cmpuint (data[i], ==, 0xff);
  /* A write to nothing is dropped without complaint. */
  g_assert_false (hv_bus_dispatch (bus, 0xfed00000, data, 4, TRUE));
}

static void
test_overlap_refused (void)
{
  g_autoptr (HvBus) bus = hv_bus_new ("port I/O");
  g_autoptr (GError) error = NULL;
  Recorder r = { 0 };

  g_assert_true (hv_bus_register (bus, 0x600, 0x10, "acpi-pm", record, &r, &error));
  g_assert_false (hv_bus_register (bus, 0x60f, 2, "intruder", record, &r, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "acpi-pm"));
  g_assert_nonnull (strstr (error->message, "intruder"));
  g_clear_error (&error);

  g_assert_false (hv_bus_register (bus, 0x5f0, 0x20, "around", record, &r, &error));
  g_clear_error (&error);
  g_assert_false (hv_bus_register (bus, 0x100, 0, "empty", record, &r, &error));
  g_clear_error (&error);
  g_assert_false (hv_bus_register (bus, G_MAXUINT64 - 1, 4, "wraps", record, &r, &error));
  g_clear_error (&error);

  /* Neighbours touching the range on either side are fine. */
  g_assert_true (hv_bus_register (bus, 0x5f0, 0x10, "below", record, &r, &error));
  g_assert_true (hv_bus_register (bus, 0x610, 0x10, "above", record, &r, &error));
  g_assert_no_error (error);
}

static void
test_straddling_access_is_cut (void)
{
  g_autoptr (HvBus) bus = hv_bus_new ("port I/O");
  Recorder r = { .value = 0x5a };
  uint8_t data[4];

  g_assert_true (hv_bus_register (bus, 0x70, 2, "rtc", record, &r, NULL));
  g_assert_true (hv_bus_dispatch (bus, 0x71, data, 4, FALSE));
  g_assert_cmpuint (r.last_offset, ==, 1);
  g_assert_cmpuint (r.last_len, ==, 1);
  g_assert_cmpuint (data[0], ==, 0x5a);
  g_assert_cmpuint (data[1], ==, 0xff);
}

static void
test_many_ranges (void)
{
  g_autoptr (HvBus) bus = hv_bus_new ("MMIO");
  Recorder r[64] = { 0 };
  uint8_t data[1];

  /* Registered out of order; lookups must still find each one. */
  for (int i = 63; i >= 0; i--)
    {
      g_autofree char *name = g_strdup_printf ("dev%d", i);
      g_assert_true (hv_bus_register (bus, 0x1000 * (uint64_t) i, 0x100, name, record, &r[i], NULL));
    }
  for (int i = 0; i < 64; i++)
    {
      g_assert_true (hv_bus_dispatch (bus, 0x1000 * (uint64_t) i + 0x80, data, 1, TRUE));
      g_assert_cmpuint (r[i].calls, ==, 1);
      g_assert_cmpuint (r[i].last_offset, ==, 0x80);
      g_assert_false (hv_bus_dispatch (bus, 0x1000 * (uint64_t) i + 0x100, data, 1, TRUE));
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/bus/dispatch", test_dispatch);
  g_test_add_func ("/bus/unclaimed-reads-all-ones", test_unclaimed_reads_all_ones);
  g_test_add_func ("/bus/overlap-refused", test_overlap_refused);
  g_test_add_func ("/bus/straddling-access-is-cut", test_straddling_access_is_cut);
  g_test_add_func ("/bus/many-ranges", test_many_ranges);
  return g_test_run ();
}
