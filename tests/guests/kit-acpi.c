/* kit-acpi.c — the guest kit's ACPI walker: RSDP -> XSDT/RSDT -> tables, the FADT's PM registers,
 * the DSDT's \_S5 sleep type, the polled power button, and the TSC's rate by the PM timer.  Tables come from the VMM under test, so
 * every length and pointer is checked before use and a bad one reads as "absent". */
#include "kit-private.h"

/* Larger than any table a VMM builds; stops a garbage length from walking over all of memory. */
#define KIT_ACPI_TABLE_MAX (16u << 20)

/* FADT field offsets (ACPI 6.x, table 5.9). */
#define FADT_DSDT         40
#define FADT_PM1A_EVT_BLK 56
#define FADT_PM1B_EVT_BLK 60
#define FADT_PM1A_CNT_BLK 64
#define FADT_PM1B_CNT_BLK 68
#define FADT_PM_TMR_BLK   76
#define FADT_PM1_EVT_LEN  88
#define FADT_PM1_CNT_LEN  89
#define FADT_X_DSDT       140
#define FADT_X_PM1A_EVT   148
#define FADT_X_PM1B_EVT   160
#define FADT_X_PM1A_CNT   172
#define FADT_X_PM1B_CNT   184
#define FADT_X_PM_TMR     208
#define GAS_SIZE          12
#define GAS_SPACE_IO      1

/* AML opcodes met on the way to \_S5's first two elements. */
#define AML_NAME_OP      0x08
#define AML_ROOT_CHAR    0x5c
#define AML_PACKAGE_OP   0x12
#define AML_ZERO_OP      0x00
#define AML_ONE_OP       0x01
#define AML_ONES_OP      0xff
#define AML_BYTE_PREFIX  0x0a
#define AML_WORD_PREFIX  0x0b
#define AML_DWORD_PREFIX 0x0c

bool
kit_acpi_checksum_ok (const void *data, size_t len)
{
  const uint8_t *p = data;
  uint8_t sum = 0;

  for (size_t i = 0; i < len; i++)
    sum = (uint8_t) (sum + p[i]);
  return sum == 0;
}

static uint32_t
read_u32 (const void *p)
{
  uint32_t v;
  memcpy (&v, p, sizeof v);
  return v;
}

static uint64_t
read_u64 (const void *p)
{
  uint64_t v;
  memcpy (&v, p, sizeof v);
  return v;
}

static const struct acpi_header *
table_at (uint64_t paddr)
{
  const struct acpi_header *h = kit_phys (paddr, sizeof *h);

  if (h == NULL || h->length < sizeof *h || h->length > KIT_ACPI_TABLE_MAX
      || kit_phys (paddr, h->length) == NULL)
    return NULL;
  return h;
}

static bool
has_signature (const struct acpi_header *h, const char *signature)
{
  return h != NULL && memcmp (h->signature, signature, 4) == 0;
}

static const struct acpi_rsdp *
rsdp_scan (uint64_t start, uint64_t len)
{
  const uint8_t *p = kit_phys (start, len);

  if (p == NULL)
    return NULL;
  for (uint64_t off = 0; off + sizeof (struct acpi_rsdp) <= len; off += 16)
    if (memcmp (p + off, "RSD PTR ", 8) == 0 && kit_acpi_checksum_ok (p + off, 20))
      return (const struct acpi_rsdp *) (p + off);
  return NULL;
}

const struct acpi_rsdp *
kit_acpi_rsdp (void)
{
  const struct hvm_start_info *si = kit_start_info ();

  if (si != NULL && si->rsdp_paddr != 0)
    {
      const struct acpi_rsdp *rsdp = kit_phys (si->rsdp_paddr, sizeof *rsdp);
      if (rsdp != NULL && memcmp (rsdp->signature, "RSD PTR ", 8) == 0)
        return rsdp;
      return NULL;
    }

  /* No pointer handed over: look where ACPI 1.0 says (the EBDA's first KiB, then the BIOS ROM). */
  const uint16_t *ebda_segment = kit_phys (0x40e, sizeof *ebda_segment);
  const struct acpi_rsdp *found = NULL;
  if (ebda_segment != NULL && *ebda_segment != 0)
    found = rsdp_scan ((uint64_t) *ebda_segment << 4, 1024);
  if (found == NULL)
    found = rsdp_scan (HV_ACPI_START, HV_ACPI_END - HV_ACPI_START);
  return found;
}

const struct acpi_header *
kit_acpi_root (void)
{
  const struct acpi_rsdp *rsdp = kit_acpi_rsdp ();

  if (rsdp == NULL)
    return NULL;
  if (rsdp->revision >= 2 && rsdp->xsdt_address != 0)
    {
      const struct acpi_header *xsdt = table_at (rsdp->xsdt_address);
      return has_signature (xsdt, "XSDT") ? xsdt : NULL;
    }
  const struct acpi_header *rsdt = table_at (rsdp->rsdt_address);
  return has_signature (rsdt, "RSDT") ? rsdt : NULL;
}

static size_t
root_entry_size (const struct acpi_header *root)
{
  return has_signature (root, "XSDT") ? 8 : 4;
}

unsigned
kit_acpi_root_count (void)
{
  const struct acpi_header *root = kit_acpi_root ();

  if (root == NULL)
    return 0;
  return (unsigned) ((root->length - sizeof *root) / root_entry_size (root));
}

const struct acpi_header *
kit_acpi_root_entry (unsigned i)
{
  const struct acpi_header *root = kit_acpi_root ();

  if (root == NULL || i >= kit_acpi_root_count ())
    return NULL;
  size_t size = root_entry_size (root);
  const uint8_t *entry = (const uint8_t *) (root + 1) + i * size;
  return table_at (size == 8 ? read_u64 (entry) : read_u32 (entry));
}

const struct acpi_header *
kit_acpi_find (const char *signature)
{
  unsigned n = kit_acpi_root_count ();

  for (unsigned i = 0; i < n; i++)
    {
      const struct acpi_header *h = kit_acpi_root_entry (i);
      if (has_signature (h, signature))
        return h;
    }
  return NULL;
}

const struct acpi_header *
kit_acpi_dsdt (void)
{
  const struct acpi_header *fadt = kit_acpi_find ("FACP");
  const uint8_t *f = (const uint8_t *) fadt;
  uint64_t paddr = 0;

  if (fadt == NULL)
    return NULL;
  if (fadt->length >= FADT_X_DSDT + 8)
    paddr = read_u64 (f + FADT_X_DSDT);
  if (paddr == 0 && fadt->length >= FADT_DSDT + 4)
    paddr = read_u32 (f + FADT_DSDT);
  const struct acpi_header *dsdt = table_at (paddr);
  return has_signature (dsdt, "DSDT") ? dsdt : NULL;
}

/* A port from the 32-bit FADT field, else from the extended GAS when it is in system I/O space. */
static uint16_t
fadt_port (const struct acpi_header *fadt, unsigned legacy_offset, unsigned gas_offset)
{
  const uint8_t *f = (const uint8_t *) fadt;
  uint64_t port = 0;

  if (fadt->length >= legacy_offset + 4)
    port = read_u32 (f + legacy_offset);
  if (port == 0 && fadt->length >= gas_offset + GAS_SIZE && f[gas_offset] == GAS_SPACE_IO)
    port = read_u64 (f + gas_offset + 4);
  return port <= 0xffff ? (uint16_t) port : 0;
}

bool
kit_acpi_pm (KitAcpiPm *pm)
{
  const struct acpi_header *fadt = kit_acpi_find ("FACP");

  memset (pm, 0, sizeof *pm);
  if (fadt == NULL)
    return false;
  pm->pm1a_evt = fadt_port (fadt, FADT_PM1A_EVT_BLK, FADT_X_PM1A_EVT);
  pm->pm1b_evt = fadt_port (fadt, FADT_PM1B_EVT_BLK, FADT_X_PM1B_EVT);
  pm->pm1a_cnt = fadt_port (fadt, FADT_PM1A_CNT_BLK, FADT_X_PM1A_CNT);
  pm->pm1b_cnt = fadt_port (fadt, FADT_PM1B_CNT_BLK, FADT_X_PM1B_CNT);
  pm->pm_tmr = fadt_port (fadt, FADT_PM_TMR_BLK, FADT_X_PM_TMR);
  if (fadt->length > FADT_PM1_CNT_LEN)
    {
      pm->pm1_evt_len = ((const uint8_t *) fadt)[FADT_PM1_EVT_LEN];
      pm->pm1_cnt_len = ((const uint8_t *) fadt)[FADT_PM1_CNT_LEN];
    }
  return true;
}

/* One AML integer constant at *p (ComputationalData of the kinds a sleep package uses). */
static bool
aml_integer (const uint8_t **p, const uint8_t *end, uint32_t *value)
{
  const uint8_t *q = *p;
  size_t size;

  if (q >= end)
    return false;
  switch (*q)
    {
    case AML_ZERO_OP:
      *value = 0;
      size = 0;
      break;
    case AML_ONE_OP:
      *value = 1;
      size = 0;
      break;
    case AML_ONES_OP:
      *value = 0xffffffff;
      size = 0;
      break;
    case AML_BYTE_PREFIX:
      size = 1;
      break;
    case AML_WORD_PREFIX:
      size = 2;
      break;
    case AML_DWORD_PREFIX:
      size = 4;
      break;
    default:
      return false;
    }
  if ((size_t) (end - q) < 1 + size)
    return false;
  if (size > 0)
    {
      *value = 0;
      for (size_t i = 0; i < size; i++)
        *value |= (uint32_t) q[1 + i] << (8 * i);
    }
  *p = q + 1 + size;
  return true;
}

bool
kit_acpi_s5 (uint8_t *slp_typ_a, uint8_t *slp_typ_b)
{
  const struct acpi_header *dsdt = kit_acpi_dsdt ();

  if (dsdt == NULL)
    return false;
  const uint8_t *aml = (const uint8_t *) (dsdt + 1);
  const uint8_t *end = (const uint8_t *) dsdt + dsdt->length;

  for (const uint8_t *p = aml; end - p >= 5; p++)
    {
      if (memcmp (p, "_S5_", 4) != 0 || p[4] != AML_PACKAGE_OP)
        continue;
      /* A definition (NameOp "_S5_" or NameOp "\_S5_"), not a reference to the name. */
      bool named = (p - aml >= 1 && p[-1] == AML_NAME_OP)
                   || (p - aml >= 2 && p[-1] == AML_ROOT_CHAR && p[-2] == AML_NAME_OP);
      if (!named)
        continue;

      const uint8_t *q = p + 5;
      if (q >= end)
        return false;
      size_t pkg_length_bytes = 1 + (*q >> 6); /* PkgLength: lead byte bits 7:6 = extra bytes */
      if ((size_t) (end - q) < pkg_length_bytes + 1)
        return false;
      q += pkg_length_bytes + 1; /* and NumElements */
      uint32_t a, b;
      if (!aml_integer (&q, end, &a) || !aml_integer (&q, end, &b))
        return false;
      *slp_typ_a = (uint8_t) (a & 7);
      *slp_typ_b = (uint8_t) (b & 7);
      return true;
    }
  return false;
}

/* The PM1a event block, once looked up; 0 when there is none. */
static uint16_t power_button_pm1a_evt;
static uint8_t power_button_pm1_evt_len;

/* A press latched before arming is kept: for the guests that poll it, any press means "shut down",
 * and one that arrives while the guest is still starting must not be lost. */
bool
kit_power_button_arm (void)
{
  KitAcpiPm pm;

  if (!kit_acpi_pm (&pm) || pm.pm1a_evt == 0 || pm.pm1_evt_len < 4)
    return false;
  power_button_pm1a_evt = pm.pm1a_evt;
  power_button_pm1_evt_len = pm.pm1_evt_len;
  uint16_t pm1_en = (uint16_t) (pm.pm1a_evt + pm.pm1_evt_len / 2);
  outw (pm1_en, (uint16_t) (inw (pm1_en) | ACPI_PM1_PWRBTN));
  return true;
}

bool
kit_power_button_pressed (void)
{
  if (power_button_pm1a_evt == 0 || !(inw (power_button_pm1a_evt) & ACPI_PM1_PWRBTN))
    return false;
  outw (power_button_pm1a_evt, ACPI_PM1_PWRBTN); /* write 1 to clear */
  return true;
}

#define PM_TIMER_HZ       3579545u
#define PM_TIMER_MASK     0xffffffu    /* a 24-bit timer is the minimum; only the low 24 bits are used */
#define CALIBRATE_GIVE_UP (1ull << 36) /* TSC cycles: ~10 s even at 6 GHz, for a dead timer */

uint64_t
kit_measure_tsc_khz (unsigned ms)
{
  KitAcpiPm pm;
  uint32_t start, now, elapsed = 0, ticks = (uint32_t) ((uint64_t) PM_TIMER_HZ * ms / 1000);
  uint64_t tsc_start, tsc_end;

  if (!kit_acpi_pm (&pm) || pm.pm_tmr == 0 || ticks == 0 || ticks > PM_TIMER_MASK / 2)
    return 0;
  start = inl (pm.pm_tmr) & PM_TIMER_MASK;
  tsc_start = kit_rdtsc ();
  do
    {
      now = inl (pm.pm_tmr) & PM_TIMER_MASK;
      elapsed = (now - start) & PM_TIMER_MASK;
      tsc_end = kit_rdtsc ();
      if (tsc_end - tsc_start > CALIBRATE_GIVE_UP)
        return 0;
    }
  while (elapsed < ticks);
  return (tsc_end - tsc_start) * PM_TIMER_HZ / elapsed / 1000;
}
