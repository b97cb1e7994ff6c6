/* kit-ahci.c — the guest kit's AHCI driver: finds the controller by its PCI identity, resets it, brings
 * up every port with a drive, and runs ATA commands, queued (NCQ) reads and writes and ATAPI packets,
 * polled through PxCI, PxSACT and PxIS with a timeout.  No interrupts: PxIE stays 0. */
#include "kit-private.h"

#define HBA_GHC  0x04
#define HBA_PI   0x0c
#define GHC_HR   (1u << 0)
#define GHC_AE   (1u << 31)
#define P_CLB    0x00
#define P_CLBU   0x04
#define P_FB     0x08
#define P_FBU    0x0c
#define P_IS     0x10
#define P_IE     0x14
#define P_CMD    0x18
#define P_TFD    0x20
#define P_SIG    0x24
#define P_SSTS   0x28
#define P_SERR   0x30
#define P_SACT   0x34
#define P_CI     0x38
#define CMD_ST   (1u << 0)
#define CMD_FRE  (1u << 4)
#define CMD_CR   (1u << 15)
#define IS_TFES  (1u << 30)
#define IS_HBFS  (1u << 29)
#define IS_ERROR (IS_TFES | IS_HBFS | (1u << 28) | (1u << 27))

/* About a second at 3 GHz. */
#define TIMEOUT_CYCLES (1ull << 32)

static uint32_t
reg (KitAhci *hba, unsigned offset)
{
  return *(volatile uint32_t *) (hba->abar + offset);
}

static void
set_reg (KitAhci *hba, unsigned offset, uint32_t value)
{
  *(volatile uint32_t *) (hba->abar + offset) = value;
}

static unsigned
port_reg (unsigned port, unsigned offset)
{
  return 0x100 + 0x80 * port + offset;
}

static void
put32 (uint8_t *p, uint32_t v)
{
  for (unsigned i = 0; i < 4; i++)
    p[i] = (uint8_t) (v >> (8 * i));
}

static void
stop_port (KitAhci *hba, unsigned port)
{
  uint64_t start = kit_rdtsc ();

  set_reg (hba, port_reg (port, P_CMD), reg (hba, port_reg (port, P_CMD)) & ~CMD_ST);
  while ((reg (hba, port_reg (port, P_CMD)) & CMD_CR) && kit_rdtsc () - start < TIMEOUT_CYCLES)
    cpu_pause ();
}

static void
start_port (KitAhci *hba, unsigned port)
{
  set_reg (hba, port_reg (port, P_SERR), 0xffffffff);
  set_reg (hba, port_reg (port, P_IS), 0xffffffff);
  set_reg (hba, port_reg (port, P_CMD), reg (hba, port_reg (port, P_CMD)) | CMD_FRE | CMD_ST);
}

bool
kit_ahci_init (KitAhci *hba, unsigned index)
{
  KitPciBar bar;
  uint32_t pi;

  memset (hba, 0, sizeof *hba);
  if (!kit_pci_find (KIT_AHCI_VENDOR_ID, KIT_AHCI_DEVICE_ID, index, &hba->pci))
    return false;
  kit_pci_enable (&hba->pci, KIT_PCI_COMMAND_MEMORY | KIT_PCI_COMMAND_MASTER);
  if (!kit_pci_bar (&hba->pci, 5, &bar) || (hba->abar = kit_pci_bar_map (&bar, 0, 0x1000)) == NULL)
    {
      kit_printf ("kit: ahci %02x:%02x.%x: no usable BAR 5\n", hba->pci.bus, hba->pci.slot,
                  hba->pci.function);
      return false;
    }
  set_reg (hba, HBA_GHC, GHC_AE | GHC_HR);
  {
    uint64_t start = kit_rdtsc ();
    while ((reg (hba, HBA_GHC) & GHC_HR) && kit_rdtsc () - start < TIMEOUT_CYCLES)
      cpu_pause ();
  }
  set_reg (hba, HBA_GHC, GHC_AE);
  pi = reg (hba, HBA_PI);
  for (unsigned port = 0; port < KIT_AHCI_PORTS; port++)
    {
      KitAhciPort *p = &hba->ports[port];
      uint32_t sig;

      if (!(pi & (1u << port)) || (reg (hba, port_reg (port, P_SSTS)) & 0xf) != 3)
        continue;
      stop_port (hba, port);
      set_reg (hba, port_reg (port, P_CLB), (uint32_t) (uintptr_t) p->list);
      set_reg (hba, port_reg (port, P_CLBU), (uint32_t) ((uint64_t) (uintptr_t) p->list >> 32));
      set_reg (hba, port_reg (port, P_FB), (uint32_t) (uintptr_t) p->fis);
      set_reg (hba, port_reg (port, P_FBU), (uint32_t) ((uint64_t) (uintptr_t) p->fis >> 32));
      set_reg (hba, port_reg (port, P_IE), 0);
      start_port (hba, port);
      sig = reg (hba, port_reg (port, P_SIG));
      hba->kinds[port] = sig == 0xeb140101u   ? KIT_AHCI_CDROM
                         : sig == 0x00000101u ? KIT_AHCI_DISK
                                              : KIT_AHCI_NONE;
    }
  return true;
}

/* Fills the command header and table of @slot. */
static void
prepare (KitAhci *hba, unsigned port, unsigned slot, const uint8_t *fis, const uint8_t *cdb,
         const KitBlkSegment *segments, unsigned n_segments, bool write)
{
  KitAhciPort *p = &hba->ports[port];
  uint8_t *header = p->list + 32 * slot;
  uint8_t *table = p->tables[slot];
  uint64_t table_address = (uintptr_t) table;

  memset (header, 0, 32);
  memset (table, 0, sizeof p->tables[slot]);
  memcpy (table, fis, 20);
  if (cdb)
    memcpy (table + 0x40, cdb, 12);
  for (unsigned i = 0; i < n_segments; i++)
    {
      uint64_t address = (uintptr_t) segments[i].data;
      put32 (table + 0x80 + 16 * i, (uint32_t) address);
      put32 (table + 0x84 + 16 * i, (uint32_t) (address >> 32));
      put32 (table + 0x8c + 16 * i, segments[i].len - 1);
    }
  put32 (header, 5 | (cdb ? 1u << 5 : 0) | (write ? 1u << 6 : 0) | (uint32_t) n_segments << 16);
  put32 (header + 8, (uint32_t) table_address);
  put32 (header + 12, (uint32_t) (table_address >> 32));
  __asm__ volatile("mfence" ::: "memory");
}

/* Waits for @slots to leave PxCI and PxSACT; the task file on an error (the port restarted), 0, or -1. */
static int
wait_slots (KitAhci *hba, unsigned port, uint32_t slots)
{
  uint64_t start = kit_rdtsc ();

  for (;;)
    {
      /* PxCI first: once the slots are done, PxIS already says how they ended. */
      bool done = !((reg (hba, port_reg (port, P_CI)) | reg (hba, port_reg (port, P_SACT))) & slots);
      uint32_t is = reg (hba, port_reg (port, P_IS));

      if (is & IS_ERROR)
        {
          int tfd = (int) (reg (hba, port_reg (port, P_TFD)) & 0xffff);
          stop_port (hba, port);
          start_port (hba, port);
          return tfd ? tfd : 0x0401;
        }
      if (done)
        break;
      if (kit_rdtsc () - start > TIMEOUT_CYCLES)
        return -1;
      cpu_pause ();
    }
  set_reg (hba, port_reg (port, P_IS), reg (hba, port_reg (port, P_IS)));
  return 0;
}

static void
make_fis (uint8_t *fis, uint8_t command, uint64_t lba, uint32_t count, uint8_t features)
{
  memset (fis, 0, 20);
  fis[0] = 0x27;
  fis[1] = 0x80;
  fis[2] = command;
  fis[3] = features;
  fis[4] = (uint8_t) lba;
  fis[5] = (uint8_t) (lba >> 8);
  fis[6] = (uint8_t) (lba >> 16);
  fis[7] = 0x40;
  fis[8] = (uint8_t) (lba >> 24);
  fis[9] = (uint8_t) (lba >> 32);
  fis[10] = (uint8_t) (lba >> 40);
  fis[12] = (uint8_t) count;
  fis[13] = (uint8_t) (count >> 8);
}

int
kit_ahci_ata (KitAhci *hba, unsigned port, uint8_t command, uint64_t lba, uint32_t count, uint8_t features,
              const KitBlkSegment *segments, unsigned n_segments, bool write)
{
  uint8_t fis[20];

  if (port >= KIT_AHCI_PORTS || n_segments > KIT_AHCI_PRDS)
    return -1;
  make_fis (fis, command, lba, count, features);
  prepare (hba, port, 0, fis, 0, segments, n_segments, write);
  set_reg (hba, port_reg (port, P_CI), 1);
  return wait_slots (hba, port, 1);
}

int
kit_ahci_ncq (KitAhci *hba, unsigned port, bool write, const uint64_t *lba, uint32_t count, void *const *data,
              unsigned n)
{
  uint32_t slots = 0;

  if (port >= KIT_AHCI_PORTS || n > KIT_AHCI_NCQ_SLOTS)
    return -1;
  for (unsigned i = 0; i < n; i++)
    {
      KitBlkSegment segment = { data[i], count * 512 };
      uint8_t fis[20];

      make_fis (fis, write ? 0x61 : 0x60, lba[i], 0, (uint8_t) count);
      fis[11] = (uint8_t) (count >> 8);
      fis[12] = (uint8_t) (i << 3); /* the tag */
      prepare (hba, port, i, fis, 0, &segment, 1, write);
      slots |= 1u << i;
    }
  set_reg (hba, port_reg (port, P_SACT), slots);
  set_reg (hba, port_reg (port, P_CI), slots);
  return wait_slots (hba, port, slots);
}

int
kit_ahci_packet (KitAhci *hba, unsigned port, const uint8_t *cdb, void *data, uint32_t len)
{
  static uint8_t scratch[2] __attribute__ ((aligned (2)));
  KitBlkSegment segment = { len ? data : scratch, len ? len : 2 };
  uint8_t fis[20];
  int tfd;

  make_fis (fis, 0xa0, 0, 0, 0x01);
  fis[5] = (uint8_t) len; /* byte count limit */
  fis[6] = (uint8_t) (len >> 8);
  prepare (hba, port, 0, fis, cdb, &segment, 1, false);
  set_reg (hba, port_reg (port, P_CI), 1);
  tfd = wait_slots (hba, port, 1);
  return tfd <= 0 ? tfd : ((tfd >> 12) & 0xf ? (tfd >> 12) & 0xf : 0xb);
}
