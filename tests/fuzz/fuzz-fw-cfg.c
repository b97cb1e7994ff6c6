/* fuzz-fw-cfg.c — the fw_cfg device (hypervisor/devices/fw-cfg.c) as a hostile firmware drives it:
 * selector writes, port accesses of any width, DMA descriptors anywhere (in guest RAM, straddling its
 * end, far outside it) with any control word, length and buffer address, and guest RAM poked in
 * between.  Guest RAM is 64 KiB and a file is larger than it, so reads that must be refused or cut
 * are easy to reach; AddressSanitizer catches any byte touched outside RAM.
 *
 * Input: a sequence of ops.  Op byte % 4:
 *   0  select: u16 key
 *   1  a port access: u8 flags (bit 0 write, bit 1 the DMA register rather than selector/data, bits
 *      2-3 width 1/2/4/8), u8 offset, u32 value (writes)
 *   2  a DMA transfer: u8 flags (bit 0 write the descriptor from the input, bit 1 a high half), u32
 *      descriptor address (u32 high half), then with bit 0: u32 control, u32 length, u64 address
 *   3  poke guest RAM: u16 address, u8 length, bytes */
#include "fuzz-input.h"
#include "devices/fw-cfg.h"
#include "memory.h"

#define RAM_SIZE (64u << 10)
#define MAX_OPS  512

static HvMemory memory;

static void
put_be32 (uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t) (v >> 24);
  p[1] = (uint8_t) (v >> 16);
  p[2] = (uint8_t) (v >> 8);
  p[3] = (uint8_t) v;
}

static void
add_file (HvFwCfg *fw, const char *name, gsize size, uint8_t fill)
{
  g_autofree uint8_t *data = g_malloc0 (size);
  g_autoptr (GBytes) bytes = NULL;

  if (size > 0)
    memset (data, fill, size);
  bytes = g_bytes_new_take (g_steal_pointer (&data), size);
  if (!hv_fw_cfg_add_file (fw, name, bytes, NULL))
    fuzz_fail ("cannot add fw_cfg file %s", name);
}

/* One access of @len bytes through @handler, with @value's bytes for a write. */
static void
port_access (HvIoHandler handler, HvFwCfg *fw, uint64_t offset, unsigned len, gboolean write, uint32_t value)
{
  uint8_t data[8];

  memset (data, 0xff, sizeof data);
  if (write)
    for (unsigned i = 0; i < len; i++)
      data[i] = (uint8_t) (value >> (8 * (i % 4)));
  handler (fw, offset, data, len, write);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FuzzInput in;
  HvPlatform platform = { 0 };
  HvFwCfg *fw;

  fuzz_setup_logging (TRUE);
  if (memory.base == NULL && !hv_memory_init (&memory, RAM_SIZE, NULL))
    fuzz_fail ("cannot create guest memory");
  memset (memory.base, 0, RAM_SIZE);
  platform.memory = &memory;

  fw = hv_fw_cfg_new (&platform);
  hv_fw_cfg_set_item_u64 (fw, HV_FW_CFG_RAM_SIZE, RAM_SIZE);
  hv_fw_cfg_set_item_u16 (fw, HV_FW_CFG_NB_CPUS, 2);
  add_file (fw, "etc/small", 100, 0x11);
  add_file (fw, "etc/larger-than-ram", RAM_SIZE + 4096, 0x22);
  add_file (fw, "etc/empty", 0, 0);

  fuzz_input_init (&in, data, size);
  for (unsigned n = 0; n < MAX_OPS && !fuzz_input_done (&in); n++)
    {
      uint8_t op = fuzz_take_u8 (&in);

      switch (op % 4)
        {
        case 0:
          port_access (hv_fw_cfg_io, fw, 0, 2, TRUE, fuzz_take_u16 (&in));
          break;

        case 1:
          {
            uint8_t flags = fuzz_take_u8 (&in);
            uint8_t offset = fuzz_take_u8 (&in);
            unsigned len = 1u << ((flags >> 2) & 3);
            gboolean write = flags & 1;
            uint32_t value = write ? (uint32_t) fuzz_take (&in, 4) : 0;

            port_access (flags & 2 ? hv_fw_cfg_dma_io : hv_fw_cfg_io, fw, offset % 16, len, write, value);
            break;
          }

        case 2:
          {
            uint8_t flags = fuzz_take_u8 (&in);
            uint32_t low = (uint32_t) fuzz_take (&in, 4);
            uint32_t high = flags & 2 ? (uint32_t) fuzz_take (&in, 4) : 0;
            uint64_t desc = (uint64_t) high << 32 | low;

            if (flags & 1)
              {
                uint32_t control = (uint32_t) fuzz_take (&in, 4);
                uint32_t length = (uint32_t) fuzz_take (&in, 4);
                uint64_t address = fuzz_take (&in, 8);
                uint8_t *d = hv_memory_ptr (&memory, desc, 16);
                if (d)
                  {
                    put_be32 (d, control);
                    put_be32 (d + 4, length);
                    put_be32 (d + 8, (uint32_t) (address >> 32));
                    put_be32 (d + 12, (uint32_t) address);
                  }
              }
            if (high)
              port_access (hv_fw_cfg_dma_io, fw, 0, 4, TRUE, GUINT32_SWAP_LE_BE (high));
            port_access (hv_fw_cfg_dma_io, fw, 4, 4, TRUE, GUINT32_SWAP_LE_BE (low));
            break;
          }

        case 3:
          {
            uint16_t address = fuzz_take_u16 (&in);
            uint8_t len = fuzz_take_u8 (&in);
            for (unsigned i = 0; i < len && address + i < RAM_SIZE; i++)
              memory.base[address + i] = fuzz_take_u8 (&in);
            break;
          }
        }
    }

  hv_fw_cfg_free (fw);
  return 0;
}
