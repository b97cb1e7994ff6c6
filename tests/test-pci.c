/* test-pci.c — the PCI host bridge through ports 0xCF8/0xCFC as Linux probes, enumerates and sizes a
 * bus, with a fake device: BAR placement, sizing, moves, 64-bit BARs, command register, write mask. */
#include "devices.h"
#include "layout.h"
#include "test-util.h"

#include <string.h>

#define CONFIG_ADDRESS 0
#define CONFIG_DATA    4

typedef struct
{
  HvPciDevice device;
  unsigned moves;
  unsigned last_bar;
  uint64_t last_old;
  uint64_t last_new;
  unsigned writes;
  unsigned last_write_offset;
  unsigned last_write_len;
} FakeDevice;

typedef struct
{
  HvPci *pci;
  FakeDevice fake;
} Fixture;

static void
fake_bar_moved (HvPciDevice *device, unsigned bar, uint64_t old_addr, uint64_t new_addr)
{
  FakeDevice *fake = device->opaque;
  fake->moves++;
  fake->last_bar = bar;
  fake->last_old = old_addr;
  fake->last_new = new_addr;
}

static void
fake_config_written (HvPciDevice *device, unsigned offset, unsigned len)
{
  FakeDevice *fake = device->opaque;
  fake->writes++;
  fake->last_write_offset = offset;
  fake->last_write_len = len;
}

static void
fake_init (FakeDevice *fake)
{
  HvPciDevice *d = &fake->device;

  memset (fake, 0, sizeof *fake);
  d->name = "fake";
  d->opaque = fake;
  d->bar_moved = fake_bar_moved;
  d->config_written = fake_config_written;
  d->config[0x00] = 0xf4; /* 1af4:1041 */
  d->config[0x01] = 0x1a;
  d->config[0x02] = 0x41;
  d->config[0x03] = 0x10;
  d->config[0x0b] = 0x02; /* network controller */
  d->config[0x3d] = 0x01; /* INTA */
  d->write_mask[0x40] = 0xff;
  d->write_mask[0x41] = 0x0f;
  d->bar_size[0] = 0x1000;
  d->bar_size[1] = 0x20;
  d->bar_is_io[1] = TRUE;
  d->bar_size[2] = 0x4000;
  d->bar_is_64[2] = TRUE;
  d->bar_size[5] = 0x100000;
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->pci = hv_pci_new ();
  fake_init (&f->fake);
  g_assert_true (hv_pci_add_device (f->pci, &f->fake.device, &error));
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  hv_pci_free (f->pci);
}

static void
port_write (HvPci *pci, unsigned offset, unsigned len, uint32_t value)
{
  vireo_test_io_write (hv_pci_conf1_io, pci, offset, len, value);
}

static uint32_t
port_read (HvPci *pci, unsigned offset, unsigned len)
{
  return vireo_test_io_read (hv_pci_conf1_io, pci, offset, len);
}

static uint32_t
address (unsigned bus, unsigned slot, unsigned function, unsigned reg)
{
  return 0x80000000u | bus << 16 | slot << 11 | function << 8 | (reg & 0xfc);
}

/* Like Linux's pci_conf1_read/write: address in 0xCF8, data at 0xCFC + (reg & 3). */
static uint32_t
config_read (HvPci *pci, unsigned slot, unsigned function, unsigned reg, unsigned len)
{
  port_write (pci, CONFIG_ADDRESS, 4, address (0, slot, function, reg));
  return port_read (pci, CONFIG_DATA + (reg & 3), len);
}

static void
config_write (HvPci *pci, unsigned slot, unsigned reg, unsigned len, uint32_t value)
{
  port_write (pci, CONFIG_ADDRESS, 4, address (0, slot, 0, reg));
  port_write (pci, CONFIG_DATA + (reg & 3), len, value);
}

static void
test_probe_and_enumerate (Fixture *f, gconstpointer data)
{
  HvPci *pci = f->pci;
  uint32_t saved;

  /* pci_check_type1(): a byte write to 0xCFB is not CONFIG_ADDRESS, which then holds a dword. */
  port_write (pci, 3, 1, 0x01);
  saved = port_read (pci, CONFIG_ADDRESS, 4);
  port_write (pci, CONFIG_ADDRESS, 4, 0x80000000);
  g_assert_cmphex (port_read (pci, CONFIG_ADDRESS, 4), ==, 0x80000000);
  port_write (pci, CONFIG_ADDRESS, 4, saved);
  g_assert_cmphex (port_read (pci, CONFIG_ADDRESS, 4), ==, saved);
  /* Reserved and low bits of CONFIG_ADDRESS read back as zero. */
  port_write (pci, CONFIG_ADDRESS, 4, 0xffffffff);
  g_assert_cmphex (port_read (pci, CONFIG_ADDRESS, 4), ==, 0x80fffffc);

  /* The host bridge in slot 0: the class check of pci_sanity_check(). */
  g_assert_cmphex (config_read (pci, 0, 0, 0x00, 4), ==, 0x00081b36);
  g_assert_cmphex (config_read (pci, 0, 0, 0x0a, 2), ==, 0x0600);
  g_assert_cmphex (config_read (pci, 0, 0, 0x08, 4), ==, 0x06000000);

  /* A full scan finds the bridge and the fake device, nothing else. */
  for (unsigned slot = 0; slot < 32; slot++)
    for (unsigned function = 0; function < 8; function++)
      {
        uint32_t id = config_read (pci, slot, function, 0x00, 4);
        if (function == 0 && slot == 0)
          g_assert_cmphex (id, ==, 0x00081b36);
        else if (function == 0 && slot == 1)
          g_assert_cmphex (id, ==, 0x10411af4);
        else
          g_assert_cmphex (id, ==, 0xffffffff);
      }
  g_assert_cmpuint (f->fake.device.slot, ==, 1);

  /* Other buses, and accesses with the enable bit clear, see nothing. */
  port_write (pci, CONFIG_ADDRESS, 4, address (1, 0, 0, 0));
  g_assert_cmphex (port_read (pci, CONFIG_DATA, 4), ==, 0xffffffff);
  port_write (pci, CONFIG_ADDRESS, 4, address (0, 1, 0, 0) & ~0x80000000u);
  g_assert_cmphex (port_read (pci, CONFIG_DATA, 4), ==, 0xffffffff);

  /* Byte lanes: each width at each offset reads the matching bytes. */
  g_assert_cmphex (config_read (pci, 1, 0, 0x00, 1), ==, 0xf4);
  g_assert_cmphex (config_read (pci, 1, 0, 0x01, 1), ==, 0x1a);
  g_assert_cmphex (config_read (pci, 1, 0, 0x02, 2), ==, 0x1041);
  g_assert_cmphex (config_read (pci, 1, 0, 0x03, 1), ==, 0x10);
  g_assert_cmphex (config_read (pci, 1, 0, 0x3d, 1), ==, 0x01);
  /* A 16-bit access at the last lane is cut to the one byte inside CONFIG_DATA. */
  g_assert_cmphex (config_read (pci, 1, 0, 0x03, 2), ==, 0xff10);
}

static void
test_bar_placement (Fixture *f, gconstpointer data)
{
  HvPci *pci = f->pci;
  uint32_t bar0 = config_read (pci, 1, 0, 0x10, 4);
  uint32_t bar1 = config_read (pci, 1, 0, 0x14, 4);
  uint32_t bar2 = config_read (pci, 1, 0, 0x18, 4);
  uint32_t bar3 = config_read (pci, 1, 0, 0x1c, 4);
  uint32_t bar4 = config_read (pci, 1, 0, 0x20, 4);
  uint32_t bar5 = config_read (pci, 1, 0, 0x24, 4);

  /* Memory BARs: naturally aligned inside the 32-bit window, with the right type bits. */
  g_assert_cmphex (bar0 & 0xf, ==, 0);
  g_assert_cmphex (bar0 & 0xfff, ==, 0);
  g_assert_cmpuint (bar0, >=, HV_MMIO32_START);
  g_assert_cmpuint (bar0 + 0x1000ull, <=, HV_MMIO32_END);
  g_assert_cmphex (bar2 & 0xf, ==, 0x4);
  g_assert_cmphex (bar2 & 0x3ff0, ==, 0);
  g_assert_cmpuint (bar2 & ~0xfu, >=, HV_MMIO32_START);
  g_assert_cmphex (bar3, ==, 0);
  g_assert_cmphex (bar4, ==, 0);
  g_assert_cmphex (bar5 & 0xfffff, ==, 0);
  g_assert_cmpuint (bar5, >=, HV_MMIO32_START);
  g_assert_cmpuint (bar5 + 0x100000ull, <=, HV_MMIO32_END);
  /* I/O BAR: from 0xC000, aligned, type bit 0. */
  g_assert_cmphex (bar1 & 0x3, ==, 0x1);
  g_assert_cmpuint (bar1 & ~3u, >=, 0xc000);
  g_assert_cmphex (bar1 & 0x1c, ==, 0);

  /* No overlaps between the memory BARs. */
  g_assert_true (bar0 + 0x1000u <= (bar2 & ~0xfu) || (bar2 & ~0xfu) + 0x4000u <= bar0);
  g_assert_true (bar0 + 0x1000u <= bar5 || bar5 + 0x100000u <= bar0);
  g_assert_true ((bar2 & ~0xfu) + 0x4000u <= bar5 || bar5 + 0x100000u <= (bar2 & ~0xfu));

  g_assert_cmphex (hv_pci_bar_address (&f->fake.device, 0), ==, bar0);
  g_assert_cmphex (hv_pci_bar_address (&f->fake.device, 1), ==, bar1 & ~3u);
  g_assert_cmphex (hv_pci_bar_address (&f->fake.device, 2), ==, bar2 & ~0xfu);
  g_assert_cmphex (hv_pci_bar_address (&f->fake.device, 6), ==, 0);

  /* Like firmware, the bridge turned decoding on. */
  g_assert_cmphex (config_read (pci, 1, 0, 0x04, 2) & 0x3, ==, 0x3);
}

/* __pci_read_base(): decode off, write all ones, read, restore, decode back on. */
static uint64_t
size_bar (HvPci *pci, unsigned bar, gboolean is_64)
{
  unsigned reg = 0x10 + 4 * bar;
  uint16_t command = (uint16_t) config_read (pci, 1, 0, 0x04, 2);
  uint32_t low, high = 0, low_mask, high_mask = 0xffffffff;
  uint64_t mask;

  config_write (pci, 1, 0x04, 2, command & ~0x3);
  low = config_read (pci, 1, 0, reg, 4);
  config_write (pci, 1, reg, 4, 0xffffffff);
  low_mask = config_read (pci, 1, 0, reg, 4);
  config_write (pci, 1, reg, 4, low);
  if (is_64)
    {
      high = config_read (pci, 1, 0, reg + 4, 4);
      config_write (pci, 1, reg + 4, 4, 0xffffffff);
      high_mask = config_read (pci, 1, 0, reg + 4, 4);
      config_write (pci, 1, reg + 4, 4, high);
    }
  config_write (pci, 1, 0x04, 2, command);

  g_assert_cmphex (config_read (pci, 1, 0, reg, 4), ==, low);
  if (low_mask & 1)
    return (uint32_t) ~((low_mask & ~3u) | 0xffff0000u) + 1; /* I/O: 16 bits of port address */
  if (!is_64)
    return (uint32_t) ~(low_mask & ~0xfu) + 1;
  mask = ((uint64_t) high_mask << 32) | (low_mask & ~0xfu);
  return ~mask + 1;
}

static void
test_bar_sizing (Fixture *f, gconstpointer data)
{
  HvPci *pci = f->pci;
  uint64_t addresses[6];

  for (unsigned bar = 0; bar < 6; bar++)
    addresses[bar] = hv_pci_bar_address (&f->fake.device, bar);

  g_assert_cmphex (size_bar (pci, 0, FALSE), ==, 0x1000);
  g_assert_cmphex (size_bar (pci, 1, FALSE), ==, 0x20);
  g_assert_cmphex (size_bar (pci, 2, TRUE), ==, 0x4000);
  g_assert_cmphex (size_bar (pci, 5, FALSE), ==, 0x100000);

  /* The raw all-ones readback keeps the type bits. */
  config_write (pci, 1, 0x18, 4, 0xffffffff);
  g_assert_cmphex (config_read (pci, 1, 0, 0x18, 4), ==, 0xffffc004);
  config_write (pci, 1, 0x18, 4, (uint32_t) addresses[2]);

  /* Unused BARs and the ROM BAR size to nothing. */
  config_write (pci, 1, 0x20, 4, 0xffffffff);
  g_assert_cmphex (config_read (pci, 1, 0, 0x20, 4), ==, 0);
  config_write (pci, 1, 0x30, 4, 0xfffff800);
  g_assert_cmphex (config_read (pci, 1, 0, 0x30, 4), ==, 0);

  /* Sizing is not a move. */
  g_assert_cmpuint (f->fake.moves, ==, 0);
  for (unsigned bar = 0; bar < 6; bar++)
    g_assert_cmphex (hv_pci_bar_address (&f->fake.device, bar), ==, addresses[bar]);
}

static void
test_bar_move (Fixture *f, gconstpointer data)
{
  HvPci *pci = f->pci;
  uint64_t old0 = hv_pci_bar_address (&f->fake.device, 0);
  uint64_t old2 = hv_pci_bar_address (&f->fake.device, 2);

  /* A 32-bit BAR; the low bits the size does not allow are dropped. */
  config_write (pci, 1, 0x10, 4, 0xd0000123);
  g_assert_cmpuint (f->fake.moves, ==, 1);
  g_assert_cmpuint (f->fake.last_bar, ==, 0);
  g_assert_cmphex (f->fake.last_old, ==, old0);
  g_assert_cmphex (f->fake.last_new, ==, 0xd0000000);
  g_assert_cmphex (config_read (pci, 1, 0, 0x10, 4), ==, 0xd0000000);
  g_assert_cmphex (hv_pci_bar_address (&f->fake.device, 0), ==, 0xd0000000);
  /* Writing the same address again is no move. */
  config_write (pci, 1, 0x10, 4, 0xd0000000);
  g_assert_cmpuint (f->fake.moves, ==, 1);

  /* A 64-bit BAR moved above 4 GiB, low dword first as Linux writes it. */
  config_write (pci, 1, 0x18, 4, 0x00008000);
  config_write (pci, 1, 0x1c, 4, 0x00000010);
  g_assert_cmpuint (f->fake.last_bar, ==, 2);
  g_assert_cmphex (f->fake.last_new, ==, 0x1000008000ull);
  g_assert_cmphex (hv_pci_bar_address (&f->fake.device, 2), ==, 0x1000008000ull);
  g_assert_cmphex (config_read (pci, 1, 0, 0x18, 4), ==, 0x00008004);
  g_assert_cmphex (config_read (pci, 1, 0, 0x1c, 4), ==, 0x00000010);
  g_assert_cmphex (size_bar (pci, 2, TRUE), ==, 0x4000);
  g_assert_cmphex (hv_pci_bar_address (&f->fake.device, 2), ==, 0x1000008000ull);
  (void) old2;

  /* The I/O BAR moves with 16 bits of port address. */
  config_write (pci, 1, 0x14, 4, 0xe040);
  g_assert_cmpuint (f->fake.last_bar, ==, 1);
  g_assert_cmphex (f->fake.last_new, ==, 0xe040);
  g_assert_cmphex (config_read (pci, 1, 0, 0x14, 4), ==, 0xe041);

  /* A byte write into a BAR updates only that byte. */
  f->fake.writes = 0;
  config_write (pci, 1, 0x13, 1, 0xc1);
  g_assert_cmphex (hv_pci_bar_address (&f->fake.device, 0), ==, 0xc1000000);
  /* BAR writes are the bridge's: the device only hears about the moves. */
  g_assert_cmpuint (f->fake.writes, ==, 0);
}

static void
test_command_and_write_mask (Fixture *f, gconstpointer data)
{
  HvPci *pci = f->pci;

  config_write (pci, 1, 0x04, 2, 0xffff);
  g_assert_cmphex (config_read (pci, 1, 0, 0x04, 2), ==, 0x0407);
  g_assert_cmpuint (f->fake.writes, ==, 1);
  g_assert_cmpuint (f->fake.last_write_offset, ==, 0x04);
  g_assert_cmpuint (f->fake.last_write_len, ==, 2);
  config_write (pci, 1, 0x04, 2, 0x0004);
  g_assert_cmphex (config_read (pci, 1, 0, 0x04, 2), ==, 0x0004);
  /* A dword write to command+status leaves the status alone. */
  config_write (pci, 1, 0x04, 4, 0xffff0006);
  g_assert_cmphex (config_read (pci, 1, 0, 0x04, 4), ==, 0x00000006);

  /* Read-only identity, writable device bytes per write_mask. */
  config_write (pci, 1, 0x00, 4, 0x12345678);
  g_assert_cmphex (config_read (pci, 1, 0, 0x00, 4), ==, 0x10411af4);
  config_write (pci, 1, 0x40, 2, 0xffff);
  g_assert_cmphex (config_read (pci, 1, 0, 0x40, 2), ==, 0x0fff);
  g_assert_cmpuint (f->fake.last_write_offset, ==, 0x40);
  g_assert_cmpuint (f->fake.last_write_len, ==, 2);
  config_write (pci, 1, 0x41, 1, 0x00);
  g_assert_cmphex (config_read (pci, 1, 0, 0x40, 2), ==, 0x00ff);
  g_assert_cmpuint (f->fake.last_write_offset, ==, 0x41);
  g_assert_cmpuint (f->fake.last_write_len, ==, 1);

  /* The interrupt line is the OS's scratch byte; the pin is fixed. */
  config_write (pci, 1, 0x3c, 2, 0x050b);
  g_assert_cmphex (config_read (pci, 1, 0, 0x3c, 2), ==, 0x010b);

  /* The host bridge takes command bits too, and nothing else. */
  config_write (pci, 0, 0x04, 2, 0x0006);
  g_assert_cmphex (config_read (pci, 0, 0, 0x04, 2), ==, 0x0006);
  config_write (pci, 0, 0x00, 4, 0);
  g_assert_cmphex (config_read (pci, 0, 0, 0x00, 4), ==, 0x00081b36);
}

static void
test_add_device_errors (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  FakeDevice *more = g_new0 (FakeDevice, 31);
  FakeDevice bad;

  /* Sizes that are not powers of two, a 64-bit BAR 5 and a BAR bigger than the window are refused. */
  fake_init (&bad);
  bad.device.bar_size[0] = 0x3000;
  g_assert_false (hv_pci_add_device (f->pci, &bad.device, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  fake_init (&bad);
  bad.device.bar_is_64[5] = TRUE;
  g_assert_false (hv_pci_add_device (f->pci, &bad.device, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  fake_init (&bad);
  bad.device.bar_size[0] = 2ull << 30;
  g_assert_false (hv_pci_add_device (f->pci, &bad.device, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_TOO_LARGE);
  g_clear_error (&error);
  g_assert_cmphex (config_read (f->pci, 2, 0, 0x00, 4), ==, 0xffffffff);

  /* Slots 2..31 fill up, then there is no room. */
  for (unsigned i = 0; i < 30; i++)
    {
      fake_init (&more[i]);
      g_assert_true (hv_pci_add_device (f->pci, &more[i].device, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (more[i].device.slot, ==, i + 2);
    }
  fake_init (&more[30]);
  g_assert_false (hv_pci_add_device (f->pci, &more[30].device, &error));
  g_assert_nonnull (error);
  g_assert_cmphex (config_read (f->pci, 31, 0, 0x00, 4), ==, 0x10411af4);

  /* All the memory BARs handed out are distinct. */
  for (unsigned i = 1; i < 30; i++)
    g_assert_cmphex (hv_pci_bar_address (&more[i].device, 5), >, hv_pci_bar_address (&more[i - 1].device, 5));

  hv_pci_free (f->pci);
  f->pci = NULL;
  g_free (more);
}

static void
test_garbage (Fixture *f, gconstpointer data)
{
  static const unsigned widths[] = { 1, 2, 4, 8 };

  for (unsigned i = 0; i < 300000; i++)
    {
      uint8_t buffer[8];
      unsigned len = widths[g_test_rand_int_range (0, G_N_ELEMENTS (widths))];
      uint64_t offset = (uint64_t) g_test_rand_int_range (0, 10);
      gboolean is_write = g_test_rand_bit ();

      for (unsigned b = 0; b < sizeof buffer; b++)
        buffer[b] = (uint8_t) g_test_rand_int ();
      /* Keep the address mostly pointing at the two real functions so the writes reach them. */
      if (offset == 0 && len == 4 && is_write && g_test_rand_bit ())
        {
          buffer[1] &= 0x0f;
          buffer[2] = 0;
          buffer[3] = 0x80;
        }
      hv_pci_conf1_io (f->pci, offset, buffer, len, is_write);
    }

  /* Identity survives and the BARs still size right. */
  g_assert_cmphex (config_read (f->pci, 0, 0, 0x00, 4), ==, 0x00081b36);
  g_assert_cmphex (config_read (f->pci, 1, 0, 0x00, 4), ==, 0x10411af4);
  g_assert_cmphex (size_bar (f->pci, 0, FALSE), ==, 0x1000);
  g_assert_cmphex (size_bar (f->pci, 2, TRUE), ==, 0x4000);
}

/* A bus whose guest moved BARs, wrote device registers and left CONFIG_ADDRESS pointing somewhere comes
 * back on a new bus with the same device: the device hears that its BARs moved. */
static void
test_save_load (Fixture *f, gconstpointer data)
{
  Fixture copy;
  g_autoptr (GVariant) state = NULL;
  g_autoptr (GError) error = NULL;

  config_write (f->pci, 1, 0x10, 4, 0xd0000000);
  config_write (f->pci, 1, 0x18, 4, 0x00008000);
  config_write (f->pci, 1, 0x1c, 4, 0x00000010);
  config_write (f->pci, 1, 0x40, 2, 0x0abc);
  config_write (f->pci, 1, 0x3c, 1, 0x0b);
  config_write (f->pci, 1, 0x04, 2, 0x0007);
  port_write (f->pci, CONFIG_ADDRESS, 4, address (0, 1, 0, 0x40));
  state = vireo_test_state_through_bytes (hv_pci_save_state (f->pci));

  fixture_setup (&copy, NULL);
  g_assert_true (hv_pci_load_state (copy.pci, state, &error));
  g_assert_no_error (error);
  g_assert_cmphex (port_read (copy.pci, CONFIG_ADDRESS, 4), ==, address (0, 1, 0, 0x40));
  g_assert_cmphex (port_read (copy.pci, CONFIG_DATA, 2), ==, 0x0abc);
  g_assert_cmphex (config_read (copy.pci, 1, 0, 0x10, 4), ==, 0xd0000000);
  g_assert_cmphex (config_read (copy.pci, 1, 0, 0x3c, 1), ==, 0x0b);
  g_assert_cmphex (config_read (copy.pci, 1, 0, 0x04, 2), ==, 0x0007);
  g_assert_cmphex (hv_pci_bar_address (&copy.fake.device, 0), ==, 0xd0000000);
  g_assert_cmphex (hv_pci_bar_address (&copy.fake.device, 2), ==, 0x1000008000ull);
  g_assert_cmpuint (copy.fake.moves, ==, 2);
  g_assert_cmphex (copy.fake.last_new, ==, 0x1000008000ull);
  /* The I/O BAR stayed where both bridges put it: no move. */
  g_assert_cmphex (hv_pci_bar_address (&copy.fake.device, 1), ==, hv_pci_bar_address (&f->fake.device, 1));
  g_assert_cmphex (size_bar (copy.pci, 0, FALSE), ==, 0x1000);
  fixture_teardown (&copy, NULL);
}

/* A state for other devices, or with BARs that cannot be, is refused; the bus keeps what it had. */
static void
test_load_bad_state (Fixture *f, gconstpointer data)
{
  g_autoptr (GVariant) good = g_variant_ref_sink (hv_pci_save_state (f->pci));
  HvPci *empty = hv_pci_new ();
  FakeDevice other;
  HvPci *other_bus = hv_pci_new ();
  g_autoptr (GError) error = NULL;

  /* The saved bus has a device in slot 1; this one has none. */
  g_assert_false (hv_pci_load_state (empty, good, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
  g_assert_nonnull (strstr (error->message, "slot 1"));
  g_clear_error (&error);
  /* And the other way round. */
  {
    g_autoptr (GVariant) bare = g_variant_ref_sink (hv_pci_save_state (empty));
    g_assert_false (hv_pci_load_state (f->pci, bare, &error));
    g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
    g_assert_nonnull (strstr (error->message, "missing"));
    g_clear_error (&error);
  }
  /* Same name, different device. */
  fake_init (&other);
  other.device.config[0x02] = 0x42;
  g_assert_true (hv_pci_add_device (other_bus, &other.device, &error));
  g_assert_false (hv_pci_load_state (other_bus, good, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
  g_assert_nonnull (strstr (error->message, "another device"));
  g_clear_error (&error);

  /* A BAR address the BAR cannot decode, or BAR type bits changed. */
  config_write (f->pci, 1, 0x40, 1, 0x55);
  for (unsigned attempt = 0; attempt < 3; attempt++)
    {
      GVariantBuilder list;
      GVariantDict dict;
      g_autoptr (GVariant) state = NULL;
      g_autoptr (GVariant) devices = g_variant_lookup_value (good, "devices", G_VARIANT_TYPE ("a(ysayat)"));
      GVariantIter iter;
      guint8 slot;
      const char *name;
      GVariant *config;
      GVariant *bars;

      g_variant_builder_init (&list, G_VARIANT_TYPE ("a(ysayat)"));
      g_variant_iter_init (&iter, devices);
      while (g_variant_iter_next (&iter, "(y&s@ay@at)", &slot, &name, &config, &bars))
        {
          if (slot == 1)
            {
              gsize n;
              uint8_t bytes[256];
              uint64_t addresses[6];
              memcpy (bytes, g_variant_get_fixed_array (config, &n, 1), sizeof bytes);
              memcpy (addresses, g_variant_get_fixed_array (bars, &n, 8), sizeof addresses);
              if (attempt == 0)
                addresses[0] += 0x10; /* not aligned to the 4 KiB BAR */
              else if (attempt == 1)
                addresses[1] = 0x10000; /* past the 16-bit port space */
              else
                bytes[0x10] |= 0x08; /* prefetchable: not what the device says */
              g_variant_unref (config);
              g_variant_unref (bars);
              config = g_variant_ref_sink (g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, bytes, 256, 1));
              bars = g_variant_ref_sink (g_variant_new_fixed_array (G_VARIANT_TYPE_UINT64, addresses, 6, 8));
            }
          g_variant_builder_add (&list, "(ys@ay@at)", slot, name, config, bars);
          g_variant_unref (config);
          g_variant_unref (bars);
        }
      g_variant_dict_init (&dict, good);
      g_variant_dict_insert_value (&dict, "devices", g_variant_builder_end (&list));
      state = g_variant_ref_sink (g_variant_dict_end (&dict));
      g_assert_false (hv_pci_load_state (f->pci, state, &error));
      g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
      g_assert_nonnull (strstr (error->message, "BAR"));
      g_clear_error (&error);
      g_assert_cmphex (config_read (f->pci, 1, 0, 0x40, 1), ==, 0x55);
    }

  hv_pci_free (other_bus);
  hv_pci_free (empty);
}

static void
config_write_function (HvPci *pci, unsigned slot, unsigned function, unsigned reg, unsigned len,
                       uint32_t value)
{
  port_write (pci, CONFIG_ADDRESS, 4, address (0, slot, function, reg));
  port_write (pci, CONFIG_DATA + (reg & 3), len, value);
}

/* The chipset SeaBIOS and Linux look for: i440FX with PAM registers that keep what firmware writes,
 * PIIX3 at 00:01.0 announcing more functions, PIIX4 PM at 00:01.3 whose PM base (where acpi-pm.c
 * serves the block), PM enable and APMC_EN (no SMM) firmware cannot change; devices after it. */
static void
test_i440fx_chipset (void)
{
  g_autoptr (GError) error = NULL;
  HvPci *pci = hv_pci_new ();
  FakeDevice fake;

  g_assert_true (hv_i440fx_init (pci, &error));
  g_assert_no_error (error);
  fake_init (&fake);
  g_assert_true (hv_pci_add_device (pci, &fake.device, &error));
  g_assert_cmpuint (fake.device.slot, ==, 2);

  g_assert_cmphex (config_read (pci, 0, 0, 0x00, 4), ==, 0x12378086);
  g_assert_cmphex (config_read (pci, 0, 0, 0x0a, 2), ==, 0x0600);
  g_assert_cmphex (config_read (pci, 0, 0, 0x2c, 4), ==, 0x11001af4);
  /* SeaBIOS's make_bios_writable: PAM1..6 = 0x33, PAM0 = 0x30, as two dwords; then read-only. */
  config_write (pci, 0, 0x58, 4, 0x33300000);
  config_write (pci, 0, 0x5c, 4, 0x33333333);
  g_assert_cmphex (config_read (pci, 0, 0, 0x58, 4), ==, 0x33300000);
  g_assert_cmphex (config_read (pci, 0, 0, 0x5c, 4), ==, 0x33333333);
  config_write (pci, 0, 0x59, 1, 0x10);
  g_assert_cmphex (config_read (pci, 0, 0, 0x59, 1), ==, 0x10);
  /* The byte before PAM0 is not a register. */
  g_assert_cmphex (config_read (pci, 0, 0, 0x58, 1), ==, 0x00);

  g_assert_cmphex (config_read (pci, 1, 0, 0x00, 4), ==, 0x70008086);
  g_assert_cmphex (config_read (pci, 1, 0, 0x0a, 2), ==, 0x0601);
  g_assert_cmphex (config_read (pci, 1, 0, 0x0e, 1), ==, 0x80);
  config_write_function (pci, 1, 0, 0x60, 4, 0x0b0b0a0a);
  g_assert_cmphex (config_read (pci, 1, 0, 0x60, 4), ==, 0x0b0b0a0a);

  g_assert_cmphex (config_read (pci, 1, 3, 0x00, 4), ==, 0x71138086);
  g_assert_cmphex (config_read (pci, 1, 3, 0x40, 4), ==, HV_PORT_ACPI_PM | 1);
  config_write_function (pci, 1, 3, 0x40, 4, 0xb001);
  config_write_function (pci, 1, 3, 0x80, 1, 0x00);
  config_write_function (pci, 1, 3, 0x58, 4, 0);
  config_write_function (pci, 1, 3, 0x90, 4, 0x701);
  g_assert_cmphex (config_read (pci, 1, 3, 0x40, 4), ==, HV_PORT_ACPI_PM | 1);
  g_assert_cmphex (config_read (pci, 1, 3, 0x80, 1), ==, 0x01);
  g_assert_cmphex (config_read (pci, 1, 3, 0x58, 4), ==, 0x02000000);
  g_assert_cmphex (config_read (pci, 1, 3, 0x90, 4), ==, 0);

  /* Functions that do not exist, here and in the device's slot. */
  for (unsigned function = 1; function < 8; function++)
    {
      if (function != 3)
        g_assert_cmphex (config_read (pci, 1, function, 0x00, 4), ==, 0xffffffff);
      g_assert_cmphex (config_read (pci, 2, function, 0x00, 4), ==, 0xffffffff);
    }

  /* The saved bus comes back with the chipset's functions in it. */
  {
    g_autoptr (GVariant) state = hv_pci_save_state (pci);
    HvPci *other = hv_pci_new ();
    FakeDevice other_fake;
    g_assert_true (hv_i440fx_init (other, &error));
    fake_init (&other_fake);
    g_assert_true (hv_pci_add_device (other, &other_fake.device, &error));
    g_assert_true (hv_pci_load_state (other, state, &error));
    g_assert_no_error (error);
    g_assert_cmphex (config_read (other, 0, 0, 0x5c, 4), ==, 0x33333333);
    g_assert_cmphex (config_read (other, 1, 0, 0x60, 4), ==, 0x0b0b0a0a);
    hv_pci_free (other);
  }
  hv_pci_free (pci);
}

/* Port 0xCF9: RST_CPU resets (SeaBIOS writes 0x02, then 0x06); narrower CF8 accesses touch nothing. */
static void
test_reset_control (void)
{
  VireoTestPlatform tp;
  HvPci *pci = hv_pci_new ();

  vireo_test_platform_init (&tp);
  hv_pci_set_platform (pci, &tp.platform);
  port_write (pci, 1, 1, 0x02);
  g_assert_cmpuint (tp.exit_requests, ==, 0);
  g_assert_cmphex (port_read (pci, 1, 1), ==, 0x02);
  port_write (pci, 0, 1, 0x06);
  port_write (pci, 0, 2, 0x0606);
  g_assert_cmpuint (tp.exit_requests, ==, 0);
  port_write (pci, 1, 1, 0x06);
  g_assert_cmpuint (tp.exit_requests, ==, 1);
  g_assert_cmpint (tp.exit_reason, ==, HV_EXIT_RESET);
  hv_pci_free (pci);
  vireo_test_platform_clear (&tp);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, fn) g_test_add ("/pci/" path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("probe-and-enumerate", test_probe_and_enumerate);
  ADD ("bar-placement", test_bar_placement);
  ADD ("bar-sizing", test_bar_sizing);
  ADD ("bar-move", test_bar_move);
  ADD ("command-and-write-mask", test_command_and_write_mask);
  ADD ("add-device-errors", test_add_device_errors);
  ADD ("garbage", test_garbage);
  ADD ("save-load", test_save_load);
  ADD ("load-bad-state", test_load_bad_state);
#undef ADD
  g_test_add_func ("/pci/i440fx-chipset", test_i440fx_chipset);
  g_test_add_func ("/pci/reset-control", test_reset_control);

  return g_test_run ();
}
