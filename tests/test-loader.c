/* test-loader.c — the kernel loaders (PVH ELF, bzImage), the e820 map and the refusals, on images the test
 * builds in memory; plus, when one is on this machine, a real Debian kernel.  The bzImage loader's own
 * tests are in test-loader-bzimage.c. */
#include "loader-fixture.h"

/* ---- e820 ---- */

static void
assert_entry (const HvE820Map *map, unsigned i, uint64_t addr, uint64_t end, uint32_t type)
{
  g_assert_cmpuint (i, <, map->n_entries);
  g_assert_cmphex (map->entries[i].addr, ==, addr);
  g_assert_cmphex (map->entries[i].addr + map->entries[i].size, ==, end);
  g_assert_cmpuint (map->entries[i].type, ==, type);
}

static void
assert_low_map (const HvE820Map *map, uint64_t low_end)
{
  assert_entry (map, 0, 0, HV_EBDA_START, HV_E820_RAM);
  assert_entry (map, 1, HV_EBDA_START, 0xA0000, HV_E820_RESERVED);
  assert_entry (map, 2, HV_ACPI_START, HV_ACPI_END, HV_E820_RESERVED);
  assert_entry (map, 3, HV_HIMEM_START, low_end, HV_E820_RAM);
}

static void
test_e820_128m (void)
{
  Guest guest;
  guest_init (&guest, 128 * MIB);
  g_assert_cmpuint (guest.map.n_entries, ==, 4);
  assert_low_map (&guest.map, 128 * MIB);
  guest_clear (&guest);
}

static void
test_e820_3g (void)
{
  Guest guest;
  guest_init (&guest, 3 * GIB);
  g_assert_cmpuint (guest.map.n_entries, ==, 4);
  assert_low_map (&guest.map, HV_LOW_RAM_MAX);
  guest_clear (&guest);
}

static void
test_e820_5g (void)
{
  Guest guest;
  guest_init (&guest, 5 * GIB);
  g_assert_cmpuint (guest.map.n_entries, ==, 5);
  assert_low_map (&guest.map, HV_LOW_RAM_MAX);
  /* What does not fit below the hole continues at 4 GiB: 5 GiB - 3 GiB = 2 GiB of it. */
  assert_entry (&guest.map, 4, HV_HIGH_RAM_START, HV_HIGH_RAM_START + 2 * GIB, HV_E820_RAM);
  guest_clear (&guest);
}

/* ---- synthetic PVH ELF images ---- */

typedef struct
{
  uint32_t type;
  uint64_t paddr;
  gsize filesz;
  uint64_t memsz;
} SegmentSpec;

typedef enum
{
  NOTE_IN_SEGMENT,
  NOTE_IN_SECTION, /* only a SHT_NOTE section carries it */
  NOTE_ABSENT,
  NOTE_BAD_SIZE, /* a 2-byte entry */
} NotePlacement;

typedef struct
{
  gboolean is_64;
  uint16_t machine;
  uint16_t type;
  uint64_t entry;
  unsigned entry_size; /* 4 or 8 */
  NotePlacement note;
  unsigned n_segments;
  SegmentSpec segments[3];
} ElfSpec;

static void
append (GByteArray *out, const void *data, gsize len)
{
  g_byte_array_append (out, data, len);
}

static void
append_zeros_to (GByteArray *out, gsize offset)
{
  static const uint8_t zeros[64];
  while (out->len < offset)
    append (out, zeros, MIN (sizeof zeros, offset - out->len));
}

/* A build-id note and then the Xen note, as Linux's vmlinux has them. */
static GByteArray *
build_notes (const ElfSpec *spec)
{
  GByteArray *notes = g_byte_array_new ();
  uint32_t gnu[3] = { 4, 20, NT_GNU_BUILD_ID };
  uint8_t build_id[20];
  uint32_t xen[3] = { 4, spec->note == NOTE_BAD_SIZE ? 2 : spec->entry_size, 18 };
  uint8_t desc[8] = { 0 };

  fill_pattern (build_id, sizeof build_id, 99);
  append (notes, gnu, sizeof gnu);
  append (notes, "GNU", 4);
  append (notes, build_id, sizeof build_id);
  append (notes, xen, sizeof xen);
  append (notes, "Xen", 4);
  for (unsigned i = 0; i < 8; i++)
    desc[i] = (uint8_t) (spec->entry >> (8 * i));
  append (notes, desc, spec->note == NOTE_BAD_SIZE ? 4 : spec->entry_size);
  return notes;
}

/* Layout: ELF header, program headers (the PT_NOTE last), notes, segment bytes, section headers. */
static GBytes *
build_elf (const ElfSpec *spec)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_autoptr (GByteArray) notes = build_notes (spec);
  gboolean note_segment = spec->note != NOTE_IN_SECTION;
  gboolean note_section = spec->note == NOTE_IN_SECTION;
  unsigned n_phdrs = spec->n_segments + (note_segment ? 1 : 0);
  gsize ehdr_size = spec->is_64 ? sizeof (Elf64_Ehdr) : sizeof (Elf32_Ehdr);
  gsize phdr_size = spec->is_64 ? sizeof (Elf64_Phdr) : sizeof (Elf32_Phdr);
  gsize shdr_size = spec->is_64 ? sizeof (Elf64_Shdr) : sizeof (Elf32_Shdr);
  gsize notes_offset = ehdr_size + n_phdrs * phdr_size;
  gsize data_offset = (notes_offset + notes->len + 15) & ~15;
  gsize offsets[3];
  gsize shoff;

  gsize pos = data_offset;
  for (unsigned i = 0; i < spec->n_segments; i++)
    {
      offsets[i] = pos;
      pos += (spec->segments[i].filesz + 15) & ~15;
    }
  shoff = pos;

  if (spec->is_64)
    {
      Elf64_Ehdr ehdr = {
        .e_ident = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB, EV_CURRENT },
        .e_type = spec->type,
        .e_machine = spec->machine,
        .e_version = EV_CURRENT,
        .e_entry = 0xffffffff81000000ull, /* virtual: PVH ignores it */
        .e_phoff = ehdr_size,
        .e_shoff = note_section ? shoff : 0,
        .e_ehsize = ehdr_size,
        .e_phentsize = phdr_size,
        .e_phnum = n_phdrs,
        .e_shentsize = shdr_size,
        .e_shnum = note_section ? 2 : 0,
      };
      append (out, &ehdr, sizeof ehdr);
      for (unsigned i = 0; i < spec->n_segments; i++)
        {
          Elf64_Phdr phdr = {
            .p_type = spec->segments[i].type,
            .p_offset = offsets[i],
            .p_vaddr = 0xffffffff80000000ull + spec->segments[i].paddr,
            .p_paddr = spec->segments[i].paddr,
            .p_filesz = spec->segments[i].filesz,
            .p_memsz = spec->segments[i].memsz,
            .p_align = 0x200000,
          };
          append (out, &phdr, sizeof phdr);
        }
      if (note_segment)
        {
          Elf64_Phdr phdr = {
            .p_type = PT_NOTE,
            .p_offset = notes_offset,
            .p_filesz = notes->len,
            .p_align = 4,
          };
          append (out, &phdr, sizeof phdr);
        }
    }
  else
    {
      Elf32_Ehdr ehdr = {
        .e_ident = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS32, ELFDATA2LSB, EV_CURRENT },
        .e_type = spec->type,
        .e_machine = spec->machine,
        .e_version = EV_CURRENT,
        .e_entry = (uint32_t) spec->entry,
        .e_phoff = ehdr_size,
        .e_shoff = note_section ? shoff : 0,
        .e_ehsize = ehdr_size,
        .e_phentsize = phdr_size,
        .e_phnum = n_phdrs,
        .e_shentsize = shdr_size,
        .e_shnum = note_section ? 2 : 0,
      };
      append (out, &ehdr, sizeof ehdr);
      for (unsigned i = 0; i < spec->n_segments; i++)
        {
          Elf32_Phdr phdr = {
            .p_type = spec->segments[i].type,
            .p_offset = offsets[i],
            .p_vaddr = spec->segments[i].paddr,
            .p_paddr = spec->segments[i].paddr,
            .p_filesz = spec->segments[i].filesz,
            .p_memsz = spec->segments[i].memsz,
            .p_align = 0x1000,
          };
          append (out, &phdr, sizeof phdr);
        }
      if (note_segment)
        {
          Elf32_Phdr phdr = {
            .p_type = PT_NOTE,
            .p_offset = notes_offset,
            .p_filesz = notes->len,
            .p_align = 4,
          };
          append (out, &phdr, sizeof phdr);
        }
    }

  g_assert_cmpuint (out->len, ==, notes_offset);
  if (spec->note != NOTE_ABSENT)
    append (out, notes->data, notes->len);
  for (unsigned i = 0; i < spec->n_segments; i++)
    {
      g_autofree uint8_t *bytes = g_malloc (spec->segments[i].filesz + 1);
      fill_pattern (bytes, spec->segments[i].filesz, i + 1);
      append_zeros_to (out, offsets[i]);
      append (out, bytes, spec->segments[i].filesz);
    }

  if (note_section)
    {
      append_zeros_to (out, shoff);
      if (spec->is_64)
        {
          Elf64_Shdr null_section = { 0 };
          Elf64_Shdr note = {
            .sh_type = SHT_NOTE,
            .sh_offset = notes_offset,
            .sh_size = notes->len,
            .sh_addralign = 4,
          };
          append (out, &null_section, sizeof null_section);
          append (out, &note, sizeof note);
        }
      else
        {
          Elf32_Shdr null_section = { 0 };
          Elf32_Shdr note = {
            .sh_type = SHT_NOTE,
            .sh_offset = notes_offset,
            .sh_size = notes->len,
            .sh_addralign = 4,
          };
          append (out, &null_section, sizeof null_section);
          append (out, &note, sizeof note);
        }
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

/* A typical kernel: text at 16 MiB, data + bss after it. */
static ElfSpec
pvh_spec (gboolean is_64)
{
  ElfSpec spec = {
    .is_64 = is_64,
    .machine = is_64 ? EM_X86_64 : EM_386,
    .type = ET_EXEC,
    .entry = 16 * MIB + 0x40,
    .entry_size = is_64 ? 8 : 4,
    .note = NOTE_IN_SEGMENT,
    .n_segments = 2,
    .segments = {
      { PT_LOAD, 16 * MIB, 0x3000, 0x3000 },
      { PT_LOAD, 16 * MIB + 0x200000, 0x1800, 0x5000 }, /* 0x3800 bytes of bss */
    },
  };
  return spec;
}

static void
assert_pvh_boot_data (Guest *guest, const HvBootSetup *setup, const char *cmdline)
{
  const uint8_t *info = guest_ptr (guest, HV_PVH_START_INFO, 56);
  const uint8_t *memmap;

  g_assert_cmpuint (setup->protocol, ==, HV_BOOT_PVH);
  g_assert_cmphex (setup->boot_data, ==, HV_PVH_START_INFO);
  g_assert_cmphex (le32_at (info + 0), ==, 0x336ec578);
  g_assert_cmpuint (le32_at (info + 4), ==, 1);
  g_assert_cmpuint (le32_at (info + 8), ==, 0);
  g_assert_cmpuint (le32_at (info + 12), ==, setup->initrd_size ? 1 : 0);
  g_assert_cmphex (le64_at (info + 16), ==, HV_PVH_MODLIST);
  g_assert_cmphex (le64_at (info + 24), ==, HV_CMDLINE);
  g_assert_cmphex (le64_at (info + 32), ==, HV_ACPI_START);
  g_assert_cmphex (le64_at (info + 40), ==, HV_PVH_MEMMAP);
  g_assert_cmpuint (le32_at (info + 48), ==, guest->map.n_entries);
  g_assert_cmpuint (le32_at (info + 52), ==, 0);

  memmap = guest_ptr (guest, HV_PVH_MEMMAP, guest->map.n_entries * 24);
  for (unsigned i = 0; i < guest->map.n_entries; i++)
    {
      g_assert_cmphex (le64_at (memmap + 24 * i), ==, guest->map.entries[i].addr);
      g_assert_cmphex (le64_at (memmap + 24 * i + 8), ==, guest->map.entries[i].size);
      g_assert_cmpuint (le32_at (memmap + 24 * i + 16), ==, guest->map.entries[i].type);
      g_assert_cmpuint (le32_at (memmap + 24 * i + 20), ==, 0);
    }

  if (setup->initrd_size)
    {
      const uint8_t *module = guest_ptr (guest, HV_PVH_MODLIST, 32);
      g_assert_cmphex (le64_at (module), ==, setup->initrd_start);
      g_assert_cmpuint (le64_at (module + 8), ==, setup->initrd_size);
      g_assert_cmphex (le64_at (module + 16), ==, 0);
    }

  g_assert_cmpstr ((const char *) guest_ptr (guest, HV_CMDLINE, strlen (cmdline) + 1), ==, cmdline);
}

static void
test_pvh_elf64 (void)
{
  ElfSpec spec = pvh_spec (TRUE);
  g_autoptr (GBytes) kernel = build_elf (&spec);
  g_autoptr (GError) error = NULL;
  gsize initrd_size = 3 * MIB + 123;
  g_autofree uint8_t *initrd = g_malloc (initrd_size);
  const char *cmdline = "console=ttyS0 earlyprintk=serial";
  uint64_t bss = 16 * MIB + 0x200000 + 0x1800;
  uint64_t initrd_at = (128 * MIB - initrd_size) & ~0xfffull;
  HvBootSetup setup;
  Guest guest;

  fill_pattern (initrd, initrd_size, 42);
  guest_init (&guest, 128 * MIB);
  /* Memory from an earlier boot: the loader must clear the bss, not trust fresh pages. */
  memset (guest_ptr (&guest, bss, 0x3800), 0xAA, 0x3800);

  g_assert_true (load (&guest, kernel, initrd, initrd_size, cmdline, &setup, &error));
  g_assert_no_error (error);

  g_assert_cmphex (setup.entry, ==, 16 * MIB + 0x40);
  g_assert_cmphex (setup.kernel_start, ==, 16 * MIB);
  g_assert_cmphex (setup.kernel_end, ==, 16 * MIB + 0x205000);
  g_assert_true (has_pattern (guest_ptr (&guest, 16 * MIB, 0x3000), 0x3000, 1));
  g_assert_true (has_pattern (guest_ptr (&guest, 16 * MIB + 0x200000, 0x1800), 0x1800, 2));
  for (gsize i = 0; i < 0x3800; i++)
    g_assert_cmpuint (guest_ptr (&guest, bss, 0x3800)[i], ==, 0);

  /* The initrd sits at the top of RAM, page aligned. */
  g_assert_cmphex (setup.initrd_start, ==, initrd_at);
  g_assert_cmpuint (setup.initrd_size, ==, initrd_size);
  g_assert_true (has_pattern (guest_ptr (&guest, initrd_at, initrd_size), initrd_size, 42));

  assert_pvh_boot_data (&guest, &setup, cmdline);
  guest_clear (&guest);
}

static void
test_pvh_elf32_section_note (void)
{
  ElfSpec spec = pvh_spec (FALSE);
  g_autoptr (GBytes) kernel = NULL;
  g_autoptr (GError) error = NULL;
  HvBootSetup setup;
  Guest guest;
  g_autofree char *what = NULL;

  spec.note = NOTE_IN_SECTION;
  spec.segments[0].paddr = HV_HIMEM_START; /* the lowest place a PVH kernel may use */
  spec.entry = HV_HIMEM_START + 0x10;
  kernel = build_elf (&spec);

  guest_init (&guest, 64 * MIB);
  g_assert_true (load (&guest, kernel, NULL, 0, NULL, &setup, &error));
  g_assert_no_error (error);
  g_assert_cmphex (setup.entry, ==, HV_HIMEM_START + 0x10);
  g_assert_cmphex (setup.kernel_start, ==, HV_HIMEM_START);
  g_assert_cmpuint (setup.initrd_start, ==, 0);
  g_assert_cmpuint (setup.initrd_size, ==, 0);
  g_assert_true (has_pattern (guest_ptr (&guest, HV_HIMEM_START, 0x3000), 0x3000, 1));
  /* No command line is an empty one. */
  assert_pvh_boot_data (&guest, &setup, "");
  guest_clear (&guest);

  what = hv_boot_describe_file (g_bytes_get_data (kernel, NULL), g_bytes_get_size (kernel));
  g_assert_cmpstr (what, ==, "a PVH ELF kernel (ELF32, entry point 0x100010)");
}

static void
test_pvh_initrd_5g (void)
{
  ElfSpec spec = pvh_spec (TRUE);
  g_autoptr (GBytes) kernel = build_elf (&spec);
  g_autoptr (GError) error = NULL;
  gsize initrd_size = 2 * MIB + 1;
  g_autofree uint8_t *initrd = g_malloc (initrd_size);
  HvBootSetup setup;
  Guest guest;

  fill_pattern (initrd, initrd_size, 5);
  guest_init (&guest, 5 * GIB);
  g_assert_true (load (&guest, kernel, initrd, initrd_size, "quiet", &setup, &error));
  g_assert_no_error (error);
  /* Below the hole, not in high RAM: the 32-bit PVH entry sees it with paging off. */
  g_assert_cmphex (setup.initrd_start, ==, (HV_LOW_RAM_MAX - initrd_size) & ~0xfffull);
  g_assert_true (has_pattern (guest_ptr (&guest, setup.initrd_start, initrd_size), initrd_size, 5));
  assert_pvh_boot_data (&guest, &setup, "quiet");
  g_assert_cmpuint (le32_at (guest_ptr (&guest, HV_PVH_START_INFO + 48, 4)), ==, 5);
  guest_clear (&guest);
}

static void
test_pvh_max_cmdline (void)
{
  ElfSpec spec = pvh_spec (TRUE);
  g_autoptr (GBytes) kernel = build_elf (&spec);
  g_autoptr (GError) error = NULL;
  g_autofree char *longest = g_strnfill (HV_CMDLINE_MAX - 1, 'x');
  g_autofree char *too_long = g_strnfill (HV_CMDLINE_MAX, 'x');
  HvBootSetup setup;
  Guest guest;

  guest_init (&guest, 64 * MIB);
  g_assert_true (load (&guest, kernel, NULL, 0, longest, &setup, &error));
  g_assert_no_error (error);
  g_assert_cmpstr ((const char *) guest_ptr (&guest, HV_CMDLINE, HV_CMDLINE_MAX), ==, longest);
  guest_clear (&guest);

  g_autoptr (GError) refused = load_error (kernel, 64 * MIB, 0, too_long);
  g_assert_error (refused, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (refused->message, ==,
                   "the kernel command line is 4096 bytes long; Vireo passes at most 4095");
}

static void
assert_elf_refused (const ElfSpec *spec, uint64_t mem_size, gsize initrd_size, HvError code, gboolean exact,
                    const char *message)
{
  g_autoptr (GBytes) kernel = build_elf (spec);
  assert_refusal (kernel, mem_size, initrd_size, NULL, code, exact, message);
}

static void
test_pvh_refusals (void)
{
  ElfSpec spec;

  /* No PVH note at all. */
  spec = pvh_spec (TRUE);
  spec.note = NOTE_ABSENT;
  assert_elf_refused (
      &spec, 64 * MIB, 0, HV_ERROR_BAD_IMAGE, TRUE,
      "the kernel is an ELF file without a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)" BAD_IMAGE_TAIL);

  /* An arm64 kernel. */
  spec = pvh_spec (TRUE);
  spec.machine = EM_AARCH64;
  assert_elf_refused (&spec, 64 * MIB, 0, HV_ERROR_BAD_IMAGE, TRUE,
                      "the kernel is an ELF file for AArch64" BAD_IMAGE_TAIL);

  /* A segment beyond the end of a 64 MiB VM: it would need 129 MiB. */
  spec = pvh_spec (TRUE);
  spec.segments[1].paddr = 128 * MIB;
  assert_elf_refused (
      &spec, 64 * MIB, 0, HV_ERROR_TOO_LARGE, TRUE,
      "the kernel needs at least 129 MiB of guest memory (it loads at 16 MiB and occupies 112.0 MiB); "
      "the VM has 64 MiB");

  /* A segment in the PCI hole, where no amount of memory helps. */
  spec = pvh_spec (TRUE);
  spec.segments[1].paddr = HV_MMIO32_START + 0x1000;
  assert_elf_refused (&spec, 64 * MIB, 0, HV_ERROR_BAD_IMAGE, FALSE, "into the PCI hole");

  /* A segment that starts below 1 MiB, over the boot data, even though it ends above it. */
  spec = pvh_spec (TRUE);
  spec.segments[0].paddr = 0xF0000;
  spec.segments[0].memsz = 0x20000;
  spec.entry = 0xF0040;
  assert_elf_refused (
      &spec, 64 * MIB, 0, HV_ERROR_BAD_IMAGE, TRUE,
      "the kernel's segment 0 loads at 0xf0000, below 1 MiB, where Vireo keeps the boot data; PVH "
      "kernels must load at 1 MiB or above");

  /* An entry point outside everything loaded. */
  spec = pvh_spec (FALSE);
  spec.entry = 0x9000;
  assert_elf_refused (&spec, 64 * MIB, 0, HV_ERROR_BAD_IMAGE, FALSE, "entry point (0x9000) is outside");

  /* A note whose entry is neither 4 nor 8 bytes. */
  spec = pvh_spec (TRUE);
  spec.note = NOTE_BAD_SIZE;
  assert_elf_refused (&spec, 64 * MIB, 0, HV_ERROR_BAD_IMAGE, FALSE, "malformed note");

  /* More file bytes than memory bytes. */
  spec = pvh_spec (TRUE);
  spec.segments[0].memsz = 0x1000;
  assert_elf_refused (&spec, 64 * MIB, 0, HV_ERROR_BAD_IMAGE, FALSE,
                      "segment 0 has more bytes in the file than in memory");

  /* An object file. */
  spec = pvh_spec (TRUE);
  spec.type = ET_REL;
  assert_elf_refused (&spec, 64 * MIB, 0, HV_ERROR_BAD_IMAGE, TRUE,
                      "the kernel is an ELF object file (.o), not a linked kernel" BAD_IMAGE_TAIL);

  /* The initrd does not fit above the kernel in 32 MiB: the kernel ends at 18 MiB + 20 KiB. */
  spec = pvh_spec (TRUE);
  assert_elf_refused (
      &spec, 32 * MIB, 20 * MIB, HV_ERROR_TOO_LARGE, TRUE,
      "the initrd (20 MiB) does not fit in guest memory above the kernel, which ends at 0x1205000: "
      "they need at least 39 MiB of guest memory; the VM has 32 MiB");
}

/* Every proper prefix of a valid kernel is refused as a bad image, without reading past its end. */
static void
test_pvh_truncated (void)
{
  ElfSpec spec = pvh_spec (TRUE);
  g_autoptr (GBytes) kernel = build_elf (&spec);
  const uint8_t *bytes = g_bytes_get_data (kernel, NULL);
  gsize size = g_bytes_get_size (kernel);
  HvBootSetup setup;
  Guest guest;

  guest_init (&guest, 64 * MIB);
  for (gsize len = 1; len < size; len++)
    {
      /* A copy of exactly @len bytes, so a sanitizer or valgrind sees any overread. */
      g_autofree uint8_t *copy = g_memdup2 (bytes, len);
      g_autoptr (GBytes) prefix = g_bytes_new_static (copy, len);
      g_autoptr (GError) error = NULL;

      g_assert_false (load (&guest, prefix, NULL, 0, NULL, &setup, &error));
      g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
      if (len >= 64)
        g_assert_true (g_str_has_prefix (error->message, "the kernel is a truncated ELF file"));
    }
  guest_clear (&guest);
}

/* Random corruption of headers must end in success or an error, never in a crash or a write outside RAM. */
static void
test_corrupted_headers (void)
{
  ElfSpec elf_spec = pvh_spec (TRUE);
  BzSpec bz = bz_spec ();
  g_autoptr (GBytes) elf = build_elf (&elf_spec);
  g_autoptr (GBytes) bzimage = build_bzimage (&bz);
  GBytes *images[] = { elf, bzimage };
  gsize header_span[] = { 0x200, 0x270 };
  g_autoptr (GRand) rand = g_rand_new_with_seed (20240601);
  unsigned loaded = 0, refused = 0;
  Guest guest;

  guest_init (&guest, 64 * MIB);
  for (unsigned round = 0; round < 4000; round++)
    {
      GBytes *original = images[round % 2];
      gsize size = g_bytes_get_size (original);
      g_autofree uint8_t *copy = g_memdup2 (g_bytes_get_data (original, NULL), size);
      g_autoptr (GBytes) mutated = NULL;
      g_autoptr (GError) error = NULL;
      HvBootSetup setup;
      unsigned flips = g_rand_int_range (rand, 1, 5);

      for (unsigned i = 0; i < flips; i++)
        {
          gsize at = g_rand_int_range (rand, 0, (gint32) header_span[round % 2]);
          copy[at] = (uint8_t) g_rand_int (rand);
        }
      mutated = g_bytes_new_static (copy, size);
      if (load (&guest, mutated, (const uint8_t *) "initrd", 6, "console=ttyS0", &setup, &error))
        {
          g_assert_no_error (error);
          g_assert_cmpuint (setup.kernel_start, >=, HV_HIMEM_START);
          g_assert_cmpuint (setup.kernel_end, <=, 64 * MIB);
          loaded++;
        }
      else
        {
          g_assert_nonnull (error);
          g_assert_true (error->domain == HV_ERROR);
          refused++;
        }
    }
  g_test_message ("corrupted images: %u loaded, %u refused", loaded, refused);
  g_assert_cmpuint (refused, >, 0);
  guest_clear (&guest);
}

/* ---- files that are not kernels ---- */

static void
assert_refused_as (const void *data, gsize size, const char *phrase)
{
  g_autoptr (GBytes) kernel = g_bytes_new (data, size);
  g_autoptr (GError) error = load_error (kernel, 32 * MIB, 0, NULL);
  g_autofree char *described = hv_boot_describe_file (data, size);
  g_autofree char *expected = g_strconcat ("the kernel is ", phrase, BAD_IMAGE_TAIL, NULL);

  g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
  g_assert_true (g_str_has_prefix (error->message, expected));
  g_assert_cmpstr (described, ==, phrase);
}

static void
test_not_kernels (void)
{
  g_autofree uint8_t *garbage = g_malloc (4096);
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  uint8_t mbr[512] = { 0xfa, 0x31, 0xc0 };
  static const uint8_t be_ppc_elf[64] = { 0x7f, 'E', 'L', 'F', ELFCLASS64, ELFDATA2MSB, 1, 0, 0, 0,
                                          0,    0,   0,   0,   0,          0,           0, 2, 0, EM_PPC64 };

  for (gsize i = 0; i < 4096; i++)
    garbage[i] = (uint8_t) g_rand_int (rand);
  memcpy (garbage, "\x9c\x01\x00\xfe\x9c\x01\x00\xfe", 8);
  mbr[510] = 0x55;
  mbr[511] = 0xAA;

  assert_refused_as ("", 0, "an empty file");
  assert_refused_as ("\x1f\x8b\x08\x00\x00\x00\x00\x00", 8, "a gzip-compressed file");
  assert_refused_as ("\xfd"
                     "7zXZ\0\0\x04",
                     8, "an xz-compressed file");
  assert_refused_as ("\x28\xb5\x2f\xfd\x04\x58", 6, "a zstd-compressed file");
  assert_refused_as ("BZh91AY&SY", 10, "a bzip2-compressed file");
  assert_refused_as ("\x02\x21\x4c\x18\x00\x00", 6, "an lz4-compressed file");
  assert_refused_as ("07070100000001000041ed", 22, "a cpio archive (an initramfs? give it as the initrd)");
  assert_refused_as ("#!/bin/sh\nexec true\n", 20, "a shell script");
  /* What a file holds never appears in the message: not its interpreter, not its first bytes. */
  assert_refused_as ("#!/usr/bin/env python3\nprint()\n", 31, "a script");
  assert_refused_as ("MZ\x90\x00\x03\x00\x00\x00", 8,
                     "a PE executable (Windows or EFI) without a Linux boot header");
  assert_refused_as (mbr, sizeof mbr,
                     "a disk image or boot sector (it has an MBR signature but no Linux boot header)");
  assert_refused_as ("hello, world\n", 13, "a text file");
  assert_refused_as (garbage, 4096, "a file of unknown format");
  assert_refused_as (be_ppc_elf, sizeof be_ppc_elf, "a big-endian ELF file for 64-bit PowerPC");
  assert_refused_as ("\x7f"
                     "ELF\x02\x01\x01",
                     7, "a truncated ELF file (7 bytes)");
}

static void
test_gzip_hint (void)
{
  g_autoptr (GBytes) kernel = g_bytes_new_static ("\x1f\x8b\x08\x00", 4);
  g_autoptr (GError) error = load_error (kernel, 32 * MIB, 0, NULL);
  g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
  g_assert_cmpstr (error->message, ==,
                   "the kernel is a gzip-compressed file" BAD_IMAGE_TAIL
                   " (decompress a compressed vmlinux first)");
}

/* ---- a real kernel, when the machine has one ---- */

/* $VIREO_TEST_KERNEL, else /boot/vmlinuz-*, else the kernel inside a linux-image-*_amd64.deb in apt's cache. */
static char *
find_real_kernel (char **tmpdir)
{
  const char *chosen = g_getenv ("VIREO_TEST_KERNEL");
  g_autoptr (GDir) dir = NULL;
  const char *name;

  *tmpdir = NULL;
  if (chosen && *chosen)
    return g_strdup (chosen);
  dir = g_dir_open ("/boot", 0, NULL);
  while (dir && (name = g_dir_read_name (dir)))
    if (g_str_has_prefix (name, "vmlinuz-"))
      return g_build_filename ("/boot", name, NULL);

  /* A downloaded Debian package (apt's cache) holds one too: unpack it, without installing it. */
  g_autoptr (GDir) cache = g_dir_open ("/var/cache/apt/archives", 0, NULL);
  while (cache && (name = g_dir_read_name (cache)))
    {
      if (!g_str_has_prefix (name, "linux-image-") || !g_str_has_suffix (name, "_amd64.deb"))
        continue;
      g_autofree char *deb = g_build_filename ("/var/cache/apt/archives", name, NULL);
      g_autofree char *boot = NULL;
      g_autoptr (GDir) unpacked = NULL;
      const char *argv[] = { "dpkg-deb", "-x", deb, NULL, NULL };
      gint status = 0;

      *tmpdir = g_dir_make_tmp ("vireo-loader-XXXXXX", NULL);
      if (*tmpdir == NULL)
        return NULL;
      argv[3] = *tmpdir;
      if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                         NULL, NULL, NULL, &status, NULL)
          || !g_spawn_check_wait_status (status, NULL))
        continue;
      boot = g_build_filename (*tmpdir, "boot", NULL);
      unpacked = g_dir_open (boot, 0, NULL);
      while (unpacked && (name = g_dir_read_name (unpacked)))
        if (g_str_has_prefix (name, "vmlinuz-"))
          return g_build_filename (boot, name, NULL);
    }
  return NULL;
}

static void
remove_tree (const char *path)
{
  const char *argv[] = { "rm", "-rf", path, NULL };
  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
}

static void
test_real_kernel (void)
{
  g_autofree char *tmpdir = NULL;
  g_autofree char *path = find_real_kernel (&tmpdir);
  g_autofree char *contents = NULL;
  g_autofree char *what = NULL;
  g_autoptr (GError) error = NULL;
  gsize size = 0;
  HvBootSetup setup;
  Guest guest;

  if (path == NULL)
    {
      g_test_skip ("no /boot/vmlinuz-* and no linux-image-*_amd64.deb in apt's cache on this machine");
      if (tmpdir)
        remove_tree (tmpdir);
      return;
    }
  g_test_message ("loading %s", path);
  if (!g_file_get_contents (path, &contents, &size, &error))
    {
      /* /boot/vmlinuz-* is root-only on some distributions. */
      g_autofree char *why = g_strdup_printf ("cannot read %s: %s", path, error->message);
      g_test_skip (why);
      if (tmpdir)
        remove_tree (tmpdir);
      return;
    }
  if (tmpdir)
    remove_tree (tmpdir);

  what = hv_boot_describe_file ((const uint8_t *) contents, size);
  g_test_message ("%s is %s", path, what);
  g_assert_true (g_str_has_prefix (what, "a Linux bzImage (boot protocol 2.")
                 || g_str_has_prefix (what, "a PVH ELF kernel ("));

  {
    g_autoptr (GBytes) kernel = g_bytes_new_static (contents, size);
    g_autofree uint8_t *initrd = g_malloc0 (MIB);
    const char *cmdline = "console=ttyS0 noxsave";

    guest_init (&guest, 512 * MIB);
    g_assert_true (load (&guest, kernel, initrd, MIB, cmdline, &setup, &error));
    g_assert_no_error (error);
    if (setup.protocol == HV_BOOT_LINUX64)
      assert_zero_page (&guest, kernel, &setup, cmdline, le16_at ((uint8_t *) contents + 0x206) >= 0x020e);
    else
      assert_pvh_boot_data (&guest, &setup, cmdline);
    g_assert_cmpuint (setup.kernel_start, >=, HV_HIMEM_START);
    g_assert_cmpuint (setup.initrd_start, >=, setup.kernel_end);
    g_assert_cmpuint (setup.initrd_start + MIB, <=, 512 * MIB);
    g_test_message ("kernel at 0x%" G_GINT64_MODIFIER "x..0x%" G_GINT64_MODIFIER
                    "x, entry 0x%" G_GINT64_MODIFIER "x, initrd at 0x%" G_GINT64_MODIFIER "x",
                    setup.kernel_start, setup.kernel_end, setup.entry, setup.initrd_start);
    guest_clear (&guest);

    /* A distribution kernel does not fit in the smallest VM, and the error says how much it needs. */
    if (setup.kernel_end > HV_MEMORY_MIN)
      {
        g_autoptr (GError) refused = load_error (kernel, HV_MEMORY_MIN, 0, NULL);
        g_autofree char *needed = g_strdup_printf ("the kernel needs at least %" G_GUINT64_FORMAT
                                                   " MiB of guest "
                                                   "memory",
                                                   (setup.kernel_end + MIB - 1) / MIB);
        g_assert_error (refused, HV_ERROR, HV_ERROR_TOO_LARGE);
        g_assert_true (g_str_has_prefix (refused->message, needed));
      }
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/loader/e820/128m", test_e820_128m);
  g_test_add_func ("/loader/e820/3g", test_e820_3g);
  g_test_add_func ("/loader/e820/5g", test_e820_5g);
  g_test_add_func ("/loader/pvh/elf64", test_pvh_elf64);
  g_test_add_func ("/loader/pvh/elf32-section-note", test_pvh_elf32_section_note);
  g_test_add_func ("/loader/pvh/initrd-5g", test_pvh_initrd_5g);
  g_test_add_func ("/loader/pvh/max-cmdline", test_pvh_max_cmdline);
  g_test_add_func ("/loader/pvh/refusals", test_pvh_refusals);
  g_test_add_func ("/loader/pvh/truncated", test_pvh_truncated);
  g_test_add_func ("/loader/corrupted-headers", test_corrupted_headers);
  g_test_add_func ("/loader/not-kernels", test_not_kernels);
  g_test_add_func ("/loader/gzip-hint", test_gzip_hint);
  g_test_add_func ("/loader/real-kernel", test_real_kernel);

  loader_add_bzimage_tests ();
  return g_test_run ();
}
