/* test-aml.c — the AML builder (hypervisor/x86/aml.c) against known encodings. */
#include "test-util.h"

#include "x86/aml.h"

#include <string.h>

static void
assert_bytes (const GByteArray *got, const uint8_t *want, gsize want_len)
{
  g_assert_cmpmem (got->data, got->len, want, want_len);
}

static void
assert_pkg_length (gsize content_len, const uint8_t *want, unsigned want_len)
{
  uint8_t out[HV_AML_PKG_LENGTH_MAX_BYTES] = { 0 };
  unsigned n = hv_aml_pkg_length_encode (content_len, out);
  g_assert_cmpmem (out, n, want, want_len);
}

static void
test_pkg_length (void)
{
  uint8_t out[HV_AML_PKG_LENGTH_MAX_BYTES];

  /* One byte holds totals up to 0x3f, the PkgLength's own byte included. */
  assert_pkg_length (0, (const uint8_t[]){ 0x01 }, 1);
  assert_pkg_length (0x3e, (const uint8_t[]){ 0x3f }, 1);
  /* 0x3f bytes of contents need a total of 0x41 in two bytes: lead 0x4 | low nibble, then bits
   * 4-11. */
  assert_pkg_length (0x3f, (const uint8_t[]){ 0x41, 0x04 }, 2);
  assert_pkg_length (0xffd, (const uint8_t[]){ 0x4f, 0xff }, 2);
  assert_pkg_length (0xffe, (const uint8_t[]){ 0x81, 0x00, 0x01 }, 3);
  assert_pkg_length (0xffffc, (const uint8_t[]){ 0x8f, 0xff, 0xff }, 3);
  assert_pkg_length (0xffffd, (const uint8_t[]){ 0xc1, 0x00, 0x00, 0x01 }, 4);
  assert_pkg_length (0xffffffb, (const uint8_t[]){ 0xcf, 0xff, 0xff, 0xff }, 4);
  g_assert_cmpuint (hv_aml_pkg_length_encode (0xffffffc, out), ==, 0);
  g_assert_cmpuint (hv_aml_pkg_length_encode (G_MAXSIZE, out), ==, 0);
}

static void
test_names (void)
{
  g_autoptr (GByteArray) aml = g_byte_array_new ();

  hv_aml_name_seg (aml, "KBD");
  assert_bytes (aml, (const uint8_t *) "KBD_", 4);

  g_byte_array_set_size (aml, 0);
  hv_aml_name_path (aml, "\\_SB.PCI0");
  assert_bytes (aml, (const uint8_t[]){ 0x5c, 0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0' }, 10);

  g_byte_array_set_size (aml, 0);
  hv_aml_name_path (aml, "\\");
  assert_bytes (aml, (const uint8_t[]){ 0x5c, 0x00 }, 2);

  g_byte_array_set_size (aml, 0);
  hv_aml_name_path (aml, "^^S5");
  assert_bytes (aml, (const uint8_t[]){ 0x5e, 0x5e, 'S', '5', '_', '_' }, 6);

  g_byte_array_set_size (aml, 0);
  hv_aml_name_path (aml, "\\_SB.PCI0.COM1");
  assert_bytes (
      aml, (const uint8_t[]){ 0x5c, 0x2f, 0x03, '_', 'S', 'B', '_', 'P', 'C', 'I', '0', 'C', 'O', 'M', '1' },
      15);

  g_byte_array_set_size (aml, 0);
  hv_aml_name_path (aml, "_HID");
  assert_bytes (aml, (const uint8_t *) "_HID", 4);
}

static void
test_invalid_name (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr (GByteArray) aml = g_byte_array_new ();
      hv_aml_name_path (aml, "\\_SB.toolong");
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*name_seg_valid*");
}

static void
test_data (void)
{
  g_autoptr (GByteArray) aml = g_byte_array_new ();
  /* Laid out by hand (one encoding a line, each with its meaning): */
  /* clang-format off */
  static const uint8_t want[] = {
    0x00,                                                  /* Zero */
    0x01,                                                  /* One */
    0x0a, 0x02,                                            /* 2 */
    0x0a, 0xff,
    0x0b, 0x00, 0x01,                                      /* 0x100 */
    0x0b, 0xff, 0xff,
    0x0c, 0x00, 0x00, 0x01, 0x00,                          /* 0x10000 */
    0x0c, 0xff, 0xff, 0xff, 0xff,
    0x0e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,  /* 0x100000000 */
    0x0d, 'V', 'M', 0x00,                                  /* "VM" */
    0x0c, 0x41, 0xd0, 0x0a, 0x03,                          /* EisaId ("PNP0A03") as iasl has it */
    0x0c, 0x41, 0xd0, 0x05, 0x01,                          /* EisaId ("PNP0501") */
    0x11, 0x05, 0x0a, 0x02, 0xaa, 0xbb,                    /* Buffer (2) { 0xaa, 0xbb } */
  };
  /* clang-format on */

  hv_aml_integer (aml, 0);
  hv_aml_integer (aml, 1);
  hv_aml_integer (aml, 2);
  hv_aml_integer (aml, 0xff);
  hv_aml_integer (aml, 0x100);
  hv_aml_integer (aml, 0xffff);
  hv_aml_integer (aml, 0x10000);
  hv_aml_integer (aml, 0xffffffff);
  hv_aml_integer (aml, 0x100000000);
  hv_aml_string (aml, "VM");
  hv_aml_eisa_id (aml, "PNP0A03");
  hv_aml_eisa_id (aml, "PNP0501");
  hv_aml_buffer (aml, (const uint8_t[]){ 0xaa, 0xbb }, 2);
  assert_bytes (aml, want, sizeof want);
}

/* Encodings iasl 20200925 produces for the same ASL (iasl -tc). */
static void
test_named_objects (void)
{
  g_autoptr (GByteArray) aml = g_byte_array_new ();
  gsize mark;
  /* Name (_S5, Package (4) { 5, 5, 0, 0 }) */
  static const uint8_t s5[] = {
    0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00
  };
  /* Method (_STA, 0, NotSerialized) { Return (0x0F) } */
  static const uint8_t sta[] = { 0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xa4, 0x0a, 0x0f };
  /* Scope (\_SB) { Device (KBD) { Name (_UID, One) } } (iasl drops the needless root prefix) */
  static const uint8_t scope[] = { 0x10, 0x13, 0x5c, '_', 'S',  'B', '_', 0x5b, 0x82, 0x0b,
                                   'K',  'B',  'D',  '_', 0x08, '_', 'U', 'I',  'D',  0x01 };

  hv_aml_name (aml, "_S5");
  mark = hv_aml_package_begin (aml, 4);
  hv_aml_integer (aml, 5);
  hv_aml_integer (aml, 5);
  hv_aml_integer (aml, 0);
  hv_aml_integer (aml, 0);
  hv_aml_end (aml, mark);
  assert_bytes (aml, s5, sizeof s5);

  g_byte_array_set_size (aml, 0);
  mark = hv_aml_method_begin (aml, "_STA", 0, FALSE);
  hv_aml_return (aml);
  hv_aml_integer (aml, 0x0f);
  hv_aml_end (aml, mark);
  assert_bytes (aml, sta, sizeof sta);

  g_byte_array_set_size (aml, 0);
  mark = hv_aml_method_begin (aml, "XYZ", 3, TRUE);
  hv_aml_end (aml, mark);
  assert_bytes (aml, (const uint8_t[]){ 0x14, 0x06, 'X', 'Y', 'Z', '_', 0x0b }, 7);

  g_byte_array_set_size (aml, 0);
  {
    gsize outer = hv_aml_scope_begin (aml, "\\_SB");
    gsize device = hv_aml_device_begin (aml, "KBD");
    hv_aml_name (aml, "_UID");
    hv_aml_integer (aml, 1);
    hv_aml_end (aml, device);
    hv_aml_end (aml, outer);
  }
  assert_bytes (aml, scope, sizeof scope);
}

/* Nested constructs whose contents outgrow a one-byte PkgLength keep their contents intact. */
static void
test_long_package (void)
{
  g_autoptr (GByteArray) aml = g_byte_array_new ();
  gsize outer, inner;

  outer = hv_aml_package_begin (aml, 2);
  inner = hv_aml_package_begin (aml, 100);
  for (unsigned i = 0; i < 100; i++)
    hv_aml_integer (aml, 2 + i);
  hv_aml_end (aml, inner);
  hv_aml_integer (aml, 0x1234);
  hv_aml_end (aml, outer);

  /* inner: 1 (count) + 100 * 2 = 201 bytes of contents → total 203 = 0xcb → 0x4b 0x0c.
   * outer: 1 (count) + 1 (op) + 2 + 201 + 3 = 208 bytes → total 210 = 0xd2 → 0x42 0x0d. */
  g_assert_cmpuint (aml->len, ==, 1 + 2 + 208);
  assert_bytes (&(GByteArray){ .data = aml->data, .len = 6 },
                (const uint8_t[]){ 0x12, 0x42, 0x0d, 0x02, 0x12, 0x4b }, 6);
  g_assert_cmpuint (aml->data[6], ==, 0x0c);
  g_assert_cmpuint (aml->data[7], ==, 100);
  for (unsigned i = 0; i < 100; i++)
    {
      g_assert_cmpuint (aml->data[8 + 2 * i], ==, 0x0a);
      g_assert_cmpuint (aml->data[9 + 2 * i], ==, 2 + i);
    }
  g_assert_cmpmem (aml->data + aml->len - 3, 3, ((const uint8_t[]){ 0x0b, 0x34, 0x12 }), 3);
}

static void
test_resources (void)
{
  g_autoptr (GByteArray) res = g_byte_array_new ();
  g_autoptr (GByteArray) aml = g_byte_array_new ();
  /* iasl's bytes for ResourceTemplate () { WordBusNumber (ResourceProducer, MinFixed, MaxFixed,
   * PosDecode, 0, 0, 0xff, 0, 0x100) IO (Decode16, 0xcf8, 0xcf8, 1, 8) WordIO (ResourceProducer,
   * MinFixed, MaxFixed, PosDecode, EntireRange, 0, 0, 0xcf7, 0, 0xcf8) DWordMemory
   * (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite, 0, 0xc0000000,
   * 0xfebfffff, 0, 0x3ec00000) QWordMemory (... NonCacheable, ReadWrite, 0, 0x100000000,
   * 0x1ffffffff, 0, 0x100000000) IRQNoFlags () {4} Interrupt (ResourceConsumer, Level, ActiveHigh,
   * Exclusive) {9} } */
  /* Laid out by hand (one resource descriptor a line): */
  /* clang-format off */
  static const uint8_t want[] = {
    0x11, 0x42, 0x08, 0x0a, 0x7e,
    0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08,
    0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0x00, 0x00, 0x00, 0x00, 0xf7, 0x0c, 0x00, 0x00, 0xf8, 0x0c,
    0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xff, 0xff,
    0xbf, 0xfe, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x3e,
    0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x22, 0x10, 0x00,
    0x89, 0x06, 0x00, 0x01, 0x01, 0x09, 0x00, 0x00, 0x00,
    0x79, 0x00,
  };
  /* clang-format on */

  hv_aml_res_word_bus_number (res, 0, 0xff);
  hv_aml_res_io (res, 0xcf8, 0xcf8, 1, 8);
  hv_aml_res_word_io (res, 0, 0xcf7);
  hv_aml_res_dword_memory (res, 0xc0000000, 0xfebfffff);
  hv_aml_res_qword_memory (res, 0x100000000, 0x1ffffffff);
  hv_aml_res_irq (res, 4);
  hv_aml_res_ext_irq (res, 9, TRUE, FALSE, FALSE);
  hv_aml_resource_template (aml, res);
  assert_bytes (aml, want, sizeof want);

  /* The flag bits of Interrupt (ResourceConsumer, Edge, ActiveLow, Shared): consumer, edge, low,
   * shared. */
  g_byte_array_set_size (res, 0);
  hv_aml_res_ext_irq (res, 0x12345, FALSE, TRUE, TRUE);
  assert_bytes (res, (const uint8_t[]){ 0x89, 0x06, 0x00, 0x0f, 0x01, 0x45, 0x23, 0x01, 0x00 }, 9);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/aml/pkg-length", test_pkg_length);
  g_test_add_func ("/aml/names", test_names);
  g_test_add_func ("/aml/invalid-name", test_invalid_name);
  g_test_add_func ("/aml/data", test_data);
  g_test_add_func ("/aml/named-objects", test_named_objects);
  g_test_add_func ("/aml/long-package", test_long_package);
  g_test_add_func ("/aml/resources", test_resources);
  return g_test_run ();
}
