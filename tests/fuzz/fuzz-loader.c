/* fuzz-loader.c — the kernel loaders (hypervisor/x86/: loader.c, pvh.c, bzimage.c) on hostile
 * kernel files: the input is a kernel file, with an optional initrd and command line, loaded into a
 * 64 MiB guest as hv_vm_start() loads one; a file that is refused is also described for the error
 * message (hv_boot_describe_file).  Whatever loads must lie inside guest RAM.
 *
 * Input: u8 flags (bit 0 an initrd of u16 length follows, bit 1 a command line of u8 length
 * follows), the initrd, the command line, then the kernel file (the rest). */
#include "fuzz-input.h"
#include "boot.h"
#include "layout.h"

#define RAM_SIZE (64u << 20)

static HvMemory memory;
static HvE820Map map;

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FuzzInput in;
  uint8_t flags;
  const uint8_t *initrd = NULL;
  size_t initrd_size = 0, cmdline_len = 0, kernel_size;
  g_autofree char *cmdline = NULL;
  const uint8_t *kernel;
  HvBootSetup setup = { 0 };
  GError *error = NULL;

  fuzz_setup_logging (TRUE);

  if (memory.base == NULL)
    {
      if (!hv_memory_init (&memory, RAM_SIZE, NULL))
        fuzz_fail ("cannot create guest memory");
      hv_e820_build (&memory, &map);
    }

  fuzz_input_init (&in, data, size);
  flags = fuzz_take_u8 (&in);
  if (flags & 1)
    initrd = fuzz_take_bytes (&in, fuzz_take_u16 (&in), &initrd_size);
  if (flags & 2)
    {
      const uint8_t *text = fuzz_take_bytes (&in, fuzz_take_u8 (&in), &cmdline_len);
      cmdline = g_strndup ((const char *) text, cmdline_len);
    }
  kernel = fuzz_take_bytes (&in, fuzz_input_left (&in), &kernel_size);
  {
    /* Each file in an allocation of its own, so a read past its end is caught. */
    g_autofree uint8_t *kernel_copy = g_malloc (MAX (kernel_size, 1));
    g_autofree uint8_t *initrd_copy = initrd ? g_malloc (MAX (initrd_size, 1)) : NULL;
    HvBootImages images = {
      .kernel = kernel_copy,
      .kernel_size = kernel_size,
      .initrd = initrd_copy,
      .initrd_size = initrd_size,
      .cmdline = cmdline,
      .rsdp_addr = HV_ACPI_START,
    };

    memcpy (kernel_copy, kernel, kernel_size);
    if (initrd_copy)
      memcpy (initrd_copy, initrd, initrd_size);

    if (hv_boot_load (&memory, &map, &images, &setup, &error))
      {
        g_assert (setup.kernel_start < setup.kernel_end);
        g_assert (hv_memory_check (&memory, setup.kernel_start, setup.kernel_end - setup.kernel_start));
        g_assert (setup.initrd_size == 0 || hv_memory_check (&memory, setup.initrd_start, setup.initrd_size));
      }
    else
      {
        g_autofree char *description = hv_boot_describe_file (kernel_copy, kernel_size);
        g_assert (error != NULL && g_utf8_validate (error->message, -1, NULL));
        fuzz_note_refusal ("kernel", error);
        g_assert (description == NULL || g_utf8_validate (description, -1, NULL));
        g_error_free (error);
      }
  }
  return 0;
}
