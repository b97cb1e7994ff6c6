/* test-acpi.c — the ACPI tables as a guest reads them, with ACPICA's disassembler (iasl) as the outside
 * judge when it is installed.  The AML builder's encodings are tested in test-aml.c. */
#include "test-util.h"

#include "memory.h"
#include "x86/acpi.h"
#include "x86/layout.h"

#include <glib/gstdio.h>
#include <string.h>

#define TEST_RAM (64ull << 20)

static uint16_t
rd16 (const uint8_t *p)
{
  return (uint16_t) (p[0] | p[1] << 8);
}

static uint32_t
rd32 (const uint8_t *p)
{
  return (uint32_t) rd16 (p) | (uint32_t) rd16 (p + 2) << 16;
}

static uint64_t
rd64 (const uint8_t *p)
{
  return (uint64_t) rd32 (p) | (uint64_t) rd32 (p + 4) << 32;
}

static uint8_t
byte_sum (const uint8_t *p, gsize len)
{
  uint8_t sum = 0;
  for (gsize i = 0; i < len; i++)
    sum += p[i];
  return sum;
}

/* ---- hv_acpi_checksum ---- */

static void
test_checksum (void)
{
  uint8_t table[40];

  for (unsigned i = 0; i < sizeof table; i++)
    table[i] = (uint8_t) (i * 37 + 11);
  /* The contract: computed with the checksum field (here byte 9) zero, the result goes into the
   * field and makes the whole sum zero. */
  table[9] = 0;
  table[9] = hv_acpi_checksum (table, sizeof table);
  g_assert_cmpuint (byte_sum (table, sizeof table), ==, 0);

  g_assert_cmpuint (hv_acpi_checksum (table, 0), ==, 0);
  g_assert_cmpuint (hv_acpi_checksum ((const uint8_t[]){ 0x01 }, 1), ==, 0xff);
  g_assert_cmpuint (hv_acpi_checksum ((const uint8_t[]){ 0x80, 0x80 }, 2), ==, 0);
  g_assert_cmpuint (hv_acpi_checksum ((const uint8_t[]){ 0xff, 0xff, 0x03 }, 3), ==, 0xff);
}

/* ---- the tables in guest memory ---- */

typedef struct
{
  HvMemory mem;
  uint64_t rsdp;
} Machine;

static void
machine_build (Machine *m, unsigned n_vcpus)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (hv_memory_init (&m->mem, TEST_RAM, &error));
  g_assert_no_error (error);
  m->rsdp = 0;
  g_assert_true (hv_acpi_build (&m->mem, n_vcpus, &m->rsdp, &error));
  g_assert_no_error (error);
}

static void
machine_clear (Machine *m)
{
  hv_memory_clear (&m->mem);
}

/* A table as a guest finds it: inside the ACPI area, its length readable, its checksum right. */
static const uint8_t *
table_at (Machine *m, uint64_t gpa, const char *signature)
{
  const uint8_t *t;
  uint32_t length;

  g_assert_cmpuint (gpa, >=, HV_ACPI_START);
  g_assert_cmpuint (gpa, <, HV_ACPI_END);
  t = hv_memory_ptr (&m->mem, gpa, 36);
  g_assert_nonnull (t);
  g_assert_cmpmem (t, 4, signature, 4);
  length = rd32 (t + 4);
  g_assert_cmpuint (length, >=, 36);
  g_assert_cmpuint (gpa + length, <=, HV_ACPI_END);
  t = hv_memory_ptr (&m->mem, gpa, length);
  g_assert_nonnull (t);
  g_assert_cmpuint (byte_sum (t, length), ==, 0);
  /* Common header: OEM ID, OEM table ID, OEM revision, creator ID and revision. */
  g_assert_cmpmem (t + 10, 6, "VIREO ", 6);
  g_assert_cmpmem (t + 16, 8, "VIREOVM ", 8);
  g_assert_cmpuint (rd32 (t + 24), ==, 1);
  g_assert_cmpmem (t + 28, 4, "VIRO", 4);
  g_assert_cmpuint (rd32 (t + 32), ==, 1);
  return t;
}

static const uint8_t *
rsdp_at (Machine *m)
{
  const uint8_t *rsdp;

  g_assert_cmpuint (m->rsdp, ==, HV_ACPI_START);
  g_assert_cmpuint (m->rsdp % 16, ==, 0);
  rsdp = hv_memory_ptr (&m->mem, m->rsdp, 36);
  g_assert_nonnull (rsdp);
  return rsdp;
}

/* The table with @signature listed in the XSDT; the RSDT must list the same one. */
static const uint8_t *
find_table (Machine *m, const char *signature, uint64_t *gpa_out)
{
  const uint8_t *rsdp = rsdp_at (m);
  const uint8_t *xsdt = table_at (m, rd64 (rsdp + 24), "XSDT");
  const uint8_t *rsdt = table_at (m, rd32 (rsdp + 16), "RSDT");
  unsigned n = (rd32 (xsdt + 4) - 36) / 8;

  g_assert_cmpuint ((rd32 (rsdt + 4) - 36) / 4, ==, n);
  for (unsigned i = 0; i < n; i++)
    {
      uint64_t gpa = rd64 (xsdt + 36 + 8 * i);
      const uint8_t *t = hv_memory_ptr (&m->mem, gpa, 4);
      g_assert_cmpuint (rd32 (rsdt + 36 + 4 * i), ==, gpa);
      if (t && memcmp (t, signature, 4) == 0)
        {
          if (gpa_out)
            *gpa_out = gpa;
          return table_at (m, gpa, signature);
        }
    }
  g_assert_not_reached ();
}

static void
test_rsdp (void)
{
  Machine m;
  const uint8_t *rsdp;

  machine_build (&m, 1);
  rsdp = rsdp_at (&m);
  g_assert_cmpmem (rsdp, 8, "RSD PTR ", 8);
  g_assert_cmpuint (byte_sum (rsdp, 20), ==, 0);
  g_assert_cmpmem (rsdp + 9, 6, "VIREO ", 6);
  g_assert_cmpuint (rsdp[15], ==, 2);
  g_assert_cmpuint (rd32 (rsdp + 20), ==, 36);
  g_assert_cmpuint (byte_sum (rsdp, 36), ==, 0);
  g_assert_cmpuint (rd32 (rsdp + 16), !=, 0);
  g_assert_cmpuint (rd64 (rsdp + 24), !=, 0);
  machine_clear (&m);
}

static void
test_root_tables (void)
{
  Machine m;
  const uint8_t *rsdp, *xsdt, *rsdt;
  gboolean seen_fadt = FALSE, seen_madt = FALSE;

  machine_build (&m, 2);
  rsdp = rsdp_at (&m);
  xsdt = table_at (&m, rd64 (rsdp + 24), "XSDT");
  rsdt = table_at (&m, rd32 (rsdp + 16), "RSDT");
  g_assert_cmpuint (rd32 (xsdt + 4), ==, 36 + 2 * 8);
  g_assert_cmpuint (rd32 (rsdt + 4), ==, 36 + 2 * 4);
  for (unsigned i = 0; i < 2; i++)
    {
      uint64_t gpa = rd64 (xsdt + 36 + 8 * i);
      const uint8_t *t = hv_memory_ptr (&m.mem, gpa, 4);
      g_assert_nonnull (t);
      g_assert_cmpuint (rd32 (rsdt + 36 + 4 * i), ==, gpa);
      if (memcmp (t, "FACP", 4) == 0)
        {
          table_at (&m, gpa, "FACP");
          seen_fadt = TRUE;
        }
      else
        {
          table_at (&m, gpa, "APIC");
          seen_madt = TRUE;
        }
    }
  g_assert_true (seen_fadt && seen_madt);
  machine_clear (&m);
}

static void
assert_gas_io (const uint8_t *gas, uint64_t port, unsigned bit_width)
{
  g_assert_cmpuint (gas[0], ==, 1); /* system I/O */
  g_assert_cmpuint (gas[1], ==, bit_width);
  g_assert_cmpuint (gas[2], ==, 0);
  g_assert_cmpuint (rd64 (gas + 4), ==, port);
}

static void
test_fadt (void)
{
  Machine m;
  const uint8_t *f, *facs, *dsdt;
  uint32_t flags;
  uint64_t facs_addr;

  machine_build (&m, 1);
  f = find_table (&m, "FACP", NULL);
  g_assert_cmpuint (rd32 (f + 4), ==, 276);
  g_assert_cmpuint (f[8], ==, 6);
  g_assert_cmpuint (f[45], ==, 1); /* desktop */
  g_assert_cmpuint (rd16 (f + 46), ==, HV_IRQ_SCI);
  g_assert_cmpuint (rd32 (f + 48), ==, 0); /* SMI_CMD: always in ACPI mode */
  g_assert_cmpuint (rd32 (f + 56), ==, HV_PORT_ACPI_PM1_EVT);
  g_assert_cmpuint (rd32 (f + 60), ==, 0); /* no PM1b */
  g_assert_cmpuint (rd32 (f + 64), ==, HV_PORT_ACPI_PM1_CNT);
  g_assert_cmpuint (rd32 (f + 68), ==, 0);
  g_assert_cmpuint (rd32 (f + 72), ==, 0); /* no PM2 */
  g_assert_cmpuint (rd32 (f + 76), ==, HV_PORT_ACPI_PM_TMR);
  g_assert_cmpuint (rd32 (f + 80), ==, 0); /* no GPE blocks */
  g_assert_cmpuint (rd32 (f + 84), ==, 0);
  g_assert_cmpuint (f[88], ==, 4);
  g_assert_cmpuint (f[89], ==, 2);
  g_assert_cmpuint (f[91], ==, 4);
  g_assert_cmpuint (f[92], ==, 0);
  g_assert_cmpuint (f[93], ==, 0);
  g_assert_cmpuint (rd16 (f + 96), >, 100);      /* C2 unsupported */
  g_assert_cmpuint (rd16 (f + 98), >, 1000);     /* C3 unsupported */
  g_assert_cmpuint (rd16 (f + 109), ==, 0x0007); /* legacy devices, 8042, no VGA */
  g_assert_cmpuint (f[108], ==, HV_RTC_CENTURY); /* CENTURY: the CMOS register of the century */

  flags = rd32 (f + 112);
  g_assert_true (flags & (1u << 0));   /* WBINVD */
  g_assert_true (flags & (1u << 2));   /* PROC_C1 */
  g_assert_false (flags & (1u << 4));  /* power button is a fixed feature */
  g_assert_true (flags & (1u << 5));   /* no fixed sleep button */
  g_assert_true (flags & (1u << 8));   /* 32-bit PM timer */
  g_assert_true (flags & (1u << 10));  /* reset register */
  g_assert_false (flags & (1u << 20)); /* not hardware-reduced */

  assert_gas_io (f + 116, HV_PORT_ACPI_RESET, 8);
  g_assert_cmpuint (f[128], ==, HV_ACPI_RESET_VALUE);

  /* The 64-bit blocks agree with the 32-bit ones (Linux warns and picks one when they differ). */
  assert_gas_io (f + 148, HV_PORT_ACPI_PM1_EVT, 32);
  g_assert_cmpuint (rd64 (f + 160 + 4), ==, 0);
  assert_gas_io (f + 172, HV_PORT_ACPI_PM1_CNT, 16);
  assert_gas_io (f + 208, HV_PORT_ACPI_PM_TMR, 32);
  g_assert_cmpuint (rd64 (f + 220 + 4), ==, 0);
  g_assert_cmpuint (rd64 (f + 232 + 4), ==, 0);

  /* DSDT both ways; the FACS through exactly one of FIRMWARE_CTRL / X_FIRMWARE_CTRL. */
  g_assert_cmpuint (rd32 (f + 40), ==, rd64 (f + 140));
  dsdt = table_at (&m, rd64 (f + 140), "DSDT");
  g_assert_cmpuint (dsdt[8], ==, 2);
  facs_addr = rd32 (f + 36) ? rd32 (f + 36) : rd64 (f + 132);
  g_assert_true (rd32 (f + 36) == 0 || rd64 (f + 132) == 0);
  g_assert_cmpuint (facs_addr % 64, ==, 0);
  g_assert_cmpuint (facs_addr, >=, HV_ACPI_START);
  facs = hv_memory_ptr (&m.mem, facs_addr, 64);
  g_assert_nonnull (facs);
  g_assert_cmpmem (facs, 4, "FACS", 4);
  g_assert_cmpuint (rd32 (facs + 4), ==, 64);
  g_assert_cmpuint (rd32 (facs + 12), ==, 0); /* no waking vector */
  machine_clear (&m);
}

static void
check_madt (unsigned n_vcpus)
{
  Machine m;
  const uint8_t *t, *p, *end;
  unsigned n_lapic = 0, n_ioapic = 0, n_nmi = 0, n_override = 0;

  machine_build (&m, n_vcpus);
  t = find_table (&m, "APIC", NULL);
  g_assert_cmpuint (rd32 (t + 36), ==, HV_LAPIC_ADDR);
  g_assert_cmpuint (rd32 (t + 40), ==, 1); /* PCAT_COMPAT */
  end = t + rd32 (t + 4);
  for (p = t + 44; p < end; p += p[1])
    {
      g_assert_cmpuint (p[1], >=, 2);
      g_assert_true (p + p[1] <= end);
      switch (p[0])
        {
        case 0:
          g_assert_cmpuint (p[1], ==, 8);
          g_assert_cmpuint (p[2], ==, n_lapic);   /* processor UID */
          g_assert_cmpuint (p[3], ==, n_lapic);   /* APIC id */
          g_assert_cmpuint (rd32 (p + 4), ==, 1); /* enabled */
          n_lapic++;
          break;
        case 1:
          g_assert_cmpuint (p[1], ==, 12);
          g_assert_cmpuint (p[2], ==, 0);
          g_assert_cmpuint (rd32 (p + 4), ==, HV_IOAPIC_ADDR);
          g_assert_cmpuint (rd32 (p + 8), ==, 0);
          n_ioapic++;
          break;
        case 2:
          g_assert_cmpuint (p[1], ==, 10);
          g_assert_cmpuint (p[2], ==, 0);
          if (p[3] == 0)
            {
              g_assert_cmpuint (rd32 (p + 4), ==, 2);
              g_assert_cmpuint (rd16 (p + 8), ==, 0);
            }
          else
            {
              g_assert_cmpuint (p[3], ==, HV_IRQ_SCI);
              g_assert_cmpuint (rd32 (p + 4), ==, HV_IRQ_SCI);
              g_assert_cmpuint (rd16 (p + 8), ==, 0x000d);
            }
          n_override++;
          break;
        case 4:
          g_assert_cmpuint (p[1], ==, 6);
          g_assert_cmpuint (p[2], ==, 0xff);
          g_assert_cmpuint (p[5], ==, 1); /* LINT1 */
          n_nmi++;
          break;
        default:
          g_assert_not_reached ();
        }
    }
  g_assert_true (p == end);
  g_assert_cmpuint (n_lapic, ==, n_vcpus);
  g_assert_cmpuint (n_ioapic, ==, 1);
  g_assert_cmpuint (n_override, ==, 2);
  g_assert_cmpuint (n_nmi, ==, 1);
  machine_clear (&m);
}

static void
test_madt (void)
{
  check_madt (1);
  check_madt (2);
  check_madt (HV_VCPUS_MAX);
}

/* A minimal AML reader for what the DSDT holds, to check it decodes as intended. */
static gsize
read_pkg_length (const uint8_t *p, const uint8_t *end, gsize *value)
{
  unsigned n;

  g_assert_true (p < end);
  n = (p[0] >> 6) + 1;
  g_assert_true (p + n <= end);
  if (n == 1)
    *value = p[0] & 0x3f;
  else
    {
      *value = p[0] & 0x0f;
      for (unsigned i = 1; i < n; i++)
        *value |= (gsize) p[i] << (4 + 8 * (i - 1));
    }
  return n;
}

static const uint8_t *
read_integer (const uint8_t *p, const uint8_t *end, uint64_t *value)
{
  unsigned n;

  g_assert_true (p < end);
  switch (p[0])
    {
    case 0x00:
      *value = 0;
      return p + 1;
    case 0x01:
      *value = 1;
      return p + 1;
    case 0x0a:
      n = 1;
      break;
    case 0x0b:
      n = 2;
      break;
    case 0x0c:
      n = 4;
      break;
    case 0x0e:
      n = 8;
      break;
    default:
      g_assert_not_reached ();
    }
  g_assert_true (p + 1 + n <= end);
  *value = 0;
  for (unsigned i = 0; i < n; i++)
    *value |= (uint64_t) p[1 + i] << (8 * i);
  return p + 1 + n;
}

/* Reads a DefPackage at @p: returns its first element and gives its element count and end. */
static const uint8_t *
read_package (const uint8_t *p, const uint8_t *end, unsigned *count, const uint8_t **pkg_end)
{
  gsize pkg_len, n;

  g_assert_true (p < end);
  g_assert_cmpuint (*p, ==, 0x12);
  p++;
  n = read_pkg_length (p, end, &pkg_len);
  *pkg_end = p + pkg_len;
  g_assert_true (*pkg_end <= end);
  g_assert_true (p + n < *pkg_end);
  *count = p[n];
  return p + n + 1;
}

/* The package in Name (@name, Package () {...}), @name with or without the root prefix. */
static const uint8_t *
find_name_package (const uint8_t *aml, gsize len, const char *name, unsigned *count, const uint8_t **pkg_end)
{
  for (gsize i = 0; i + 6 < len; i++)
    {
      gsize at = aml[i + 1] == 0x5c ? i + 2 : i + 1;
      if (aml[i] == 0x08 && at + 4 < len && memcmp (aml + at, name, 4) == 0)
        return read_package (aml + at + 4, aml + len, count, pkg_end);
    }
  g_assert_not_reached ();
}

static const uint8_t *
dsdt_of (Machine *m, gsize *len)
{
  const uint8_t *f = find_table (m, "FACP", NULL);
  const uint8_t *dsdt = table_at (m, rd64 (f + 140), "DSDT");
  *len = rd32 (dsdt + 4);
  return dsdt;
}

static void
test_dsdt_s5 (void)
{
  Machine m;
  const uint8_t *dsdt, *p, *end;
  unsigned count;
  gsize len;
  uint64_t v[4];

  machine_build (&m, 1);
  dsdt = dsdt_of (&m, &len);
  p = find_name_package (dsdt + 36, len - 36, "_S5_", &count, &end);
  g_assert_cmpuint (count, ==, 4);
  for (unsigned i = 0; i < 4; i++)
    p = read_integer (p, end, &v[i]);
  g_assert_true (p == end);
  g_assert_cmpuint (v[0], ==, HV_ACPI_SLP_TYP_S5);
  g_assert_cmpuint (v[1], ==, HV_ACPI_SLP_TYP_S5);
  g_assert_cmpuint (v[2], ==, 0);
  g_assert_cmpuint (v[3], ==, 0);
  machine_clear (&m);
}

static void
test_dsdt_prt (void)
{
  Machine m;
  const uint8_t *dsdt, *p, *end;
  unsigned count;
  gsize len;
  gboolean seen[32][4] = { { FALSE } };

  machine_build (&m, 1);
  dsdt = dsdt_of (&m, &len);
  p = find_name_package (dsdt + 36, len - 36, "_PRT", &count, &end);
  g_assert_cmpuint (count, ==, 31 * 4);
  for (unsigned i = 0; i < count; i++)
    {
      const uint8_t *entry_end;
      unsigned n_fields;
      uint64_t addr, pin, source, gsi;
      unsigned slot;

      p = read_package (p, end, &n_fields, &entry_end);
      g_assert_cmpuint (n_fields, ==, 4);
      p = read_integer (p, entry_end, &addr);
      p = read_integer (p, entry_end, &pin);
      p = read_integer (p, entry_end, &source);
      p = read_integer (p, entry_end, &gsi);
      g_assert_true (p == entry_end);
      g_assert_cmpuint (addr & 0xffff, ==, 0xffff);
      slot = (unsigned) (addr >> 16);
      g_assert_cmpuint (slot, >=, 1);
      g_assert_cmpuint (slot, <=, 31);
      g_assert_cmpuint (pin, <=, 3);
      g_assert_false (seen[slot][pin]);
      seen[slot][pin] = TRUE;
      g_assert_cmpuint (source, ==, 0);
      g_assert_cmpuint (gsi, ==, HV_IRQ_PCI_FIRST + (slot + pin) % 8);
      g_assert_cmpuint (gsi, ==, HV_PCI_INTX_GSI (slot, pin));
    }
  g_assert_true (p == end);
  machine_clear (&m);
}

static void
test_invalid_vcpus (void)
{
  HvMemory mem;
  g_autoptr (GError) error = NULL;
  uint64_t rsdp = 0;

  g_assert_true (hv_memory_init (&mem, TEST_RAM, NULL));
  g_assert_false (hv_acpi_build (&mem, 0, &rsdp, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (hv_acpi_build (&mem, HV_VCPUS_MAX + 1, &rsdp, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "65"));
  g_assert_cmpuint (rsdp, ==, 0);
  hv_memory_clear (&mem);
}

/* Guest RAM that ends inside the ACPI area: the tables cannot be placed, and that is an error. */
static void
test_no_room (void)
{
  HvMemory mem;
  g_autoptr (GError) error = NULL;
  uint64_t rsdp = 0;

  g_assert_true (hv_memory_init (&mem, HV_ACPI_START, NULL));
  g_assert_false (hv_acpi_build (&mem, 1, &rsdp, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_TOO_LARGE);
  g_assert_cmpuint (rsdp, ==, 0);
  hv_memory_clear (&mem);
}

/* ---- iasl, the outside judge ---- */

static char *
run_iasl (const char *dir, const char *const *args, int *status)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();

  g_ptr_array_add (argv, (char *) "iasl");
  for (unsigned i = 0; args[i]; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);
  g_assert_true (g_spawn_sync (dir, (char **) argv->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
                               status, &error));
  g_assert_no_error (error);
  return g_strconcat (out, err, NULL);
}

static unsigned
count_matches (const char *text, const char *needle)
{
  unsigned n = 0;
  for (const char *p = strstr (text, needle); p; p = strstr (p + 1, needle))
    n++;
  return n;
}

static char *
iasl_disassemble (const char *dir, const char *name, const uint8_t *data, gsize len)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *dat = g_strconcat (name, ".dat", NULL);
  g_autofree char *dat_path = g_build_filename (dir, dat, NULL);
  g_autofree char *output = NULL;
  g_autofree char *dsl_path = g_strconcat (path, ".dsl", NULL);
  g_autoptr (GError) error = NULL;
  char *dsl = NULL;
  int status;

  g_assert_true (g_file_set_contents (dat_path, (const char *) data, (gssize) len, &error));
  g_assert_no_error (error);
  output = run_iasl (dir, (const char *const[]){ "-d", dat, NULL }, &status);
  g_test_message ("iasl -d %s:\n%s", dat, output);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_null (strstr (output, "Error"));
  g_assert_null (strstr (output, "Warning"));
  g_assert_true (g_file_get_contents (dsl_path, &dsl, NULL, &error));
  g_assert_no_error (error);
  return dsl;
}

static void
check_iasl (unsigned n_vcpus)
{
  Machine m;
  g_autofree char *dir = NULL;
  g_autoptr (GError) error = NULL;
  const uint8_t *rsdp, *f, *facs;
  uint64_t facs_addr;
  g_autofree char *dsl_xsdt = NULL, *dsl_rsdt = NULL, *dsl_fadt = NULL;
  g_autofree char *dsl_facs = NULL, *dsl_madt = NULL, *dsl_dsdt = NULL, *compiled = NULL;
  g_autofree char *aml_path = NULL;
  gsize dsdt_len;
  const uint8_t *dsdt;
  int status;

  dir = g_dir_make_tmp ("vireo-acpi-XXXXXX", &error);
  g_assert_no_error (error);
  machine_build (&m, n_vcpus);
  rsdp = rsdp_at (&m);
  dsl_xsdt = iasl_disassemble (dir, "xsdt", table_at (&m, rd64 (rsdp + 24), "XSDT"),
                               rd32 (table_at (&m, rd64 (rsdp + 24), "XSDT") + 4));
  dsl_rsdt = iasl_disassemble (dir, "rsdt", table_at (&m, rd32 (rsdp + 16), "RSDT"),
                               rd32 (table_at (&m, rd32 (rsdp + 16), "RSDT") + 4));
  f = find_table (&m, "FACP", NULL);
  dsl_fadt = iasl_disassemble (dir, "facp", f, rd32 (f + 4));
  facs_addr = rd32 (f + 36);
  facs = hv_memory_ptr (&m.mem, facs_addr, 64);
  g_assert_nonnull (facs);
  dsl_facs = iasl_disassemble (dir, "facs", facs, 64);
  f = find_table (&m, "APIC", NULL);
  dsl_madt = iasl_disassemble (dir, "apic", f, rd32 (f + 4));
  dsdt = dsdt_of (&m, &dsdt_len);
  dsl_dsdt = iasl_disassemble (dir, "dsdt", dsdt, dsdt_len);

  /* What iasl read back is what we meant. */
  g_assert_nonnull (strstr (dsl_fadt, "Reset Register"));
  g_assert_nonnull (strstr (dsl_fadt, "Control Method Power Button (V1) : 0"));
  g_assert_nonnull (strstr (dsl_fadt, "PM Timer Block Address : 00000608"));
  g_assert_nonnull (strstr (dsl_madt, "[Local APIC NMI]"));
  g_assert_cmpuint (count_matches (dsl_madt, "[Processor Local APIC]"), ==, n_vcpus);
  g_assert_nonnull (strstr (dsl_dsdt, "Name (\\_S5, Package (0x04)"));
  g_assert_nonnull (strstr (dsl_dsdt, "EisaId (\"PNP0A03\")"));
  g_assert_nonnull (strstr (dsl_dsdt, "EisaId (\"PNP0501\")"));
  g_assert_nonnull (strstr (dsl_dsdt, "EisaId (\"PNP0303\")"));
  g_assert_nonnull (strstr (dsl_dsdt, "EisaId (\"PNP0B00\")"));
  g_assert_nonnull (strstr (dsl_dsdt, "WordBusNumber (ResourceProducer"));
  g_assert_nonnull (strstr (dsl_dsdt, "0xFEBFFFFF"));

  /* And the disassembled DSDT compiles again without errors or warnings. */
  aml_path = g_build_filename (dir, "recompiled", NULL);
  compiled = run_iasl (dir, (const char *const[]){ "-p", aml_path, "dsdt.dsl", NULL }, &status);
  g_test_message ("iasl dsdt.dsl:\n%s", compiled);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (compiled, " 0 Errors, 0 Warnings"));

  machine_clear (&m);
  {
    g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name (d)))
      {
        g_autofree char *path = g_build_filename (dir, name, NULL);
        g_unlink (path);
      }
  }
  g_rmdir (dir);
}

static void
test_iasl (void)
{
  g_autofree char *iasl = g_find_program_in_path ("iasl");

  if (iasl == NULL)
    {
      g_test_skip ("iasl (acpica-tools) is not installed");
      return;
    }
  check_iasl (1);
  check_iasl (HV_VCPUS_MAX);
}

/* A firmware's linker/loader, as SeaBIOS's romfile_loader runs it: allocate each file at an address of
 * our choosing, add addresses, fix checksums. */
typedef struct
{
  GByteArray *rsdp;
  GByteArray *tables;
  uint64_t rsdp_addr;
  uint64_t tables_addr;
} LoadedFiles;

static GByteArray *
loaded_file (LoadedFiles *files, const char *name, uint64_t *addr)
{
  if (strcmp (name, HV_ACPI_RSDP_FILE) == 0)
    {
      *addr = files->rsdp_addr;
      return files->rsdp;
    }
  g_assert_cmpstr (name, ==, HV_ACPI_TABLES_FILE);
  *addr = files->tables_addr;
  return files->tables;
}

static void
run_loader (GBytes *loader, LoadedFiles *files)
{
  gsize size;
  const uint8_t *cmd = g_bytes_get_data (loader, &size);
  unsigned allocated = 0;

  g_assert_cmpuint (size % 128, ==, 0);
  for (gsize at = 0; at < size; at += 128, cmd += 128)
    {
      uint32_t command = cmd[0] | cmd[1] << 8 | cmd[2] << 16 | (uint32_t) cmd[3] << 24;
      const char *name = (const char *) cmd + 4;
      uint64_t addr;
      GByteArray *file;

      g_assert_cmpuint (cmd[4 + 55], ==, 0); /* names are NUL-terminated */
      file = loaded_file (files, name, &addr);
      if (command == 1)
        {
          uint32_t align = cmd[60] | cmd[61] << 8;
          uint8_t zone = cmd[64];
          /* Both allocated before any use; the RSDP in the F segment (2), the tables high (1). */
          g_assert_cmpuint (at, <, 256);
          g_assert_cmpuint (addr % align, ==, 0);
          g_assert_cmpuint (zone, ==, file == files->rsdp ? 2 : 1);
          allocated++;
        }
      else if (command == 2)
        {
          uint64_t src_addr, value = 0;
          uint32_t offset = cmd[116] | cmd[117] << 8 | cmd[118] << 16 | (uint32_t) cmd[119] << 24;
          uint8_t width = cmd[120];
          loaded_file (files, (const char *) cmd + 60, &src_addr);
          g_assert_cmpuint (allocated, ==, 2);
          g_assert_true (width == 4 || width == 8);
          g_assert_cmpuint (offset + width, <=, file->len);
          memcpy (&value, file->data + offset, width);
          value = GUINT64_FROM_LE (value) + src_addr;
          value = GUINT64_TO_LE (value);
          memcpy (file->data + offset, &value, width);
        }
      else if (command == 3)
        {
          uint32_t offset = cmd[60] | cmd[61] << 8 | cmd[62] << 16;
          uint32_t start = cmd[64] | cmd[65] << 8 | cmd[66] << 16;
          uint32_t length = cmd[68] | cmd[69] << 8 | cmd[70] << 16;
          uint8_t sum = 0;
          g_assert_cmpuint (start + length, <=, file->len);
          g_assert_cmpuint (offset, <, file->len);
          for (uint32_t i = 0; i < length; i++)
            sum += file->data[start + i];
          file->data[offset] -= sum;
        }
      else
        g_assert_not_reached ();
    }
}

/* One table builder, two delivery paths: what firmware makes of the etc/acpi files through etc/table-loader
 * is byte for byte what direct boot links and copies, placed elsewhere. */
static void
test_linker_loader (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HvAcpiTables) direct = hv_acpi_tables_build (2, &error);
  g_autoptr (HvAcpiTables) firmware = hv_acpi_tables_build (2, &error);
  g_autoptr (GBytes) loader = NULL;
  LoadedFiles files;
  const uint8_t *rsdp;
  uint32_t xsdt_at;

  g_assert_no_error (error);
  loader = hv_acpi_tables_loader (firmware);
  files = (LoadedFiles){ firmware->rsdp, firmware->tables, 0xf5a40, 0x7fe0000 };
  run_loader (loader, &files);
  hv_acpi_tables_link (direct, 0x7fe0000);
  g_assert_cmpmem (firmware->rsdp->data, firmware->rsdp->len, direct->rsdp->data, direct->rsdp->len);
  g_assert_cmpmem (firmware->tables->data, firmware->tables->len, direct->tables->data, direct->tables->len);

  /* And the result is a valid set: the RSDP's checksums, and the XSDT it points to, checksummed. */
  rsdp = firmware->rsdp->data;
  g_assert_cmpmem (rsdp, 8, "RSD PTR ", 8);
  g_assert_cmpuint (hv_acpi_checksum (rsdp, 20), ==, 0);
  g_assert_cmpuint (hv_acpi_checksum (rsdp, 36), ==, 0);
  xsdt_at = (uint32_t) (rsdp[24] | rsdp[25] << 8 | rsdp[26] << 16 | (uint32_t) rsdp[27] << 24) - 0x7fe0000;
  g_assert_cmpmem (firmware->tables->data + xsdt_at, 4, "XSDT", 4);
  g_assert_cmpuint (hv_acpi_checksum (firmware->tables->data + xsdt_at, firmware->tables->data[xsdt_at + 4]),
                    ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/acpi/checksum", test_checksum);
  g_test_add_func ("/acpi/rsdp", test_rsdp);
  g_test_add_func ("/acpi/root-tables", test_root_tables);
  g_test_add_func ("/acpi/fadt", test_fadt);
  g_test_add_func ("/acpi/madt", test_madt);
  g_test_add_func ("/acpi/dsdt-s5", test_dsdt_s5);
  g_test_add_func ("/acpi/dsdt-prt", test_dsdt_prt);
  g_test_add_func ("/acpi/invalid-vcpus", test_invalid_vcpus);
  g_test_add_func ("/acpi/no-room", test_no_room);
  g_test_add_func ("/acpi/iasl", test_iasl);
  g_test_add_func ("/acpi/linker-loader", test_linker_loader);
  return g_test_run ();
}
