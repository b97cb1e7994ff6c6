/* loader-fixture.c — a guest's memory and e820 map for the kernel loader tests, loading into it and checking
 * refusals. */
#include "loader-fixture.h"

void
guest_init (Guest *guest, uint64_t size)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (hv_memory_init (&guest->mem, size, &error));
  g_assert_no_error (error);
  hv_e820_build (&guest->mem, &guest->map);
}

void
guest_clear (Guest *guest)
{
  hv_memory_clear (&guest->mem);
}

uint8_t *
guest_ptr (Guest *guest, uint64_t gpa, uint64_t len)
{
  uint8_t *p = hv_memory_ptr (&guest->mem, gpa, len);
  g_assert_nonnull (p);
  return p;
}

uint32_t
le32_at (const uint8_t *p)
{
  return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

uint64_t
le64_at (const uint8_t *p)
{
  return le32_at (p) | ((uint64_t) le32_at (p + 4) << 32);
}

uint16_t
le16_at (const uint8_t *p)
{
  return (uint16_t) (p[0] | (p[1] << 8));
}

/* Distinct bytes per offset and seed, so a misplaced copy shows. */
void
fill_pattern (uint8_t *p, gsize len, unsigned seed)
{
  for (gsize i = 0; i < len; i++)
    p[i] = (uint8_t) (i * 7 + seed * 13 + (i >> 8));
}

gboolean
has_pattern (const uint8_t *p, gsize len, unsigned seed)
{
  for (gsize i = 0; i < len; i++)
    if (p[i] != (uint8_t) (i * 7 + seed * 13 + (i >> 8)))
      return FALSE;
  return TRUE;
}

gboolean
load (Guest *guest, GBytes *kernel, const uint8_t *initrd, gsize initrd_size, const char *cmdline,
      HvBootSetup *setup, GError **error)
{
  HvBootImages images = {
    .kernel = g_bytes_get_data (kernel, NULL),
    .kernel_size = g_bytes_get_size (kernel),
    .initrd = initrd,
    .initrd_size = initrd_size,
    .cmdline = cmdline,
    .rsdp_addr = HV_ACPI_START,
  };
  return hv_boot_load (&guest->mem, &guest->map, &images, setup, error);
}

/* Loads @kernel into a fresh VM of @mem_size and returns the error (which must be there). */
GError *
load_error (GBytes *kernel, uint64_t mem_size, gsize initrd_size, const char *cmdline)
{
  Guest guest;
  HvBootSetup setup;
  GError *error = NULL;
  g_autofree uint8_t *initrd = initrd_size ? g_malloc0 (initrd_size) : NULL;

  guest_init (&guest, mem_size);
  g_assert_false (load (&guest, kernel, initrd, initrd_size, cmdline, &setup, &error));
  g_assert_nonnull (error);
  g_test_message ("refused: %s", error->message);
  guest_clear (&guest);
  return error;
}

/* Checks a refusal: the error code, and the whole message (@exact) or a part of it. */
void
assert_refusal (GBytes *kernel, uint64_t mem_size, gsize initrd_size, const char *cmdline, HvError code,
                gboolean exact, const char *message)
{
  g_autoptr (GError) error = load_error (kernel, mem_size, initrd_size, cmdline);
  g_assert_error (error, HV_ERROR, (gint) code);
  if (exact)
    g_assert_cmpstr (error->message, ==, message);
  else if (strstr (error->message, message) == NULL)
    g_error ("\"%s\" does not contain \"%s\"", error->message, message);
}
