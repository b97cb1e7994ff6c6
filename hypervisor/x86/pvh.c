/* pvh.c — the PVH boot protocol: ELF kernels carrying XEN_ELFNOTE_PHYS32_ENTRY, loaded by their physical
 * addresses and started with an hvm_start_info (version 1) that lists the initrd and the memory map. */
#include "loader-private.h"
#include "layout.h"

#include <elf.h>
#include <stddef.h>
#include <string.h>

/* The Xen note that gives the 32-bit, paging-off entry point (xen/include/public/elfnote.h). */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

/* xen/include/public/arch-x86/hvm/start_info.h, version 1. */
#define HVM_START_MAGIC 0x336ec578

struct hvm_start_info
{
  uint32_t magic;
  uint32_t version;
  uint32_t flags;
  uint32_t nr_modules;
  uint64_t modlist_paddr;
  uint64_t cmdline_paddr;
  uint64_t rsdp_paddr;
  uint64_t memmap_paddr; /* version 1 and later */
  uint32_t memmap_entries;
  uint32_t reserved;
};

struct hvm_modlist_entry
{
  uint64_t paddr;
  uint64_t size;
  uint64_t cmdline_paddr;
  uint64_t reserved;
};

struct hvm_memmap_table_entry
{
  uint64_t addr;
  uint64_t size;
  uint32_t type;
  uint32_t reserved;
};

G_STATIC_ASSERT (sizeof (struct hvm_start_info) == 56);
G_STATIC_ASSERT (sizeof (struct hvm_modlist_entry) == 32);
G_STATIC_ASSERT (sizeof (struct hvm_memmap_table_entry) == 24);
/* The structures go to guest RAM as they are laid out in host memory: x86 hosts only. */
G_STATIC_ASSERT (G_BYTE_ORDER == G_LITTLE_ENDIAN);
/* The three tables must not run into each other or into the zero page. */
G_STATIC_ASSERT (HV_PVH_START_INFO + sizeof (struct hvm_start_info) <= HV_PVH_MODLIST);
G_STATIC_ASSERT (HV_PVH_MODLIST + sizeof (struct hvm_modlist_entry) <= HV_PVH_MEMMAP);
G_STATIC_ASSERT (HV_PVH_MEMMAP + HV_PVH_MEMMAP_MAX * sizeof (struct hvm_memmap_table_entry) <= HV_ZERO_PAGE);
G_STATIC_ASSERT (HV_E820_MAX <= HV_PVH_MEMMAP_MAX);

/* One ELF header or program/section header field, read little-endian from wherever the file has it. */
static uint64_t
load_field (const uint8_t *p, gsize offset, gsize width)
{
  switch (width)
    {
    case 1:
      return p[offset];
    case 2:
      return hv_load_le16 (p + offset);
    case 4:
      return hv_load_le32 (p + offset);
    default:
      return hv_load_le64 (p + offset);
    }
}

#define ELF_FIELD(base, type, field) load_field ((base), offsetof (type, field), sizeof (((type *) 0)->field))
/* The same field in the file's class: ELF_CLASS_FIELD (elf, p, Phdr, p_offset). */
#define ELF_CLASS_FIELD(elf, base, kind, field)                                                              \
  ((elf)->is_64 ? ELF_FIELD ((base), Elf64_##kind, field) : ELF_FIELD ((base), Elf32_##kind, field))

typedef struct
{
  const uint8_t *data;
  gsize size;
  gboolean is_64;
  uint64_t phoff;
  uint64_t phentsize;
  uint64_t phnum;
  uint64_t shoff;
  uint64_t shentsize;
  uint64_t shnum;
} ElfFile;

typedef struct
{
  uint32_t type;
  uint64_t offset;
  uint64_t paddr;
  uint64_t filesz;
  uint64_t memsz;
  uint64_t align;
} ElfSegment;

typedef struct
{
  ElfFile file;
  uint64_t entry;
  uint64_t start; /* lowest p_paddr of the loaded segments */
  uint64_t end;   /* highest p_paddr + p_memsz */
} PvhKernel;

/* The caller has checked that program header @i lies inside the file. */
static void
read_segment (const ElfFile *elf, uint64_t i, ElfSegment *seg)
{
  const uint8_t *p = elf->data + elf->phoff + i * elf->phentsize;

  seg->type = ELF_CLASS_FIELD (elf, p, Phdr, p_type);
  seg->offset = ELF_CLASS_FIELD (elf, p, Phdr, p_offset);
  seg->paddr = ELF_CLASS_FIELD (elf, p, Phdr, p_paddr);
  seg->filesz = ELF_CLASS_FIELD (elf, p, Phdr, p_filesz);
  seg->memsz = ELF_CLASS_FIELD (elf, p, Phdr, p_memsz);
  seg->align = ELF_CLASS_FIELD (elf, p, Phdr, p_align);
}

static const char *
machine_name (unsigned machine)
{
  switch (machine)
    {
    case EM_386:
      return "32-bit x86";
    case EM_X86_64:
      return "x86-64";
    case EM_ARM:
      return "32-bit ARM";
    case EM_AARCH64:
      return "AArch64";
    case EM_RISCV:
      return "RISC-V";
    case EM_PPC:
      return "PowerPC";
    case EM_PPC64:
      return "64-bit PowerPC";
    case EM_S390:
      return "IBM Z (s390)";
    case EM_MIPS:
      return "MIPS";
    case EM_SPARC:
      return "SPARC";
    case EM_SPARCV9:
      return "SPARC V9";
    case EM_IA_64:
      return "IA-64";
    case EM_BPF:
      return "eBPF";
    case 258:
      return "LoongArch"; /* EM_LOONGARCH, newer than glibc 2.36's elf.h */
    default:
      return NULL;
    }
}

static char *
describe_machine (const char *prefix, unsigned machine)
{
  const char *name = machine_name (machine);
  if (name)
    return g_strdup_printf ("%s for %s", prefix, name);
  return g_strdup_printf ("%s for machine type %u", prefix, machine);
}

typedef enum
{
  NOTE_NONE,
  NOTE_FOUND,
  NOTE_MALFORMED,
} NoteResult;

/* Walks the notes in [@offset, @offset + @len) of the file (already bounds-checked) for the PVH entry. */
static NoteResult
find_pvh_note (const uint8_t *data, uint64_t offset, uint64_t len, uint64_t align, uint64_t *entry)
{
  /* Notes are 4-byte aligned, except in segments that declare 8 (GNU property notes in ELF64 do). */
  uint64_t a = align == 8 ? 8 : 4;
  uint64_t pos = 0;

  while (len - pos >= 12)
    {
      const uint8_t *note = data + offset + pos;
      uint64_t namesz = hv_load_le32 (note);
      uint64_t descsz = hv_load_le32 (note + 4);
      uint32_t type = hv_load_le32 (note + 8);
      uint64_t desc_off = (12 + namesz + a - 1) & ~(a - 1);
      uint64_t next;

      if (desc_off > len - pos || descsz > len - pos - desc_off)
        return NOTE_MALFORMED;
      next = (desc_off + descsz + a - 1) & ~(a - 1);

      if (namesz == 4 && memcmp (note + 12, "Xen", 4) == 0 && type == XEN_ELFNOTE_PHYS32_ENTRY)
        {
          /* Linux emits it as a pointer-sized value, so 8 bytes in a 64-bit kernel. */
          if (descsz == 4)
            *entry = hv_load_le32 (note + desc_off);
          else if (descsz == 8)
            *entry = hv_load_le64 (note + desc_off);
          else
            return NOTE_MALFORMED;
          return NOTE_FOUND;
        }
      if (next >= len - pos)
        break;
      pos += next;
    }
  return NOTE_NONE;
}

/* Checks @data as a PVH kernel.  Returns NULL and fills @kernel when it is one; otherwise a phrase saying
 * what the file is ("an ELF file for AArch64"). */
static char *
pvh_parse (const uint8_t *data, gsize size, PvhKernel *kernel)
{
  ElfFile *elf = &kernel->file;
  gsize ehdr_size, phdr_size, shdr_size;
  unsigned machine, type;
  NoteResult note = NOTE_NONE;
  gboolean saw_malformed_note = FALSE;
  gboolean have_load = FALSE;

  memset (kernel, 0, sizeof *kernel);
  elf->data = data;
  elf->size = size;

  if (size < EI_NIDENT)
    return g_strdup_printf ("a truncated ELF file (%" G_GSIZE_FORMAT " bytes)", size);
  if (data[EI_CLASS] != ELFCLASS32 && data[EI_CLASS] != ELFCLASS64)
    return g_strdup_printf ("an ELF file of unknown class %u", data[EI_CLASS]);
  elf->is_64 = data[EI_CLASS] == ELFCLASS64;
  ehdr_size = elf->is_64 ? sizeof (Elf64_Ehdr) : sizeof (Elf32_Ehdr);
  phdr_size = elf->is_64 ? sizeof (Elf64_Phdr) : sizeof (Elf32_Phdr);
  shdr_size = elf->is_64 ? sizeof (Elf64_Shdr) : sizeof (Elf32_Shdr);
  if (size < ehdr_size)
    return g_strdup_printf ("a truncated ELF file (%" G_GSIZE_FORMAT " bytes, shorter than its header)",
                            size);

  /* e_type and e_machine sit at the same offsets in both classes. */
  type = ELF_FIELD (data, Elf32_Ehdr, e_type);
  machine = ELF_FIELD (data, Elf32_Ehdr, e_machine);
  if (data[EI_DATA] != ELFDATA2LSB)
    {
      if (data[EI_DATA] == ELFDATA2MSB)
        return describe_machine ("a big-endian ELF file", GUINT16_SWAP_LE_BE (machine));
      return g_strdup_printf ("an ELF file of unknown byte order %u", data[EI_DATA]);
    }
  if (machine != EM_X86_64 && machine != EM_386)
    return describe_machine ("an ELF file", machine);
  if (type == ET_REL)
    return g_strdup ("an ELF object file (.o), not a linked kernel");
  if (type == ET_DYN)
    return g_strdup ("an ELF shared library or position-independent executable, not a kernel");
  if (type == ET_CORE)
    return g_strdup ("an ELF core dump");
  if (type != ET_EXEC)
    return g_strdup_printf ("an ELF file of unknown type %u", type);

  elf->phoff = ELF_CLASS_FIELD (elf, data, Ehdr, e_phoff);
  elf->phentsize = ELF_CLASS_FIELD (elf, data, Ehdr, e_phentsize);
  elf->phnum = ELF_CLASS_FIELD (elf, data, Ehdr, e_phnum);
  elf->shoff = ELF_CLASS_FIELD (elf, data, Ehdr, e_shoff);
  elf->shentsize = ELF_CLASS_FIELD (elf, data, Ehdr, e_shentsize);
  elf->shnum = ELF_CLASS_FIELD (elf, data, Ehdr, e_shnum);

  if (elf->phnum == 0)
    return g_strdup ("an ELF file without program headers");
  if (elf->phentsize < phdr_size)
    return g_strdup_printf ("a malformed ELF file (program header size %" G_GUINT64_FORMAT ")",
                            elf->phentsize);
  /* phnum and phentsize are 16-bit, so their product cannot overflow. */
  if (!hv_file_range_ok (size, elf->phoff, elf->phnum * elf->phentsize))
    return g_strdup ("a truncated ELF file (its program headers end past the end of the file)");

  for (uint64_t i = 0; i < elf->phnum; i++)
    {
      ElfSegment seg;
      read_segment (elf, i, &seg);
      if (seg.type == PT_LOAD)
        {
          if (!hv_file_range_ok (size, seg.offset, seg.filesz))
            return g_strdup_printf ("a truncated ELF file (segment %" G_GUINT64_FORMAT
                                    " ends past the end of "
                                    "the file)",
                                    i);
          if (seg.filesz > seg.memsz)
            return g_strdup_printf ("a malformed ELF file (segment %" G_GUINT64_FORMAT " has more bytes in "
                                    "the file than in memory)",
                                    i);
          if (seg.paddr > G_MAXUINT64 - seg.memsz)
            return g_strdup_printf ("a malformed ELF file (segment %" G_GUINT64_FORMAT " wraps around the "
                                    "address space)",
                                    i);
          if (seg.memsz == 0)
            continue;
          kernel->start = have_load ? MIN (kernel->start, seg.paddr) : seg.paddr;
          kernel->end = MAX (kernel->end, seg.paddr + seg.memsz);
          have_load = TRUE;
        }
      else if (seg.type == PT_NOTE && note != NOTE_FOUND)
        {
          if (!hv_file_range_ok (size, seg.offset, seg.filesz))
            return g_strdup ("a truncated ELF file (a note segment ends past the end of the file)");
          /* A note block we cannot walk (another tool's alignment) does not hide the next one. */
          note = find_pvh_note (data, seg.offset, seg.filesz, seg.align, &kernel->entry);
          saw_malformed_note |= note == NOTE_MALFORMED;
        }
    }

  /* Some linkers leave notes out of PT_NOTE; the section table still has them. */
  if (note != NOTE_FOUND && elf->shnum > 0 && elf->shoff != 0)
    {
      if (elf->shentsize < shdr_size || !hv_file_range_ok (size, elf->shoff, elf->shnum * elf->shentsize))
        return g_strdup ("a truncated ELF file (its section headers end past the end of the file)");
      for (uint64_t i = 0; i < elf->shnum && note != NOTE_FOUND; i++)
        {
          const uint8_t *p = data + elf->shoff + i * elf->shentsize;
          uint64_t sh_type = ELF_CLASS_FIELD (elf, p, Shdr, sh_type);
          uint64_t sh_offset = ELF_CLASS_FIELD (elf, p, Shdr, sh_offset);
          uint64_t sh_size = ELF_CLASS_FIELD (elf, p, Shdr, sh_size);
          uint64_t sh_align = ELF_CLASS_FIELD (elf, p, Shdr, sh_addralign);

          if (sh_type != SHT_NOTE)
            continue;
          if (!hv_file_range_ok (size, sh_offset, sh_size))
            return g_strdup ("a truncated ELF file (a note section ends past the end of the file)");
          note = find_pvh_note (data, sh_offset, sh_size, sh_align, &kernel->entry);
          saw_malformed_note |= note == NOTE_MALFORMED;
        }
    }

  if (note != NOTE_FOUND && saw_malformed_note)
    return g_strdup ("an ELF file with a malformed note (the PVH entry note, or one before it)");
  if (note != NOTE_FOUND)
    return g_strdup ("an ELF file without a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)");
  if (!have_load)
    return g_strdup ("an ELF file with a PVH entry note but nothing to load");

  /* The entry must be code we load; the vCPU starts there with paging off. */
  for (uint64_t i = 0; i < elf->phnum; i++)
    {
      ElfSegment seg;
      read_segment (elf, i, &seg);
      if (seg.type == PT_LOAD && kernel->entry >= seg.paddr && kernel->entry - seg.paddr < seg.memsz)
        return NULL;
    }
  return g_strdup_printf ("a PVH ELF file whose entry point (0x%" G_GINT64_MODIFIER "x) is outside the "
                          "segments it loads",
                          kernel->entry);
}

char *
hv_pvh_describe (const uint8_t *data, gsize size)
{
  PvhKernel kernel;
  char *why;

  if (size < 4
      || memcmp (data,
                 "\x7f"
                 "ELF",
                 4)
             != 0)
    return NULL;
  why = pvh_parse (data, size, &kernel);
  if (why)
    return why;
  return g_strdup_printf ("a PVH ELF kernel (%s, entry point 0x%" G_GINT64_MODIFIER "x)",
                          kernel.file.is_64 ? "ELF64" : "ELF32", kernel.entry);
}

static gboolean
load_segments (HvMemory *mem, const PvhKernel *kernel, GError **error)
{
  const ElfFile *elf = &kernel->file;

  /* Check every segment before copying any, so a refused kernel leaves no half-loaded image. */
  for (uint64_t i = 0; i < elf->phnum; i++)
    {
      ElfSegment seg;
      read_segment (elf, i, &seg);
      if (seg.type != PT_LOAD || seg.memsz == 0)
        continue;
      if (seg.paddr < HV_HIMEM_START)
        {
          g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                       "the kernel's segment %" G_GUINT64_FORMAT " loads at 0x%" G_GINT64_MODIFIER "x, below "
                       "1 MiB, where Vireo keeps the boot data; PVH kernels must load at 1 MiB or above",
                       i, seg.paddr);
          return FALSE;
        }
    }
  if (!hv_boot_check_kernel_fits (mem, kernel->start, kernel->end, error))
    return FALSE;

  for (uint64_t i = 0; i < elf->phnum; i++)
    {
      ElfSegment seg;
      uint8_t *host;

      read_segment (elf, i, &seg);
      if (seg.type != PT_LOAD || seg.memsz == 0)
        continue;
      host = hv_memory_ptr (mem, seg.paddr, seg.memsz);
      if (host == NULL)
        {
          g_set_error (error, HV_ERROR, HV_ERROR_TOO_LARGE,
                       "the kernel's segment %" G_GUINT64_FORMAT " (0x%" G_GINT64_MODIFIER
                       "x, %" G_GUINT64_FORMAT " bytes) is not in guest RAM",
                       i, seg.paddr, seg.memsz);
          return FALSE;
        }
      memcpy (host, elf->data + seg.offset, seg.filesz);
      memset (host + seg.filesz, 0, seg.memsz - seg.filesz);
    }
  return TRUE;
}

static gboolean
write_start_info (HvMemory *mem, const HvE820Map *map, const HvBootImages *images, const HvBootSetup *setup,
                  GError **error)
{
  struct hvm_start_info info = {
    .magic = HVM_START_MAGIC,
    .version = 1,
    .modlist_paddr = HV_PVH_MODLIST,
    .cmdline_paddr = HV_CMDLINE,
    .rsdp_paddr = images->rsdp_addr,
    .memmap_paddr = HV_PVH_MEMMAP,
    .memmap_entries = map->n_entries,
  };
  struct hvm_memmap_table_entry memmap[HV_E820_MAX] = { 0 };

  if (setup->initrd_size > 0)
    {
      struct hvm_modlist_entry module = {
        .paddr = setup->initrd_start,
        .size = setup->initrd_size,
        .cmdline_paddr = 0,
      };
      info.nr_modules = 1;
      if (!hv_memory_write (mem, HV_PVH_MODLIST, &module, sizeof module, "the PVH module list", error))
        return FALSE;
    }

  /* The e820 types and the hvm_memmap types share their numbering (1 RAM, 2 reserved, 3 ACPI). */
  for (unsigned i = 0; i < map->n_entries; i++)
    {
      memmap[i].addr = map->entries[i].addr;
      memmap[i].size = map->entries[i].size;
      memmap[i].type = map->entries[i].type;
    }
  if (map->n_entries > 0
      && !hv_memory_write (mem, HV_PVH_MEMMAP, memmap, map->n_entries * sizeof memmap[0],
                           "the PVH memory map", error))
    return FALSE;
  return hv_memory_write (mem, HV_PVH_START_INFO, &info, sizeof info, "the PVH start info", error);
}

gboolean
hv_pvh_load (HvMemory *mem, const HvE820Map *map, const HvBootImages *images, HvBootSetup *setup,
             GError **error)
{
  PvhKernel kernel;
  g_autofree char *why = pvh_parse (images->kernel, images->kernel_size, &kernel);

  if (why)
    {
      hv_boot_refuse (error, why);
      return FALSE;
    }
  if (!load_segments (mem, &kernel, error))
    return FALSE;
  if (!hv_boot_write_cmdline (mem, images->cmdline, error))
    return FALSE;
  if (!hv_boot_place_initrd (mem, images, kernel.end, hv_memory_low_end (mem), NULL, setup, error))
    return FALSE;
  if (!write_start_info (mem, map, images, setup, error))
    return FALSE;

  setup->protocol = HV_BOOT_PVH;
  setup->entry = kernel.entry;
  setup->boot_data = HV_PVH_START_INFO;
  setup->kernel_start = kernel.start;
  setup->kernel_end = kernel.end;
  return TRUE;
}
