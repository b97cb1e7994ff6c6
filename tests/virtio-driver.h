/* virtio-driver.h — the guest side of virtio-pci for unit tests: a machine (guest RAM, a PCI bridge, an
 * MMIO bus, an I/O context the test iterates, ioeventfds and MSI routes kept the way KVM keeps them) and
 * a driver that finds a device through configuration space and drives it through its BARs the way
 * Linux's virtio_pci_modern does. */
#pragma once

#include "bus.h"
#include "memory.h"
#include "test-util.h"
#include "virtio/virtio.h"

#define TEST_RAM_SIZE    (4u << 20)
#define TEST_FIRST_GSI   24 /* the first MSI route's GSI, after the IOAPIC's pins */
#define TEST_MSI_ADDRESS 0xfee00000ull

typedef struct
{
  uint64_t address;
  uint32_t data;
  int irqfd; /* -1 when no irqfd is bound to the route */
} TestMsiRoute;

typedef struct
{
  uint64_t addr;
  unsigned len;
  int fd;
} TestIoeventfd;

typedef struct
{
  VireoTestPlatform tp; /* first: the platform's opaque points at the machine */
  HvMemory memory;
  HvBus *mmio;
  GMainContext *io_context;
  HvPci *pci;
  GArray *routes; /* TestMsiRoute; route i has GSI TEST_FIRST_GSI + i */
  unsigned route_updates;
  GArray *ioeventfds; /* TestIoeventfd */
} TestMachine;

void test_machine_init (TestMachine *m);
void test_machine_clear (TestMachine *m);
/* Runs the I/O work that is ready (what the I/O thread would do now). */
void test_machine_run_io (TestMachine *m);
/* How many interrupts arrived on the irqfd bound to the route with message @data since the last call. */
unsigned test_machine_take_msi (TestMachine *m, uint32_t data);
/* The level of GSI @gsi and how often it went up. */
gboolean test_machine_irq_level (TestMachine *m, unsigned gsi);

uint32_t test_config_read (TestMachine *m, unsigned slot, unsigned reg, unsigned len);
void test_config_write (TestMachine *m, unsigned slot, unsigned reg, unsigned len, uint32_t value);
/* Where the guest put the 64-bit BAR whose low half is configuration register @reg. */
uint64_t test_bar64_address (TestMachine *m, unsigned slot, unsigned reg);
/* A guest access to MMIO: an ioeventfd of the same address and width takes a write, as in KVM; the bus
 * gets everything else.  Reads of nothing see all ones. */
uint64_t test_mmio_read (TestMachine *m, uint64_t addr, unsigned len);
void test_mmio_write (TestMachine *m, uint64_t addr, unsigned len, uint64_t value);

/* Guest RAM as the driver sees it. */
uint8_t *test_guest (TestMachine *m, uint64_t gpa, uint64_t len);

typedef struct
{
  TestMachine *machine;
  unsigned slot;
  uint64_t common; /* guest addresses of the virtio structures */
  uint64_t isr;
  uint64_t device;
  uint32_t device_length;
  uint64_t notify;
  uint32_t notify_length;
  uint32_t notify_multiplier;
  unsigned msix_cap; /* configuration-space offset of the MSI-X capability */
  unsigned msix_vectors;
  uint64_t msix_table;
  uint64_t msix_pba;
} TestDriver;

/* Walks the device's capabilities, asserting that they are what a driver needs. */
void test_driver_probe (TestDriver *d, TestMachine *m, unsigned slot);

uint64_t test_common_read (TestDriver *d, unsigned offset, unsigned len);
void test_common_write (TestDriver *d, unsigned offset, unsigned len, uint64_t value);
uint8_t test_driver_status (TestDriver *d);
void test_driver_set_status (TestDriver *d, uint8_t status);
/* The features the device offers: both halves of device_feature. */
uint64_t test_driver_device_features (TestDriver *d);
/* Reset, ACKNOWLEDGE, DRIVER, the features, FEATURES_OK; TRUE when FEATURES_OK stuck. */
gboolean test_driver_negotiate (TestDriver *d, uint64_t features);
/* Points MSI-X vector @vector at the test MSI address with @data and unmasks it; turns MSI-X on. */
void test_driver_set_msix (TestDriver *d, unsigned vector, uint32_t data);
void test_driver_mask_msix (TestDriver *d, unsigned vector, gboolean masked);

/* A split ring the driver keeps in guest RAM (at @base: descriptors, avail ring, used ring). */
typedef struct
{
  TestDriver *driver;
  unsigned index;
  uint16_t size;
  uint64_t desc;
  uint64_t avail;
  uint64_t used;
  uint16_t avail_idx;
  uint16_t last_used;
  uint16_t next_desc;
} TestQueue;

/* Programs queue @index (size, areas, vector) and enables it. */
void test_queue_setup (TestQueue *q, TestDriver *d, unsigned index, uint16_t size, uint64_t base,
                       uint16_t vector);
/* Makes a one-buffer chain available; returns its head. */
uint16_t test_queue_add (TestQueue *q, uint64_t addr, uint32_t len, gboolean writable);
/* Makes a chain of a readable and a writable buffer available; returns its head. */
uint16_t test_queue_add_pair (TestQueue *q, uint64_t out_addr, uint32_t out_len, uint64_t in_addr,
                              uint32_t in_len);
/* One buffer of a chain. */
typedef struct
{
  uint64_t addr;
  uint32_t len;
  gboolean writable;
} TestBuffer;

/* Makes a chain of @n buffers (in order, readable ones and writable ones as the caller lists them,
 * right or wrong) available; returns its head. */
uint16_t test_queue_add_chain (TestQueue *q, const TestBuffer *buffers, unsigned n);
/* The driver's notification: a 16-bit write of the queue index to its doorbell (@len 4 to miss the
 * ioeventfd, as a driver using another width would). */
void test_queue_kick (TestQueue *q, unsigned len);
/* The next used entry, if any. */
gboolean test_queue_get_used (TestQueue *q, uint32_t *id, uint32_t *len);
