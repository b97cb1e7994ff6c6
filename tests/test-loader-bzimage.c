/* test-loader-bzimage.c — the bzImage loader on synthetic images: relocatable and fixed kernels, the initrd's
 * highest address, and the refusals. */
#include "loader-fixture.h"

/* ---- synthetic bzImages ---- */

BzSpec
bz_spec (void)
{
  BzSpec spec = {
    .version = 0x020f,
    .setup_sects = 0,     /* means 4 */
    .loadflags = 0x01,    /* LOADED_HIGH */
    .xloadflags = 0x0003, /* XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G */
    .relocatable = TRUE,
    .alignment = 0x200000,
    .pref_address = 16 * MIB,
    .init_size = 8 * MIB,
    .initrd_addr_max = 0x7fffffff,
    .cmdline_size = 2047,
    .pm_size = 0x4000,
  };
  return spec;
}

static void
put16 (uint8_t *p, uint16_t v)
{
  p[0] = v & 0xff;
  p[1] = v >> 8;
}

static void
put32 (uint8_t *p, uint32_t v)
{
  put16 (p, v & 0xffff);
  put16 (p + 2, v >> 16);
}

static void
put64 (uint8_t *p, uint64_t v)
{
  put32 (p, (uint32_t) v);
  put32 (p + 4, (uint32_t) (v >> 32));
}

GBytes *
build_bzimage (const BzSpec *spec)
{
  gsize setup_size = ((spec->setup_sects ? spec->setup_sects : 4) + 1) * 512;
  gsize size = setup_size + spec->pm_size;
  uint8_t *image = g_malloc0 (size);

  fill_pattern (image, setup_size, 3);
  fill_pattern (image + setup_size, spec->pm_size, 4);
  /* Fields a loader must not copy: the sentinel before the header and the setup code after it. */
  image[0x1ef] = 0x5a;
  image[0x1f1] = spec->setup_sects;
  put16 (image + 0x1f2, 1);                  /* root_flags */
  put32 (image + 0x1f4, spec->pm_size / 16); /* syssize */
  put16 (image + 0x1fc, 0x0801);             /* root_dev */
  put16 (image + 0x1fe, 0xAA55);
  image[0x200] = 0xeb;
  image[0x201] = 0x6a; /* header ends at 0x26c */
  memcpy (image + 0x202, "HdrS", 4);
  put16 (image + 0x206, spec->version);
  image[0x210] = 0;
  image[0x211] = spec->loadflags;
  put32 (image + 0x214, 0x100000); /* code32_start */
  put32 (image + 0x218, 0);
  put32 (image + 0x21c, 0);
  put32 (image + 0x22c, spec->initrd_addr_max);
  put32 (image + 0x230, spec->alignment);
  image[0x234] = spec->relocatable;
  image[0x235] = 21; /* min_alignment */
  put16 (image + 0x236, spec->xloadflags);
  put32 (image + 0x238, spec->cmdline_size);
  put32 (image + 0x248, 0x3b0); /* payload_offset */
  put64 (image + 0x258, spec->pref_address);
  put32 (image + 0x260, spec->init_size);
  put32 (image + 0x264, 0x190);  /* handover_offset */
  put32 (image + 0x268, 0x1234); /* kernel_info_offset */
  return g_bytes_new_take (image, size);
}

void
assert_zero_page (Guest *guest, GBytes *kernel, const HvBootSetup *setup, const char *cmdline,
                  gboolean has_rsdp)
{
  const uint8_t *bp = guest_ptr (guest, HV_ZERO_PAGE, 4096);
  const uint8_t *file = g_bytes_get_data (kernel, NULL);

  g_assert_cmpuint (setup->protocol, ==, HV_BOOT_LINUX64);
  g_assert_cmphex (setup->boot_data, ==, HV_ZERO_PAGE);
  g_assert_cmphex (setup->entry, ==, setup->kernel_start + 0x200);

  g_assert_cmpuint (bp[0x1ef], ==, 0); /* the sentinel stays clear */
  g_assert_cmpmem (bp + 0x1f1, 0x210 - 0x1f1, file + 0x1f1, 0x210 - 0x1f1);
  g_assert_cmpmem (bp + 0x22c, 0x26c - 0x22c, file + 0x22c, 0x26c - 0x22c);
  g_assert_cmpmem (bp + 0x26c, 4, "\0\0\0\0", 4); /* past the header's end: not copied */
  g_assert_cmphex (bp[0x210], ==, 0xff);          /* type_of_loader */
  g_assert_cmphex (bp[0x211], ==, 0x81);          /* LOADED_HIGH | CAN_USE_HEAP */
  g_assert_cmphex (le32_at (bp + 0x214), ==, setup->kernel_start);
  g_assert_cmphex (le16_at (bp + 0x224), ==, 0xfe00);
  g_assert_cmphex (le32_at (bp + 0x228), ==, HV_CMDLINE);
  g_assert_cmphex (le32_at (bp + 0x0c8), ==, 0);
  g_assert_cmphex (le32_at (bp + 0x218), ==, setup->initrd_start);
  g_assert_cmphex (le32_at (bp + 0x21c), ==, setup->initrd_size);
  g_assert_cmphex (le32_at (bp + 0x0c0), ==, 0);
  g_assert_cmphex (le32_at (bp + 0x0c4), ==, 0);
  g_assert_cmphex (le64_at (bp + 0x070), ==, has_rsdp ? HV_ACPI_START : 0);

  g_assert_cmpuint (bp[0x1e8], ==, guest->map.n_entries);
  for (unsigned i = 0; i < guest->map.n_entries; i++)
    {
      const uint8_t *entry = bp + 0x2d0 + 20 * i;
      g_assert_cmphex (le64_at (entry), ==, guest->map.entries[i].addr);
      g_assert_cmphex (le64_at (entry + 8), ==, guest->map.entries[i].size);
      g_assert_cmpuint (le32_at (entry + 16), ==, guest->map.entries[i].type);
    }
  g_assert_cmpstr ((const char *) guest_ptr (guest, HV_CMDLINE, strlen (cmdline) + 1), ==, cmdline);
}

static void
test_bzimage_relocatable (void)
{
  BzSpec spec = bz_spec ();
  g_autoptr (GBytes) kernel = build_bzimage (&spec);
  g_autoptr (GError) error = NULL;
  gsize initrd_size = 5 * MIB + 17;
  g_autofree uint8_t *initrd = g_malloc (initrd_size);
  const char *cmdline = "console=ttyS0 root=/dev/vda";
  HvBootSetup setup;
  Guest guest;
  g_autofree char *what = NULL;

  fill_pattern (initrd, initrd_size, 8);
  guest_init (&guest, 128 * MIB);
  g_assert_true (load (&guest, kernel, initrd, initrd_size, cmdline, &setup, &error));
  g_assert_no_error (error);

  /* 1 MiB rounded up to the 2 MiB kernel_alignment; it decompresses at 16 MiB and needs 8 MiB there. */
  g_assert_cmphex (setup.kernel_start, ==, 2 * MIB);
  g_assert_cmphex (setup.entry, ==, 2 * MIB + 0x200);
  g_assert_cmphex (setup.kernel_end, ==, 24 * MIB);
  g_assert_true (has_pattern (guest_ptr (&guest, 2 * MIB, spec.pm_size), spec.pm_size, 4));

  g_assert_cmphex (setup.initrd_start, ==, (128 * MIB - initrd_size) & ~0xfffull);
  g_assert_true (has_pattern (guest_ptr (&guest, setup.initrd_start, initrd_size), initrd_size, 8));
  assert_zero_page (&guest, kernel, &setup, cmdline, TRUE);
  guest_clear (&guest);

  what = hv_boot_describe_file (g_bytes_get_data (kernel, NULL), g_bytes_get_size (kernel));
  g_assert_cmpstr (what, ==, "a Linux bzImage (boot protocol 2.15)");
}

static void
test_bzimage_fixed (void)
{
  BzSpec spec = bz_spec ();
  g_autoptr (GBytes) kernel = NULL;
  g_autoptr (GError) error = NULL;
  HvBootSetup setup;
  Guest guest;

  spec.version = 0x020c;
  spec.setup_sects = 2;
  spec.relocatable = FALSE;
  spec.pref_address = 4 * MIB;
  spec.init_size = 3 * MIB;
  kernel = build_bzimage (&spec);

  guest_init (&guest, 64 * MIB);
  g_assert_true (load (&guest, kernel, NULL, 0, NULL, &setup, &error));
  g_assert_no_error (error);
  g_assert_cmphex (setup.kernel_start, ==, 4 * MIB);
  g_assert_cmphex (setup.kernel_end, ==, 7 * MIB);
  g_assert_cmphex (setup.entry, ==, 4 * MIB + 0x200);
  /* setup_sects = 2: the protected-mode code starts at 3 * 512 in the file. */
  g_assert_true (has_pattern (guest_ptr (&guest, 4 * MIB, spec.pm_size), spec.pm_size, 4));
  g_assert_cmpuint (setup.initrd_start, ==, 0);
  /* Protocol 2.12 has no acpi_rsdp_addr: the field stays zero. */
  assert_zero_page (&guest, kernel, &setup, "", FALSE);
  guest_clear (&guest);
}

static void
test_bzimage_initrd_addr_max (void)
{
  BzSpec spec = bz_spec ();
  g_autoptr (GBytes) kernel = NULL;
  g_autoptr (GError) error = NULL;
  gsize initrd_size = 3 * MIB + 5;
  g_autofree uint8_t *initrd = g_malloc0 (initrd_size);
  HvBootSetup setup;
  Guest guest;

  spec.initrd_addr_max = 48 * MIB - 1; /* the last byte the initrd may occupy */
  kernel = build_bzimage (&spec);

  guest_init (&guest, 256 * MIB);
  g_assert_true (load (&guest, kernel, initrd, initrd_size, NULL, &setup, &error));
  g_assert_no_error (error);
  g_assert_cmphex (setup.initrd_start, ==, (48 * MIB - initrd_size) & ~0xfffull);
  g_assert_cmpuint (setup.initrd_start + initrd_size, <=, 48 * MIB);
  assert_zero_page (&guest, kernel, &setup, "", TRUE);
  guest_clear (&guest);

  /* 30 MiB does not fit between the kernel's end (24 MiB) and 48 MiB, however much memory there is. */
  {
    g_autoptr (GError) refused = load_error (kernel, 256 * MIB, 30 * MIB, NULL);
    g_assert_error (refused, HV_ERROR, HV_ERROR_TOO_LARGE);
    g_assert_cmpstr (refused->message, ==,
                     "the initrd (30 MiB) does not fit between the end of the kernel "
                     "(24 MiB) and 48 MiB, the highest address the kernel accepts for an initrd");
  }
}

static void
assert_bz_refused (const BzSpec *spec, uint64_t mem_size, gsize initrd_size, const char *cmdline,
                   HvError code, gboolean exact, const char *message)
{
  g_autoptr (GBytes) kernel = build_bzimage (spec);
  assert_refusal (kernel, mem_size, initrd_size, cmdline, code, exact, message);
}

static void
test_bzimage_refusals (void)
{
  BzSpec spec;

  spec = bz_spec ();
  spec.version = 0x0206;
  assert_bz_refused (
      &spec, 64 * MIB, 0, NULL, HV_ERROR_BAD_IMAGE, TRUE,
      "the kernel is a bzImage with boot protocol 2.06, which has no 64-bit entry point (Vireo needs "
      "2.12 or later)" BAD_IMAGE_TAIL);

  spec = bz_spec ();
  spec.xloadflags = 0;
  assert_bz_refused (
      &spec, 64 * MIB, 0, NULL, HV_ERROR_BAD_IMAGE, TRUE,
      "the kernel is a bzImage without a 64-bit entry point (XLF_KERNEL_64 is not set: a 32-bit "
      "kernel?)" BAD_IMAGE_TAIL);

  spec = bz_spec ();
  spec.loadflags = 0;
  assert_bz_refused (&spec, 64 * MIB, 0, NULL, HV_ERROR_BAD_IMAGE, FALSE, "a zImage");

  spec = bz_spec ();
  spec.alignment = 0x300000;
  assert_bz_refused (&spec, 64 * MIB, 0, NULL, HV_ERROR_BAD_IMAGE, FALSE,
                     "kernel_alignment 0x300000 is not a power of two");

  spec = bz_spec ();
  spec.relocatable = FALSE;
  spec.pref_address = 0x10000;
  assert_bz_refused (&spec, 64 * MIB, 0, NULL, HV_ERROR_BAD_IMAGE, FALSE,
                     "must load at 0x10000, below 1 MiB");

  /* A Debian-sized kernel in too little memory. */
  spec = bz_spec ();
  spec.init_size = 56 * MIB;
  assert_bz_refused (
      &spec, 32 * MIB, 0, NULL, HV_ERROR_TOO_LARGE, TRUE,
      "the kernel needs at least 72 MiB of guest memory (it loads at 16 MiB and occupies 56 MiB); "
      "the VM has 32 MiB");

  /* The command line against the kernel's own cmdline_size (which excludes the NUL). */
  spec = bz_spec ();
  spec.cmdline_size = 255;
  {
    g_autoptr (GBytes) kernel = build_bzimage (&spec);
    g_autofree char *fits = g_strnfill (255, 'a');
    g_autofree char *too_long = g_strnfill (256, 'a');
    g_autoptr (GError) error = NULL;
    HvBootSetup setup;
    Guest guest;

    guest_init (&guest, 64 * MIB);
    g_assert_true (load (&guest, kernel, NULL, 0, fits, &setup, &error));
    g_assert_no_error (error);
    guest_clear (&guest);
    assert_refusal (kernel, 64 * MIB, 0, too_long, HV_ERROR_INVALID_ARGUMENT, TRUE,
                    "the kernel command line is 256 bytes long; this kernel accepts at most 255");
  }

  /* The file ends before what syssize announces. */
  spec = bz_spec ();
  {
    g_autoptr (GBytes) kernel = build_bzimage (&spec);
    g_autoptr (GBytes) cut = g_bytes_new_from_bytes (kernel, 0, g_bytes_get_size (kernel) - 16);
    assert_refusal (cut, 64 * MIB, 0, NULL, HV_ERROR_BAD_IMAGE, FALSE,
                    "a truncated bzImage (its header announces 16 KiB of kernel");
  }

  /* The initrd too big for memory: the kernel's footprint ends at 24 MiB. */
  spec = bz_spec ();
  assert_bz_refused (
      &spec, 32 * MIB, 9 * MIB, NULL, HV_ERROR_TOO_LARGE, TRUE,
      "the initrd (9 MiB) does not fit in guest memory above the kernel, which ends at 24 MiB: they "
      "need at least 33 MiB of guest memory; the VM has 32 MiB");

  /* Every prefix of a bzImage is refused without crashing. */
  spec = bz_spec ();
  {
    g_autoptr (GBytes) kernel = build_bzimage (&spec);
    Guest guest;
    HvBootSetup setup;

    guest_init (&guest, 64 * MIB);
    for (gsize len = 1; len < g_bytes_get_size (kernel); len += 7)
      {
        g_autofree uint8_t *copy = g_memdup2 (g_bytes_get_data (kernel, NULL), len);
        g_autoptr (GBytes) prefix = g_bytes_new_static (copy, len);
        g_autoptr (GError) error = NULL;
        g_assert_false (load (&guest, prefix, NULL, 0, NULL, &setup, &error));
        g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
      }
    guest_clear (&guest);
  }
}

void
loader_add_bzimage_tests (void)
{
  g_test_add_func ("/loader/bzimage/relocatable", test_bzimage_relocatable);
  g_test_add_func ("/loader/bzimage/fixed", test_bzimage_fixed);
  g_test_add_func ("/loader/bzimage/initrd-addr-max", test_bzimage_initrd_addr_max);
  g_test_add_func ("/loader/bzimage/refusals", test_bzimage_refusals);
}
