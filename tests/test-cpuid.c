/* test-cpuid.c — feature names, the --cpuid-mask parser, and the topology hv_cpuid_prepare() lays
 * over KVM's CPUID (synthetic entries taken from a real KVM_GET_SUPPORTED_CPUID, and the real one
 * under KVM). */
#include "test-util.h"

#include "x86/cpuid.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

enum
{
  EAX,
  EBX,
  ECX,
  EDX
};

/* Common Linux flag names: every one must be known and name a bit of its own. */
/* Laid out by hand (a packed list of names): */
/* clang-format off */
static const char *const common_names[] = {
  "fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "sep", "mtrr", "pge", "mca",
  "cmov", "pat", "pse36", "clflush", "mmx", "fxsr", "sse", "sse2", "ss", "ht", "pni", "pclmulqdq",
  "dtes64", "monitor", "ssse3", "fma", "cx16", "pdcm", "pcid", "sse4_1", "sse4_2", "x2apic",
  "movbe", "popcnt", "tsc_deadline_timer", "aes", "xsave", "avx", "f16c", "rdrand", "hypervisor",
  "fsgsbase", "bmi1", "hle", "avx2", "smep", "bmi2", "erms", "invpcid", "rtm", "mpx", "avx512f",
  "avx512dq", "rdseed", "adx", "smap", "avx512ifma", "clflushopt", "clwb", "avx512pf", "avx512er",
  "avx512cd", "sha_ni", "avx512bw", "avx512vl", "umip", "pku", "avx512vbmi", "avx512_vbmi2", "gfni",
  "vaes", "vpclmulqdq", "avx512_vnni", "avx512_bitalg", "avx512_vpopcntdq", "la57", "rdpid",
  "md_clear", "arch_capabilities", "syscall", "nx", "pdpe1gb", "rdtscp", "lm", "lahf_lm", "abm",
  "sse4a", "3dnowprefetch", "xsaveopt", "xsavec", "xgetbv1", "xsaves", "cmp_legacy", "svm", "vmx",
};
/* clang-format on */

static void
assert_bit (const char *name, uint32_t leaf, uint32_t subleaf, uint8_t reg, uint8_t bit)
{
  HvCpuidBit b;

  g_assert_true (hv_cpuid_lookup (name, &b));
  g_assert_cmphex (b.leaf, ==, leaf);
  g_assert_cmpuint (b.subleaf, ==, subleaf);
  g_assert_cmpuint (b.reg, ==, reg);
  g_assert_cmpuint (b.bit, ==, bit);
}

static void
test_lookup (void)
{
  HvCpuidBit b;

  assert_bit ("fpu", 1, 0, EDX, 0);
  assert_bit ("ht", 1, 0, EDX, 28);
  assert_bit ("pni", 1, 0, ECX, 0);
  assert_bit ("cx16", 1, 0, ECX, 13);
  assert_bit ("x2apic", 1, 0, ECX, 21);
  assert_bit ("hypervisor", 1, 0, ECX, 31);
  assert_bit ("avx512f", 7, 0, EBX, 16);
  assert_bit ("avx512vl", 7, 0, EBX, 31);
  assert_bit ("la57", 7, 0, ECX, 16);
  assert_bit ("md_clear", 7, 0, EDX, 10);
  assert_bit ("arch_capabilities", 7, 0, EDX, 29);
  assert_bit ("xsaveopt", 0xd, 1, EAX, 0);
  assert_bit ("xsaves", 0xd, 1, EAX, 3);
  assert_bit ("syscall", 0x80000001, 0, EDX, 11);
  assert_bit ("lm", 0x80000001, 0, EDX, 29);
  assert_bit ("lahf_lm", 0x80000001, 0, ECX, 0);
  assert_bit ("3dnowprefetch", 0x80000001, 0, ECX, 8);
  assert_bit ("CX16", 1, 0, ECX, 13);
  assert_bit ("Avx512F", 7, 0, EBX, 16);

  g_assert_false (hv_cpuid_lookup ("cx17", &b));
  g_assert_false (hv_cpuid_lookup ("", &b));
  g_assert_false (hv_cpuid_lookup (NULL, &b));
  g_assert_false (hv_cpuid_lookup ("-cx16", &b));
}

static void
test_lookup_distinct (void)
{
  HvCpuidBit bits[G_N_ELEMENTS (common_names)];

  for (gsize i = 0; i < G_N_ELEMENTS (common_names); i++)
    {
      g_test_message ("%s", common_names[i]);
      g_assert_true (hv_cpuid_lookup (common_names[i], &bits[i]));
      g_assert_cmpuint (bits[i].reg, <=, EDX);
      g_assert_cmpuint (bits[i].bit, <, 32);
      for (gsize j = 0; j < i; j++)
        g_assert_false (bits[i].leaf == bits[j].leaf && bits[i].subleaf == bits[j].subleaf
                        && bits[i].reg == bits[j].reg && bits[i].bit == bits[j].bit);
    }
}

static void
assert_mask (const HvCpuidMask *mask, const char *const *names, unsigned n)
{
  g_assert_cmpuint (mask->n_clear, ==, n);
  for (unsigned i = 0; i < n; i++)
    {
      HvCpuidBit b;
      g_assert_true (hv_cpuid_lookup (names[i], &b));
      g_assert_cmpmem (&mask->clear[i], sizeof b, &b, sizeof b);
    }
}

static void
test_mask_parse (void)
{
  HvCpuidMask mask;
  g_autoptr (GError) error = NULL;
  static const char *const two[] = { "cx16", "avx512f" };

  g_assert_true (hv_cpuid_mask_parse ("-cx16,-avx512f", &mask, &error));
  g_assert_no_error (error);
  assert_mask (&mask, two, 2);

  /* Spaces around items and after the '-', and any case. */
  g_assert_true (hv_cpuid_mask_parse ("  -CX16 , - Avx512F  ", &mask, &error));
  g_assert_no_error (error);
  assert_mask (&mask, two, 2);

  /* A feature named twice is removed once. */
  g_assert_true (hv_cpuid_mask_parse ("-cx16,-avx512f,-CX16", &mask, &error));
  g_assert_no_error (error);
  assert_mask (&mask, two, 2);

  g_assert_true (hv_cpuid_mask_parse ("-xsaves", &mask, &error));
  g_assert_no_error (error);
  assert_mask (&mask, (const char *const[]){ "xsaves" }, 1);

  /* No text is no mask. */
  mask.n_clear = 7;
  g_assert_true (hv_cpuid_mask_parse ("", &mask, &error));
  g_assert_cmpuint (mask.n_clear, ==, 0);
  mask.n_clear = 7;
  g_assert_true (hv_cpuid_mask_parse ("   ", &mask, &error));
  g_assert_cmpuint (mask.n_clear, ==, 0);
  mask.n_clear = 7;
  g_assert_true (hv_cpuid_mask_parse (NULL, &mask, &error));
  g_assert_cmpuint (mask.n_clear, ==, 0);
  g_assert_no_error (error);
}

static void
assert_parse_fails (const char *text, const char *message_part)
{
  HvCpuidMask mask = { .n_clear = 1 };
  g_autoptr (GError) error = NULL;

  mask.clear[0] = (HvCpuidBit){ .leaf = 1, .reg = ECX, .bit = 13 };
  g_assert_false (hv_cpuid_mask_parse (text, &mask, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_test_message ("%s → %s", text, error->message);
  g_assert_nonnull (strstr (error->message, message_part));
  /* A failed parse leaves the previous mask alone. */
  g_assert_cmpuint (mask.n_clear, ==, 1);
  g_assert_cmpuint (mask.clear[0].bit, ==, 13);
}

static void
test_mask_errors (void)
{
  g_autoptr (GString) many = g_string_new (NULL);

  assert_parse_fails ("-cx16,-bogus", "“bogus”");
  assert_parse_fails ("-cx16,-Frobnicate ", "“Frobnicate”");
  assert_parse_fails ("cx16", "“cx16”");
  assert_parse_fails ("-cx16,+avx512f", "“+avx512f”");
  assert_parse_fails ("-cx16,,-avx512f", "item 2");
  assert_parse_fails ("-cx16,", "item 2");
  assert_parse_fails (",-cx16", "item 1");
  assert_parse_fails ("-cx16, - ,-avx", "item 2");
  assert_parse_fails ("-", "item 1");

  /* More distinct features than a mask holds. */
  for (gsize i = 0; i <= HV_CPUID_MASK_MAX; i++)
    g_string_append_printf (many, "%s-%s", i ? "," : "", common_names[i]);
  assert_parse_fails (many->str, "more than");
}

/* Entries from KVM_GET_SUPPORTED_CPUID on an Intel host (the CI machine), with a few bits set that
 * the tests need to see cleared: HTT, CmpLegacy and avx512f. */
static const struct kvm_cpuid_entry2 host_entries[] = {
  { .function = 0x0, .eax = 0x00000020, .ebx = 0x756e6547, .ecx = 0x6c65746e, .edx = 0x49656e69 },
  { .function = 0x1, .eax = 0x000c06f2, .ebx = 0x01020800, .ecx = 0x81202000, .edx = 0x1f8bfbff },
  { .function = 0x4, .index = 0, .flags = 1, .eax = 0x04000121, .ebx = 0x02c0003f, .ecx = 0x3f },
  { .function = 0x4, .index = 1, .flags = 1, .eax = 0x04000122, .ebx = 0x01c0003f, .ecx = 0x3f },
  { .function = 0x4, .index = 2, .flags = 1, .eax = 0x04000143, .ebx = 0x03c0003f, .ecx = 0x7ff },
  { .function = 0x4, .index = 3, .flags = 1, .eax = 0x04004163, .ebx = 0x04c0003f, .ecx = 0x3bfff, .edx = 4 },
  { .function = 0x4, .index = 4, .flags = 1 },
  { .function = 0x7,
    .index = 0,
    .flags = 1,
    .eax = 2,
    .ebx = 0x01812042,
    .ecx = 0x1a010104,
    .edx = 0xbc010400 },
  { .function = 0x7, .index = 1, .flags = 1, .eax = 0x1c00 },
  { .function = 0xb, .index = 0, .flags = 1, .edx = 1 },
  { .function = 0xd, .index = 0, .flags = 1, .eax = 0x2e7, .ebx = 0xa88, .ecx = 0xa88 },
  { .function = 0xd, .index = 1, .flags = 1, .eax = 0xf },
  { .function = 0x1f, .index = 0, .flags = 1, .edx = 1 },
  { .function = 0x80000000, .eax = 0x80000008 },
  { .function = 0x80000001, .ecx = 0x00000103, .edx = 0x20100800 },
  { .function = 0x80000008, .eax = 0x0000392e, .ebx = 0x0100d200, .ecx = 0x0000f0ff },
};

typedef struct
{
  struct kvm_cpuid_entry2 e[G_N_ELEMENTS (host_entries) + HV_CPUID_TOPOLOGY_ENTRIES];
  unsigned n;
} Entries;

static void
entries_init (Entries *t, gboolean add_topology)
{
  memset (t, 0, sizeof *t);
  memcpy (t->e, host_entries, sizeof host_entries);
  t->n = G_N_ELEMENTS (host_entries);
  if (add_topology)
    t->n = hv_cpuid_add_topology_leaves (t->e, t->n, G_N_ELEMENTS (t->e));
}

static struct kvm_cpuid_entry2 *
entry (Entries *t, uint32_t function, uint32_t index)
{
  for (unsigned i = 0; i < t->n; i++)
    if (t->e[i].function == function && t->e[i].index == index)
      return &t->e[i];
  g_assert_not_reached ();
}

static const struct kvm_cpuid_entry2 *
host_entry (uint32_t function, uint32_t index)
{
  for (gsize i = 0; i < G_N_ELEMENTS (host_entries); i++)
    if (host_entries[i].function == function && host_entries[i].index == index)
      return &host_entries[i];
  g_assert_not_reached ();
}

static void
test_add_topology (void)
{
  Entries t;
  unsigned n;

  entries_init (&t, TRUE);
  g_assert_cmpuint (t.n, ==, G_N_ELEMENTS (host_entries) + 2);
  g_assert_cmpuint (entry (&t, 0xb, 1)->flags, ==, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
  g_assert_cmpuint (entry (&t, 0x1f, 1)->flags, ==, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
  /* Present already: nothing more is added. */
  g_assert_cmpuint (hv_cpuid_add_topology_leaves (t.e, t.n, G_N_ELEMENTS (t.e)), ==, t.n);

  /* Room for one only, and none. */
  entries_init (&t, FALSE);
  n = hv_cpuid_add_topology_leaves (t.e, t.n, t.n + 1);
  g_assert_cmpuint (n, ==, t.n + 1);
  g_assert_cmphex (t.e[t.n].function, ==, 0xb);
  g_assert_cmpuint (t.e[t.n].index, ==, 1);
  entries_init (&t, FALSE);
  g_assert_cmpuint (hv_cpuid_add_topology_leaves (t.e, t.n, t.n), ==, t.n);
}

static void
check_topology (unsigned index, unsigned n_vcpus, unsigned shift)
{
  Entries t;
  const struct kvm_cpuid_entry2 *e;

  entries_init (&t, TRUE);
  hv_cpuid_prepare (t.e, t.n, index, n_vcpus, NULL);

  /* Leaf 0 (vendor, max leaf) is KVM's. */
  g_assert_cmpmem (entry (&t, 0, 0), sizeof t.e[0], host_entry (0, 0), sizeof t.e[0]);

  e = entry (&t, 1, 0);
  g_assert_cmpuint (e->ebx >> 24, ==, index);
  g_assert_cmpuint ((e->ebx >> 16) & 0xff, ==, n_vcpus);
  g_assert_cmphex (e->ebx & 0xffff, ==, host_entry (1, 0)->ebx & 0xffff);
  g_assert_cmphex (e->ecx, ==, host_entry (1, 0)->ecx | 1u << 31);
  g_assert_cmphex (e->edx & ~(1u << 28), ==, host_entry (1, 0)->edx & ~(1u << 28));
  g_assert_cmpuint (!!(e->edx & (1u << 28)), ==, n_vcpus > 1);
  g_assert_cmphex (e->eax, ==, host_entry (1, 0)->eax);

  for (unsigned sub = 0; sub < 4; sub++)
    {
      unsigned level;
      e = entry (&t, 4, sub);
      level = (e->eax >> 5) & 7;
      g_assert_cmpuint (e->eax >> 26, ==, n_vcpus - 1);
      g_assert_cmpuint ((e->eax >> 14) & 0xfff, ==, level >= 3 ? n_vcpus - 1 : 0);
      g_assert_cmphex (e->eax & 0x3fff, ==, host_entry (4, sub)->eax & 0x3fff);
      g_assert_cmphex (e->ebx, ==, host_entry (4, sub)->ebx);
      g_assert_cmphex (e->ecx, ==, host_entry (4, sub)->ecx);
    }
  g_assert_cmphex (entry (&t, 4, 0)->eax & 0x1f, ==, 1); /* data cache */
  g_assert_cmpuint ((entry (&t, 4, 3)->eax >> 5) & 7, ==, 3);
  g_assert_cmphex (entry (&t, 4, 4)->eax, ==, 0); /* the end of the list stays the end */

  for (uint32_t leaf = 0xb; leaf <= 0x1f; leaf += 0x1f - 0xb)
    {
      e = entry (&t, leaf, 0);
      g_assert_cmpuint (e->eax, ==, 0);
      g_assert_cmpuint (e->ebx, ==, 1);
      g_assert_cmphex (e->ecx, ==, 0x100);
      g_assert_cmpuint (e->edx, ==, index);
      e = entry (&t, leaf, 1);
      g_assert_cmpuint (e->eax, ==, shift);
      g_assert_cmpuint (e->ebx, ==, n_vcpus);
      g_assert_cmphex (e->ecx, ==, 0x201);
      g_assert_cmpuint (e->edx, ==, index);
    }

  e = entry (&t, 0x80000001, 0);
  g_assert_cmphex (e->ecx, ==, host_entry (0x80000001, 0)->ecx & ~2u);
  g_assert_cmphex (e->edx, ==, host_entry (0x80000001, 0)->edx);
  e = entry (&t, 0x80000008, 0);
  g_assert_cmphex (e->ecx, ==, shift << 12 | (n_vcpus - 1));
  g_assert_cmphex (e->eax, ==, host_entry (0x80000008, 0)->eax);

  /* Everything else is as KVM reported it. */
  for (uint32_t leaf = 7; leaf <= 0xd; leaf += 6)
    for (uint32_t sub = 0; sub < 2; sub++)
      g_assert_cmpmem (entry (&t, leaf, sub), sizeof t.e[0], host_entry (leaf, sub), sizeof t.e[0]);
}

static void
test_prepare_topology (void)
{
  check_topology (0, 4, 2);
  check_topology (3, 4, 2);
  check_topology (1, 64, 6);
  check_topology (0, 1, 0);
  check_topology (2, 3, 2);
}

/* Without subleaf 1, leaves 0xB and 0x1F cannot describe the package: they are left empty (guests
 * then use leaves 1 and 4), still giving the x2APIC id. */
static void
test_prepare_without_subleaf1 (void)
{
  Entries t;

  entries_init (&t, FALSE);
  hv_cpuid_prepare (t.e, t.n, 2, 4, NULL);
  for (uint32_t leaf = 0xb; leaf <= 0x1f; leaf += 0x1f - 0xb)
    {
      const struct kvm_cpuid_entry2 *e = entry (&t, leaf, 0);
      g_assert_cmpuint (e->eax, ==, 0);
      g_assert_cmpuint (e->ebx, ==, 0);
      g_assert_cmpuint (e->ecx, ==, 0);
      g_assert_cmpuint (e->edx, ==, 2);
    }
  g_assert_cmpuint (entry (&t, 1, 0)->ebx >> 24, ==, 2);
}

static void
test_prepare_mask (void)
{
  Entries plain, masked;
  HvCpuidMask mask;
  g_autoptr (GError) error = NULL;
  unsigned n_diff = 0;

  g_assert_true (hv_cpuid_mask_parse ("-cx16,-avx512f", &mask, &error));
  g_assert_no_error (error);
  entries_init (&plain, TRUE);
  entries_init (&masked, TRUE);
  hv_cpuid_prepare (plain.e, plain.n, 3, 4, NULL);
  hv_cpuid_prepare (masked.e, masked.n, 3, 4, &mask);

  /* The input had both bits; exactly those two differ afterwards. */
  g_assert_true (entry (&plain, 1, 0)->ecx & (1u << 13));
  g_assert_true (entry (&plain, 7, 0)->ebx & (1u << 16));
  g_assert_cmphex (entry (&masked, 1, 0)->ecx, ==, entry (&plain, 1, 0)->ecx & ~(1u << 13));
  g_assert_cmphex (entry (&masked, 7, 0)->ebx, ==, entry (&plain, 7, 0)->ebx & ~(1u << 16));
  g_assert_cmpuint (masked.n, ==, plain.n);
  for (unsigned i = 0; i < plain.n; i++)
    {
      const uint32_t *a = &plain.e[i].eax, *b = &masked.e[i].eax;
      g_assert_cmphex (plain.e[i].function, ==, masked.e[i].function);
      for (unsigned r = 0; r < 4; r++)
        n_diff += (unsigned) __builtin_popcount (a[r] ^ b[r]);
    }
  g_assert_cmpuint (n_diff, ==, 2);

  /* The user has the last word, over bits prepare() sets itself. */
  g_assert_true (hv_cpuid_mask_parse ("-hypervisor,-ht", &mask, &error));
  entries_init (&masked, TRUE);
  hv_cpuid_prepare (masked.e, masked.n, 0, 4, &mask);
  g_assert_false (entry (&masked, 1, 0)->ecx & (1u << 31));
  g_assert_false (entry (&masked, 1, 0)->edx & (1u << 28));

  /* Subleaf-specific bits touch only their subleaf: xsaves is 0xD.1 EAX bit 3, not 0xD.0's. */
  g_assert_true (hv_cpuid_mask_parse ("-xsaves", &mask, &error));
  entries_init (&masked, TRUE);
  entry (&masked, 0xd, 0)->eax |= 1u << 3;
  hv_cpuid_prepare (masked.e, masked.n, 0, 4, &mask);
  g_assert_cmphex (entry (&masked, 0xd, 1)->eax, ==, 0x7);
  g_assert_true (entry (&masked, 0xd, 0)->eax & (1u << 3));
}

/* The real thing: KVM's supported CPUID, prepared, keeps leaf 0 and KVM_SET_CPUID2 accepts it. */
static void
test_kvm (void)
{
  int kvm, vm, vcpu;
  g_autofree struct kvm_cpuid2 *cpuid = NULL;
  unsigned capacity = 256, n;
  struct kvm_cpuid_entry2 leaf0 = { 0 };
  HvCpuidMask mask;
  gboolean found = FALSE;

  if (!vireo_test_require_kvm ())
    return;
  kvm = open ("/dev/kvm", O_RDWR | O_CLOEXEC);
  g_assert_cmpint (kvm, >=, 0);
  for (;;)
    {
      cpuid = g_malloc0 (sizeof *cpuid + capacity * sizeof cpuid->entries[0]);
      cpuid->nent = capacity - HV_CPUID_TOPOLOGY_ENTRIES;
      if (ioctl (kvm, KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
        break;
      g_assert_cmpint (errno, ==, E2BIG);
      g_clear_pointer (&cpuid, g_free);
      capacity *= 2;
    }
  for (unsigned i = 0; i < cpuid->nent; i++)
    if (cpuid->entries[i].function == 0)
      {
        leaf0 = cpuid->entries[i];
        found = TRUE;
      }
  g_assert_true (found);

  g_assert_true (hv_cpuid_mask_parse ("-cx16", &mask, NULL));
  n = hv_cpuid_add_topology_leaves (cpuid->entries, cpuid->nent, capacity);
  hv_cpuid_prepare (cpuid->entries, n, 1, 2, &mask);
  cpuid->nent = n;
  for (unsigned i = 0; i < n; i++)
    {
      const struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
      if (e->function == 0)
        g_assert_cmpmem (e, sizeof *e, &leaf0, sizeof leaf0);
      if (e->function == 1)
        {
          g_assert_cmpuint (e->ebx >> 24, ==, 1);
          g_assert_false (e->ecx & (1u << 13));
          g_assert_true (e->ecx & (1u << 31));
        }
      if (e->function == 0xb && e->index == 1)
        g_assert_cmpuint (e->ebx, ==, 2);
    }

  vm = ioctl (kvm, KVM_CREATE_VM, 0);
  g_assert_cmpint (vm, >=, 0);
  vcpu = ioctl (vm, KVM_CREATE_VCPU, 0);
  g_assert_cmpint (vcpu, >=, 0);
  g_assert_cmpint (ioctl (vcpu, KVM_SET_CPUID2, cpuid), ==, 0);
  close (vcpu);
  close (vm);
  close (kvm);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cpuid/lookup", test_lookup);
  g_test_add_func ("/cpuid/lookup-distinct", test_lookup_distinct);
  g_test_add_func ("/cpuid/mask-parse", test_mask_parse);
  g_test_add_func ("/cpuid/mask-errors", test_mask_errors);
  g_test_add_func ("/cpuid/add-topology", test_add_topology);
  g_test_add_func ("/cpuid/prepare-topology", test_prepare_topology);
  g_test_add_func ("/cpuid/prepare-without-subleaf1", test_prepare_without_subleaf1);
  g_test_add_func ("/cpuid/prepare-mask", test_prepare_mask);
  g_test_add_func ("/cpuid/kvm", test_kvm);
  return g_test_run ();
}
