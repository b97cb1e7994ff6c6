/* bochs-display-fixture.h — what the display adapter tests share (test-bochs-display.c,
 * test-bochs-display-memory.c): the device on a fake platform that records memory mappings and serves a dirty
 * log, and accessors for its PCI config, BARs and DISPI registers. */
#pragma once

#include "bochs-display.h"
#include "bus.h"
#include "layout.h"
#include "test-util.h"

#include <string.h>

#define PAGE      4096u
#define LONG_BITS (8 * sizeof (unsigned long))
#define LOG_LONGS ((HV_BOCHS_VRAM_SIZE / PAGE + LONG_BITS - 1) / LONG_BITS)

#define DISPI_ID               0x0
#define DISPI_XRES             0x1
#define DISPI_YRES             0x2
#define DISPI_BPP              0x3
#define DISPI_ENABLE           0x4
#define DISPI_BANK             0x5
#define DISPI_VIRT_WIDTH       0x6
#define DISPI_VIRT_HEIGHT      0x7
#define DISPI_X_OFFSET         0x8
#define DISPI_Y_OFFSET         0x9
#define DISPI_VIDEO_MEMORY_64K 0xa

typedef struct
{
  VireoTestPlatform tp; /* first: the recorder's callbacks take the platform's opaque as theirs */
  HvBus *mmio;
  HvPci *pci;
  HvBochsDisplay *bochs;

  /* The fake memory mapping: one slot at most, like the device asks for. */
  gboolean mapped;
  int slot;
  uint64_t gpa;
  uint64_t size;
  uint8_t *host;
  gboolean track_dirty;
  unsigned maps, moves, unmaps;
  gboolean refuse_moves;
  gboolean refuse_log;
  unsigned long log[LOG_LONGS]; /* what the next get_dirty_log reports */
  unsigned log_reads;
} Fixture;

int fake_map_memory (void *opaque, uint64_t gpa, uint64_t size, void *host, gboolean track_dirty,
                     GError **error);

gboolean fake_move_memory (void *opaque, int slot, uint64_t gpa, GError **error);

void fake_unmap_memory (void *opaque, int slot);

gboolean fake_get_dirty_log (void *opaque, int slot, unsigned long *bitmap, GError **error);

void mark_page (Fixture *f, unsigned page);

/* @data: GINT_TO_POINTER (TRUE) for a platform that maps memory, FALSE for one that only has a bus. */
void fixture_setup (Fixture *f, gconstpointer data);

void fixture_teardown (Fixture *f, gconstpointer data);

/* Configuration space through ports 0xCF8/0xCFC, like Linux's conf1 accessors. */
uint32_t config_read (Fixture *f, unsigned reg, unsigned len);

void config_write (Fixture *f, unsigned reg, unsigned len, uint32_t value);

uint64_t bar_address (Fixture *f, unsigned bar);

/* Guest accesses to physical memory, through the MMIO bus as a vCPU's exits reach it. */
uint64_t mmio_read (Fixture *f, uint64_t addr, unsigned len);

void mmio_write (Fixture *f, uint64_t addr, unsigned len, uint64_t value);

/* Linux's bochs_dispi_read/write with an MMIO BAR: 16-bit accesses at 0x500 + 2 * index. */
uint16_t dispi_read (Fixture *f, unsigned index);

void dispi_write (Fixture *f, unsigned index, uint16_t value);

/* The same through ports 0x1CE/0x1CF. */
uint16_t port_dispi_read (Fixture *f, unsigned index);

void port_dispi_write (Fixture *f, unsigned index, uint16_t value);

/* bochs_hw_setmode() followed by bochs_hw_setbase() for a framebuffer at offset 0. */
void linux_set_mode (Fixture *f, unsigned width, unsigned height);

HvDisplayMode get_mode (Fixture *f);

unsigned collect (Fixture *f, HvRect *rects, unsigned max_rects);

void assert_rect (const HvRect *rect, uint32_t x, uint32_t y, uint32_t width, uint32_t height);

/* The tests of test-bochs-display-memory.c; @add registers one with the fixture. */
typedef void (*BochsTestFunc) (Fixture *f, gconstpointer data);
void bochs_add_memory_tests (void (*add) (const char *path, BochsTestFunc func, gboolean mapped));
