/* blk-bench.c — the virtio-blk load generator of vireo-bench's disk benchmark: the same ELF under
 * vireo-run and QEMU.  Where ring 0 is emulated (this host), a guest OS's block stack would dominate
 * the numbers; this guest instead drives the first disk's request queue straight from ring 3, with up
 * to 32 requests in flight, polling the used ring (no interrupts) and ringing the doorbell once per batch
 * of refills, so the guest costs little more than the doorbell exits every VMM pays alike.
 *
 * It runs these workloads in turn over the whole disk (which the host fills first: reads of unallocated
 * space would measure nothing), each announced and finished on COM1 for the host to time:
 *
 *   blk-bench: go NAME
 *   blk-bench: done NAME N
 *
 * randread-4k-qd1, randread-4k-qd32, randwrite-4k-qd1, randwrite-4k-qd32, seqread-1m-qd4,
 * seqwrite-1m-qd4.  N requests each: scale=S on the command line multiplies the default counts (2000,
 * 8000, 2000, 8000 and 256).  Any failure prints "blk-bench: FAIL ..." and powers off; the end is
 * "blk-bench: finished". */
#include "kit-private.h"

#define QUEUE        128
#define MAX_DEPTH    32
#define SEGMENT      (64 * 1024) /* vireo's SIZE_MAX: 1 MiB goes as 16 segments */
#define MAX_SEGMENTS 16
#define BUFFER_BYTES (4u << 20)
#define BLK_F_FLUSH  9
#define DESC_F_NEXT  1
#define T_IN         0
#define T_OUT        1
/* Several seconds at any clock rate: a request takes microseconds to milliseconds. */
#define TIMEOUT_CYCLES (1ull << 36)

typedef struct
{
  const char *name;
  bool write;
  bool sequential;
  uint32_t bytes;
  unsigned depth;
  unsigned count; /* at scale 1 */
} Workload;

static const Workload workloads[] = {
  { "randread-4k-qd1", false, false, 4096, 1, 2000 },  { "randread-4k-qd32", false, false, 4096, 32, 8000 },
  { "randwrite-4k-qd1", true, false, 4096, 1, 2000 },  { "randwrite-4k-qd32", true, false, 4096, 32, 8000 },
  { "seqread-1m-qd4", false, true, 1u << 20, 4, 256 }, { "seqwrite-1m-qd4", true, true, 1u << 20, 4, 256 },
};

static struct
{
  KitVirtqDesc desc[QUEUE] __attribute__ ((aligned (4096)));
  struct
  {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[QUEUE];
    uint16_t used_event;
  } avail __attribute__ ((aligned (64)));
  struct
  {
    uint16_t flags;
    uint16_t idx;
    struct
    {
      uint32_t id;
      uint32_t len;
    } ring[QUEUE];
    uint16_t avail_event;
  } used __attribute__ ((aligned (64)));
  uint8_t header[MAX_DEPTH][16];
  volatile uint8_t status[MAX_DEPTH];
} q;

static uint8_t data[BUFFER_BYTES] __attribute__ ((aligned (4096)));
static volatile uint16_t *doorbell;
static uint16_t queue_size, avail_idx, last_used;
static uint64_t capacity; /* sectors */
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static void
fail (const char *what, unsigned value)
{
  kit_printf ("blk-bench: FAIL %s (%u)\n", what, value);
  kit_poweroff ();
}

static uint64_t
next_random (void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static void
put_le (uint8_t *p, uint64_t value, unsigned bytes)
{
  for (unsigned i = 0; i < bytes; i++)
    p[i] = (uint8_t) (value >> (8 * i));
}

static void
init_disk (void)
{
  KitPciDevice pci;
  KitVirtioPci t;
  uint32_t features = 1u << BLK_F_FLUSH; /* write-back: QEMU and vireo alike flush only when told */
  const char *problem;

  if (!kit_pci_find (KIT_VIRTIO_VENDOR_ID, KIT_VIRTIO_BLK_DEVICE_ID, 0, &pci))
    fail ("no modern virtio-blk disk", 0);
  kit_pci_enable (&pci, KIT_PCI_COMMAND_MEMORY | KIT_PCI_COMMAND_MASTER);
  if (!kit_virtio_pci_find (&t, &pci, 8))
    fail ("no virtio-pci capabilities", 0);
  problem = kit_virtio_pci_negotiate (&t, &features);
  if (problem == NULL)
    problem = kit_virtio_pci_queue_size (&t, 0, QUEUE, QUEUE, &queue_size, &doorbell);
  if (problem != NULL)
    {
      kit_printf ("blk-bench: FAIL %s\n", problem);
      kit_poweroff ();
    }
  q.avail.flags = AVAIL_F_NO_INTERRUPT;
  kit_virtio_pci_queue_enable (&t, q.desc, &q.avail, &q.used);
  capacity = (uint64_t) read32 (t.device, 0) | (uint64_t) read32 (t.device, 4) << 32;
  problem = kit_virtio_pci_driver_ok (&t);
  if (problem != NULL)
    fail (problem, 0);
}

/* Slot @slot's request: descriptors from slot * per_slot, data at slot * bytes. */
static void
queue_request (const Workload *w, unsigned slot, unsigned per_slot, uint64_t sector)
{
  unsigned head = slot * per_slot, n = head;
  uint32_t left = w->bytes;
  uint8_t *buffer = data + (uint64_t) slot * w->bytes;

  put_le (q.header[slot], w->write ? T_OUT : T_IN, 4);
  put_le (q.header[slot] + 4, 0, 4);
  put_le (q.header[slot] + 8, sector, 8);
  q.status[slot] = 0xff;
  q.desc[n] = (KitVirtqDesc){ (uintptr_t) q.header[slot], 16, DESC_F_NEXT, (uint16_t) (n + 1) };
  n++;
  while (left > 0)
    {
      uint32_t len = left < SEGMENT ? left : SEGMENT;

      q.desc[n] = (KitVirtqDesc){ (uintptr_t) buffer, len,
                                  (uint16_t) (DESC_F_NEXT | (w->write ? 0 : DESC_F_WRITE)),
                                  (uint16_t) (n + 1) };
      buffer += len;
      left -= len;
      n++;
    }
  q.desc[n] = (KitVirtqDesc){ (uintptr_t) &q.status[slot], 1, DESC_F_WRITE, 0 };
  q.avail.ring[avail_idx % queue_size] = (uint16_t) head;
  avail_idx++;
}

static void
ring_doorbell (void)
{
  barrier ();
  q.avail.idx = avail_idx;
  __asm__ volatile("mfence" ::: "memory");
  if (!(q.used.flags & USED_F_NO_NOTIFY))
    *doorbell = 0;
}

static void
run_workload (const Workload *w, unsigned count)
{
  unsigned per_slot = 2 + (w->bytes + SEGMENT - 1) / SEGMENT;
  uint64_t sectors = w->bytes / 512, span = capacity / sectors, next = 0;
  unsigned issued = 0, completed = 0;

  if (span == 0)
    fail ("the disk is smaller than one request", w->bytes);
  if (w->depth * per_slot > queue_size || (uint64_t) w->depth * w->bytes > BUFFER_BYTES)
    fail ("the queue or buffers are too small for the depth", w->depth);
  kit_printf ("blk-bench: go %s\n", w->name);
  for (; issued < w->depth && issued < count; issued++)
    {
      queue_request (w, issued, per_slot, (w->sequential ? next++ % span : next_random () % span) * sectors);
    }
  ring_doorbell ();
  while (completed < count)
    {
      uint64_t start = kit_rdtsc ();
      unsigned refilled = 0;

      while (q.used.idx == last_used)
        {
          if (kit_rdtsc () - start > TIMEOUT_CYCLES)
            fail ("no answer from the disk", completed);
          cpu_pause ();
        }
      barrier ();
      while (last_used != q.used.idx)
        {
          unsigned slot = q.used.ring[last_used % queue_size].id / per_slot;

          last_used++;
          completed++;
          if (slot >= w->depth || q.status[slot] != 0)
            fail ("a request failed", slot < w->depth ? q.status[slot] : slot);
          if (issued < count)
            {
              queue_request (w, slot, per_slot,
                             (w->sequential ? next++ % span : next_random () % span) * sectors);
              issued++;
              refilled++;
            }
        }
      if (refilled > 0)
        ring_doorbell ();
    }
  kit_printf ("blk-bench: done %s %u\n", w->name, completed);
}

static long
run (void *arg)
{
  uint64_t scale = 1;

  (void) kit_cmdline_u64 ("scale", &scale);
  if (scale == 0 || scale > 1000)
    fail ("scale must be 1 to 1000", (unsigned) scale);
  init_disk ();
  kit_printf ("blk-bench: disk of %u MiB, queue of %u\n", (unsigned) (capacity >> 11), queue_size);
  for (uint32_t i = 0; i < BUFFER_BYTES; i++)
    data[i] = (uint8_t) (i * 131 + 7);
  for (unsigned i = 0; i < sizeof workloads / sizeof workloads[0]; i++)
    run_workload (&workloads[i], workloads[i].count * (unsigned) scale);
  kit_puts ("blk-bench: finished\n");
  kit_poweroff ();
}

void
guest_main (void)
{
  kit_run_user (run, NULL);
}
