/* kit-boot.c — the guest kit's view of the PVH boot data: hvm_start_info, command line, memory map
 * and modules, each checked against the identity map before it is read. */
#include "kit-private.h"

static const struct hvm_start_info *start_info;
static char cmdline_copy[HV_CMDLINE_MAX];
static bool cmdline_copied;

const void *
kit_phys (uint64_t paddr, uint64_t len)
{
  if (paddr == 0 || len > KIT_IDENTITY_MAP_END || paddr > KIT_IDENTITY_MAP_END - len)
    return NULL;
  return (const void *) (uintptr_t) paddr;
}

void
kit_boot_init (uint32_t start_info_paddr)
{
  const struct hvm_start_info *si = kit_phys (start_info_paddr, sizeof *si);

  if (si == NULL)
    kit_printf ("kit: no hvm_start_info (%%ebx = 0x%x)\n", start_info_paddr);
  else if (si->magic != HVM_START_MAGIC)
    kit_printf ("kit: hvm_start_info at 0x%x has magic 0x%x, not 0x%x\n", start_info_paddr, si->magic,
                HVM_START_MAGIC);
  else
    start_info = si;
}

const struct hvm_start_info *
kit_start_info (void)
{
  return start_info;
}

const char *
kit_cmdline (void)
{
  if (cmdline_copied)
    return cmdline_copy;
  cmdline_copied = true;

  /* Copied out, NUL-terminated, so that a command line without a NUL or one running off the end of
   * the map is cut short instead of being read past. */
  if (start_info == NULL || start_info->cmdline_paddr == 0
      || start_info->cmdline_paddr >= KIT_IDENTITY_MAP_END)
    return cmdline_copy;
  uint64_t max = sizeof cmdline_copy - 1;
  if (max > KIT_IDENTITY_MAP_END - start_info->cmdline_paddr)
    max = KIT_IDENTITY_MAP_END - start_info->cmdline_paddr;
  const char *src = kit_phys (start_info->cmdline_paddr, max);
  size_t len = kit_strnlen (src, max);
  memcpy (cmdline_copy, src, len);
  cmdline_copy[len] = '\0';
  return cmdline_copy;
}

bool
kit_cmdline_string (const char *key, char *buf, size_t size)
{
  const char *s = kit_cmdline ();
  size_t key_len = strlen (key);

  while (*s)
    {
      while (*s == ' ' || *s == '\t')
        s++;
      const char *word = s;
      while (*s && *s != ' ' && *s != '\t')
        s++;
      if ((size_t) (s - word) <= key_len || memcmp (word, key, key_len) != 0 || word[key_len] != '=')
        continue;
      size_t len = (size_t) (s - word) - key_len - 1;
      if (len >= size)
        return false;
      memcpy (buf, word + key_len + 1, len);
      buf[len] = '\0';
      return true;
    }
  return false;
}

bool
kit_cmdline_u64 (const char *key, uint64_t *value)
{
  const char *s = kit_cmdline ();
  size_t key_len = strlen (key);

  while (*s)
    {
      while (*s == ' ' || *s == '\t')
        s++;
      const char *word = s;
      while (*s && *s != ' ' && *s != '\t')
        s++;
      if ((size_t) (s - word) <= key_len || memcmp (word, key, key_len) != 0 || word[key_len] != '=')
        continue;

      const char *p = word + key_len + 1;
      unsigned base = 10;
      if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        {
          base = 16;
          p += 2;
        }
      uint64_t v = 0;
      bool any = false;
      for (; p < s; p++)
        {
          unsigned digit;
          if (*p >= '0' && *p <= '9')
            digit = (unsigned) (*p - '0');
          else if (base == 16 && *p >= 'a' && *p <= 'f')
            digit = (unsigned) (*p - 'a' + 10);
          else if (base == 16 && *p >= 'A' && *p <= 'F')
            digit = (unsigned) (*p - 'A' + 10);
          else
            return false;
          if (v > (UINT64_MAX - digit) / base)
            return false;
          v = v * base + digit;
          any = true;
        }
      if (!any)
        return false;
      *value = v;
      return true;
    }
  return false;
}

const struct hvm_memmap_table_entry *
kit_memmap (uint32_t *n_entries)
{
  *n_entries = 0;
  if (start_info == NULL || start_info->version < 1 || start_info->memmap_entries == 0)
    return NULL;
  const struct hvm_memmap_table_entry *map = kit_phys (start_info->memmap_paddr,
                                                       (uint64_t) start_info->memmap_entries * sizeof *map);
  if (map != NULL)
    *n_entries = start_info->memmap_entries;
  return map;
}

const struct hvm_modlist_entry *
kit_modules (uint32_t *n_modules)
{
  *n_modules = 0;
  if (start_info == NULL || start_info->nr_modules == 0)
    return NULL;
  const struct hvm_modlist_entry *mods = kit_phys (start_info->modlist_paddr,
                                                   (uint64_t) start_info->nr_modules * sizeof *mods);
  if (mods != NULL)
    *n_modules = start_info->nr_modules;
  return mods;
}
