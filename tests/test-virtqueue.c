/* test-virtqueue.c — split virtqueues against hand-built rings in a fake guest memory: chains, indirect
 * tables, notification suppression, and every kind of broken ring (addresses outside RAM, loops, huge
 * lengths, bad indices), which must be refused without touching anything outside guest RAM. */
#include "memory.h"
#include "test-util.h"
#include "virtio/virtio.h"

#include <string.h>

#define RAM_SIZE    (2u << 20)
#define QUEUE_SIZE  16
#define DESC_ADDR   0x1000
#define AVAIL_ADDR  0x2000
#define USED_ADDR   0x3000
#define TABLE_ADDR  0x4000 /* indirect tables */
#define BUFFER_ADDR 0x10000

#define ALL_FEATURES                                                                                         \
  (HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1) | HV_VIRTIO_FEATURE (HV_VIRTIO_F_INDIRECT_DESC)                 \
   | HV_VIRTIO_FEATURE (HV_VIRTIO_F_EVENT_IDX))

typedef struct
{
  HvMemory mem;
  HvVirtqueue vq;
  uint16_t avail_idx;
} Fixture;

static uint8_t *
guest (Fixture *f, uint64_t gpa, uint64_t len)
{
  uint8_t *p = hv_memory_ptr (&f->mem, gpa, len);
  g_assert_nonnull (p);
  return p;
}

static void
put16 (Fixture *f, uint64_t gpa, uint16_t value)
{
  uint16_t le = GUINT16_TO_LE (value);
  memcpy (guest (f, gpa, 2), &le, 2);
}

static uint16_t
get16 (Fixture *f, uint64_t gpa)
{
  uint16_t le;
  memcpy (&le, guest (f, gpa, 2), 2);
  return GUINT16_FROM_LE (le);
}

static uint32_t
get32 (Fixture *f, uint64_t gpa)
{
  uint32_t le;
  memcpy (&le, guest (f, gpa, 4), 4);
  return GUINT32_FROM_LE (le);
}

static void
put_desc (Fixture *f, uint64_t table, unsigned index, uint64_t addr, uint32_t len, uint16_t flags,
          uint16_t next)
{
  uint8_t raw[16];
  uint64_t addr_le = GUINT64_TO_LE (addr);
  uint32_t len_le = GUINT32_TO_LE (len);
  uint16_t flags_le = GUINT16_TO_LE (flags);
  uint16_t next_le = GUINT16_TO_LE (next);

  memcpy (raw, &addr_le, 8);
  memcpy (raw + 8, &len_le, 4);
  memcpy (raw + 12, &flags_le, 2);
  memcpy (raw + 14, &next_le, 2);
  memcpy (guest (f, table + 16ull * index, 16), raw, 16);
}

/* The driver side of §2.7.13: the head goes into the ring, then the index moves. */
static void
make_available (Fixture *f, uint16_t head)
{
  put16 (f, AVAIL_ADDR + 4 + 2 * (f->avail_idx % QUEUE_SIZE), head);
  f->avail_idx++;
  put16 (f, AVAIL_ADDR + 2, f->avail_idx);
}

static void
start (Fixture *f, uint64_t features)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (hv_virtqueue_start (&f->vq, QUEUE_SIZE, DESC_ADDR, AVAIL_ADDR, USED_ADDR, features, &error));
  g_assert_no_error (error);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (hv_memory_init (&f->mem, RAM_SIZE, &error));
  hv_virtqueue_init (&f->vq, &f->mem, 3);
  f->avail_idx = 0;
  start (f, ALL_FEATURES);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  hv_memory_clear (&f->mem);
}

/* Pops, expecting the driver's error; the queue is then broken and stays so. */
static void
assert_refused (Fixture *f, const char *why)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HvVirtqueueElement) elem = hv_virtqueue_pop (&f->vq, &error);

  g_assert_null (elem);
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  if (g_test_verbose ())
    g_test_message ("%s: %s", why, error->message);
  g_assert_true (f->vq.broken);
  g_assert_cmpuint (hv_virtqueue_available (&f->vq), ==, 0);
  g_clear_error (&error);
  /* Nothing more comes out of a broken queue, and nothing is consumed. */
  g_assert_null (hv_virtqueue_pop (&f->vq, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (f->vq.last_avail_idx, ==, 0);
  g_assert_cmpuint (get16 (f, USED_ADDR + 2), ==, 0);
}

static void
test_start_checks (Fixture *f, gconstpointer data)
{
  static const struct
  {
    uint16_t size;
    uint64_t desc, avail, used;
  } bad[] = {
    { 0, DESC_ADDR, AVAIL_ADDR, USED_ADDR },
    { 12, DESC_ADDR, AVAIL_ADDR, USED_ADDR },               /* not a power of two */
    { QUEUE_SIZE, DESC_ADDR + 8, AVAIL_ADDR, USED_ADDR },   /* descriptors 16-byte aligned */
    { QUEUE_SIZE, DESC_ADDR, AVAIL_ADDR + 1, USED_ADDR },   /* avail 2-byte aligned */
    { QUEUE_SIZE, DESC_ADDR, AVAIL_ADDR, USED_ADDR + 2 },   /* used 4-byte aligned */
    { QUEUE_SIZE, RAM_SIZE, AVAIL_ADDR, USED_ADDR },        /* outside RAM */
    { QUEUE_SIZE, DESC_ADDR, RAM_SIZE - 8, USED_ADDR },     /* runs past the end of RAM */
    { QUEUE_SIZE, DESC_ADDR, AVAIL_ADDR, G_MAXUINT64 - 3 }, /* wraps around */
    { 32768, DESC_ADDR, AVAIL_ADDR, RAM_SIZE - 0x1000 },    /* the largest queue's used ring is 256 KiB */
  };
  g_autoptr (GError) error = NULL;

  hv_virtqueue_stop (&f->vq);
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_clear_error (&error);
      g_assert_false (hv_virtqueue_start (&f->vq, bad[i].size, bad[i].desc, bad[i].avail, bad[i].used,
                                          ALL_FEATURES, &error));
      g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
      g_assert_false (hv_virtqueue_is_ready (&f->vq));
    }
  g_clear_error (&error);

  /* The largest queue fits when its areas do. */
  g_assert_true (hv_virtqueue_start (&f->vq, 32768, DESC_ADDR, 0x100000, 0x180000, ALL_FEATURES, &error));
  g_assert_no_error (error);
  g_assert_true (hv_virtqueue_is_ready (&f->vq));
  hv_virtqueue_stop (&f->vq);

  /* A stopped queue gives nothing and takes nothing. */
  g_assert_null (hv_virtqueue_pop (&f->vq, NULL));
  g_assert_cmpuint (hv_virtqueue_available (&f->vq), ==, 0);
  g_assert_false (hv_virtqueue_should_notify (&f->vq));
}

static void
test_chain (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HvVirtqueueElement) elem = NULL;
  uint8_t header[12];
  uint8_t readback[12];

  memcpy (guest (f, BUFFER_ADDR, 4), "head", 4);
  memcpy (guest (f, BUFFER_ADDR + 0x100, 8), "er bytes", 8);
  /* 5 → 2 → 9: two readable buffers, then one writable. */
  put_desc (f, DESC_ADDR, 5, BUFFER_ADDR, 4, HV_VRING_DESC_F_NEXT, 2);
  put_desc (f, DESC_ADDR, 2, BUFFER_ADDR + 0x100, 8, HV_VRING_DESC_F_NEXT, 9);
  put_desc (f, DESC_ADDR, 9, BUFFER_ADDR + 0x200, 32, HV_VRING_DESC_F_WRITE, 0);
  make_available (f, 5);
  g_assert_cmpuint (hv_virtqueue_available (&f->vq), ==, 1);

  elem = hv_virtqueue_pop (&f->vq, &error);
  g_assert_no_error (error);
  g_assert_nonnull (elem);
  g_assert_cmpuint (elem->head, ==, 5);
  g_assert_cmpuint (elem->n_out, ==, 2);
  g_assert_cmpuint (elem->n_in, ==, 1);
  g_assert_cmpuint (elem->out_bytes, ==, 12);
  g_assert_cmpuint (elem->in_bytes, ==, 32);
  g_assert_true (elem->iov[0].iov_base == guest (f, BUFFER_ADDR, 4));
  g_assert_true (elem->iov[2].iov_base == guest (f, BUFFER_ADDR + 0x200, 32));
  g_assert_cmpuint (hv_virtqueue_available (&f->vq), ==, 0);

  /* Reads gather across the readable buffers, from any offset; the writable one is not read. */
  g_assert_cmpuint (hv_virtqueue_element_read (elem, 0, header, sizeof header), ==, 12);
  g_assert_cmpmem (header, 12, "header bytes", 12);
  g_assert_cmpuint (hv_virtqueue_element_read (elem, 6, header, sizeof header), ==, 6);
  g_assert_cmpmem (header, 6, " bytes", 6);
  /* Writes go to the writable buffer only, cut to its size. */
  g_assert_cmpuint (hv_virtqueue_element_write (elem, 0, "answer", 6), ==, 6);
  g_assert_cmpmem (guest (f, BUFFER_ADDR + 0x200, 6), 6, "answer", 6);
  g_assert_cmpmem (guest (f, BUFFER_ADDR, 4), 4, "head", 4);
  g_assert_cmpuint (hv_virtqueue_element_write (elem, 30, "overflow", 8), ==, 2);
  memcpy (readback, guest (f, BUFFER_ADDR + 0x200 + 30, 2), 2);
  g_assert_cmpmem (readback, 2, "ov", 2);

  /* Nothing more until the driver adds something. */
  g_assert_null (hv_virtqueue_pop (&f->vq, &error));
  g_assert_no_error (error);

  /* The used ring gets the head and the length, which cannot exceed the writable bytes. */
  hv_virtqueue_push (&f->vq, elem, 1000);
  g_assert_cmpuint (get16 (f, USED_ADDR + 2), ==, 1);
  g_assert_cmpuint (get32 (f, USED_ADDR + 4), ==, 5);
  g_assert_cmpuint (get32 (f, USED_ADDR + 8), ==, 32);

  /* Indices wrap: many chains later the ring position follows idx % size. */
  for (unsigned round = 0; round < 3 * QUEUE_SIZE; round++)
    {
      g_autoptr (HvVirtqueueElement) next = NULL;

      put_desc (f, DESC_ADDR, round % QUEUE_SIZE, BUFFER_ADDR, 1, HV_VRING_DESC_F_WRITE, 0);
      make_available (f, (uint16_t) (round % QUEUE_SIZE));
      next = hv_virtqueue_pop (&f->vq, &error);
      g_assert_no_error (error);
      g_assert_nonnull (next);
      g_assert_cmpuint (next->head, ==, round % QUEUE_SIZE);
      hv_virtqueue_push (&f->vq, next, 1);
    }
  g_assert_cmpuint (get16 (f, USED_ADDR + 2), ==, 1 + 3 * QUEUE_SIZE);
}

static void
test_indirect (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HvVirtqueueElement) elem = NULL;

  /* One direct readable descriptor, then an indirect table of three: 0 → 2 → 1 inside the table. */
  put_desc (f, TABLE_ADDR, 0, BUFFER_ADDR, 16, HV_VRING_DESC_F_NEXT, 2);
  put_desc (f, TABLE_ADDR, 2, BUFFER_ADDR + 0x100, 16, HV_VRING_DESC_F_NEXT | HV_VRING_DESC_F_WRITE, 1);
  put_desc (f, TABLE_ADDR, 1, BUFFER_ADDR + 0x200, 64, HV_VRING_DESC_F_WRITE, 0);
  put_desc (f, DESC_ADDR, 7, BUFFER_ADDR + 0x300, 8, HV_VRING_DESC_F_NEXT, 8);
  /* The write flag of the descriptor naming the table means nothing (§2.7.5.3.2). */
  put_desc (f, DESC_ADDR, 8, TABLE_ADDR, 3 * 16, HV_VRING_DESC_F_INDIRECT | HV_VRING_DESC_F_WRITE, 0);
  make_available (f, 7);

  elem = hv_virtqueue_pop (&f->vq, &error);
  g_assert_no_error (error);
  g_assert_nonnull (elem);
  g_assert_cmpuint (elem->head, ==, 7);
  g_assert_cmpuint (elem->n_out, ==, 2);
  g_assert_cmpuint (elem->n_in, ==, 2);
  g_assert_cmpuint (elem->out_bytes, ==, 24);
  g_assert_cmpuint (elem->in_bytes, ==, 80);
  g_assert_true (elem->iov[0].iov_base == guest (f, BUFFER_ADDR + 0x300, 8));
  g_assert_true (elem->iov[1].iov_base == guest (f, BUFFER_ADDR, 16));
  g_assert_true (elem->iov[3].iov_base == guest (f, BUFFER_ADDR + 0x200, 64));
}

/* Each case builds a chain at head 0 of a fresh queue and expects it refused. */
typedef void (*BuildChain) (Fixture *f);

static void
refuse_each (Fixture *f, const BuildChain *builders, gsize n, uint64_t features)
{
  for (gsize i = 0; i < n; i++)
    {
      memset (guest (f, DESC_ADDR, 0x4000), 0, 0x4000); /* the rings and the indirect table */
      hv_virtqueue_stop (&f->vq);
      f->avail_idx = 0;
      start (f, features);
      builders[i](f);
      make_available (f, 0);
      assert_refused (f, "case");
    }
}

static void
indirect_not_negotiated (Fixture *f)
{
  put_desc (f, TABLE_ADDR, 0, BUFFER_ADDR, 16, 0, 0);
  put_desc (f, DESC_ADDR, 0, TABLE_ADDR, 16, HV_VRING_DESC_F_INDIRECT, 0);
}

static void
indirect_nested (Fixture *f)
{
  put_desc (f, TABLE_ADDR, 0, TABLE_ADDR + 0x100, 16, HV_VRING_DESC_F_INDIRECT, 0);
  put_desc (f, TABLE_ADDR + 0x100, 0, BUFFER_ADDR, 16, 0, 0);
  put_desc (f, DESC_ADDR, 0, TABLE_ADDR, 16, HV_VRING_DESC_F_INDIRECT, 0);
}

static void
indirect_with_next (Fixture *f)
{
  put_desc (f, TABLE_ADDR, 0, BUFFER_ADDR, 16, 0, 0);
  put_desc (f, DESC_ADDR, 0, TABLE_ADDR, 16, HV_VRING_DESC_F_INDIRECT | HV_VRING_DESC_F_NEXT, 1);
  put_desc (f, DESC_ADDR, 1, BUFFER_ADDR, 16, 0, 0);
}

static void
indirect_odd_length (Fixture *f)
{
  put_desc (f, DESC_ADDR, 0, TABLE_ADDR, 24, HV_VRING_DESC_F_INDIRECT, 0);
}

static void
indirect_empty (Fixture *f)
{
  put_desc (f, DESC_ADDR, 0, TABLE_ADDR, 0, HV_VRING_DESC_F_INDIRECT, 0);
}

static void
indirect_outside_ram (Fixture *f)
{
  put_desc (f, DESC_ADDR, 0, RAM_SIZE - 16, 32, HV_VRING_DESC_F_INDIRECT, 0);
}

static void
indirect_too_many (Fixture *f)
{
  /* 2000 entries chained one after the other: more buffers than any chain may have. */
  for (unsigned i = 0; i < 2000; i++)
    put_desc (f, 0x100000, i, BUFFER_ADDR, 1, HV_VRING_DESC_F_NEXT, (uint16_t) (i + 1));
  put_desc (f, DESC_ADDR, 0, 0x100000, 2000 * 16, HV_VRING_DESC_F_INDIRECT, 0);
}

static void
indirect_next_past_table (Fixture *f)
{
  put_desc (f, TABLE_ADDR, 0, BUFFER_ADDR, 16, HV_VRING_DESC_F_NEXT, 2);
  put_desc (f, DESC_ADDR, 0, TABLE_ADDR, 2 * 16, HV_VRING_DESC_F_INDIRECT, 0);
}

static void
indirect_loop (Fixture *f)
{
  put_desc (f, TABLE_ADDR, 0, BUFFER_ADDR, 16, HV_VRING_DESC_F_NEXT, 1);
  put_desc (f, TABLE_ADDR, 1, BUFFER_ADDR, 16, HV_VRING_DESC_F_NEXT, 0);
  put_desc (f, DESC_ADDR, 0, TABLE_ADDR, 2 * 16, HV_VRING_DESC_F_INDIRECT, 0);
}

static void
test_indirect_refused (Fixture *f, gconstpointer data)
{
  static const BuildChain cases[] = {
    indirect_nested,      indirect_with_next, indirect_odd_length,      indirect_empty,
    indirect_outside_ram, indirect_too_many,  indirect_next_past_table, indirect_loop,
  };
  static const BuildChain without_feature[] = { indirect_not_negotiated };

  refuse_each (f, cases, G_N_ELEMENTS (cases), ALL_FEATURES);
  refuse_each (f, without_feature, 1, HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1));
}

static void
buffer_past_ram (Fixture *f)
{
  put_desc (f, DESC_ADDR, 0, RAM_SIZE, 1, 0, 0);
}

static void
buffer_straddling_ram_end (Fixture *f)
{
  put_desc (f, DESC_ADDR, 0, RAM_SIZE - 8, 16, HV_VRING_DESC_F_WRITE, 0);
}

static void
buffer_wrapping (Fixture *f)
{
  /* addr + len overflows 64 bits and would land at a small address. */
  put_desc (f, DESC_ADDR, 0, G_MAXUINT64 - 7, 0x1000, 0, 0);
}

static void
buffer_in_pci_hole (Fixture *f)
{
  put_desc (f, DESC_ADDR, 0, 0xFEE00000ull, 4, HV_VRING_DESC_F_WRITE, 0);
}

static void
buffer_huge (Fixture *f)
{
  put_desc (f, DESC_ADDR, 0, BUFFER_ADDR, G_MAXUINT32, HV_VRING_DESC_F_WRITE, 0);
}

static void
second_buffer_outside_ram (Fixture *f)
{
  put_desc (f, DESC_ADDR, 0, BUFFER_ADDR, 16, HV_VRING_DESC_F_NEXT, 1);
  put_desc (f, DESC_ADDR, 1, 0x40000000ull, 16, HV_VRING_DESC_F_WRITE, 0);
}

static void
self_loop (Fixture *f)
{
  put_desc (f, DESC_ADDR, 0, BUFFER_ADDR, 16, HV_VRING_DESC_F_NEXT, 0);
}

static void
two_loop (Fixture *f)
{
  put_desc (f, DESC_ADDR, 0, BUFFER_ADDR, 16, HV_VRING_DESC_F_NEXT, 1);
  put_desc (f, DESC_ADDR, 1, BUFFER_ADDR, 16, HV_VRING_DESC_F_NEXT, 0);
}

static void
long_loop (Fixture *f)
{
  for (unsigned i = 0; i < QUEUE_SIZE; i++)
    put_desc (f, DESC_ADDR, i, BUFFER_ADDR, 16, HV_VRING_DESC_F_NEXT, (uint16_t) ((i + 1) % QUEUE_SIZE));
}

static void
next_past_table (Fixture *f)
{
  put_desc (f, DESC_ADDR, 0, BUFFER_ADDR, 16, HV_VRING_DESC_F_NEXT, QUEUE_SIZE);
}

static void
readable_after_writable (Fixture *f)
{
  put_desc (f, DESC_ADDR, 0, BUFFER_ADDR, 16, HV_VRING_DESC_F_NEXT | HV_VRING_DESC_F_WRITE, 1);
  put_desc (f, DESC_ADDR, 1, BUFFER_ADDR, 16, 0, 0);
}

static void
test_bad_chains (Fixture *f, gconstpointer data)
{
  static const BuildChain cases[] = {
    buffer_past_ram,
    buffer_straddling_ram_end,
    buffer_wrapping,
    buffer_in_pci_hole,
    buffer_huge,
    second_buffer_outside_ram,
    self_loop,
    two_loop,
    long_loop,
    next_past_table,
    readable_after_writable,
  };

  refuse_each (f, cases, G_N_ELEMENTS (cases), ALL_FEATURES);

  /* A loop is found as one as soon as the chain is longer than its table, not after 1024 buffers. */
  {
    g_autoptr (GError) error = NULL;

    memset (guest (f, DESC_ADDR, 0x4000), 0, 0x4000);
    hv_virtqueue_stop (&f->vq);
    f->avail_idx = 0;
    start (f, ALL_FEATURES);
    two_loop (f);
    make_available (f, 0);
    g_assert_null (hv_virtqueue_pop (&f->vq, &error));
    g_assert_nonnull (error);
    g_assert_nonnull (strstr (error->message, "loops"));
  }
}

static void
test_full_length_chain (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HvVirtqueueElement) elem = NULL;

  /* Every descriptor of the table in one chain is long but legal; one more would be a loop. */
  for (unsigned i = 0; i < QUEUE_SIZE; i++)
    put_desc (f, DESC_ADDR, i, BUFFER_ADDR + i, 1, i + 1 < QUEUE_SIZE ? HV_VRING_DESC_F_NEXT : 0,
              (uint16_t) (i + 1));
  make_available (f, 0);
  elem = hv_virtqueue_pop (&f->vq, &error);
  g_assert_no_error (error);
  g_assert_nonnull (elem);
  g_assert_cmpuint (elem->n_out, ==, QUEUE_SIZE);
  g_assert_cmpuint (elem->out_bytes, ==, QUEUE_SIZE);
}

static void
test_bad_indices (Fixture *f, gconstpointer data)
{
  /* A head past the table. */
  put_desc (f, DESC_ADDR, 0, BUFFER_ADDR, 16, 0, 0);
  put16 (f, AVAIL_ADDR + 4, QUEUE_SIZE);
  put16 (f, AVAIL_ADDR + 2, 1);
  assert_refused (f, "head past the table");

  /* More entries available than the ring holds. */
  hv_virtqueue_stop (&f->vq);
  start (f, ALL_FEATURES);
  put16 (f, AVAIL_ADDR + 4, 0);
  put16 (f, AVAIL_ADDR + 2, QUEUE_SIZE + 1);
  g_assert_cmpuint (hv_virtqueue_available (&f->vq), ==, QUEUE_SIZE + 1);
  assert_refused (f, "idx too far ahead");

  /* An index that went backwards looks the same: 65535 entries ahead. */
  hv_virtqueue_stop (&f->vq);
  start (f, ALL_FEATURES);
  put16 (f, AVAIL_ADDR + 2, 0xffff);
  assert_refused (f, "idx backwards");

  /* Starting again (a device reset) makes the queue usable. */
  hv_virtqueue_stop (&f->vq);
  start (f, ALL_FEATURES);
  put16 (f, AVAIL_ADDR + 2, 0);
  f->avail_idx = 0;
  make_available (f, 0);
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (HvVirtqueueElement) elem = hv_virtqueue_pop (&f->vq, &error);
    g_assert_no_error (error);
    g_assert_nonnull (elem);
  }
}

static void
test_notify_flags (Fixture *f, gconstpointer data)
{
  g_autoptr (HvVirtqueueElement) elem = NULL;

  hv_virtqueue_stop (&f->vq);
  start (f, HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1));
  put_desc (f, DESC_ADDR, 0, BUFFER_ADDR, 8, HV_VRING_DESC_F_WRITE, 0);
  make_available (f, 0);
  make_available (f, 0);
  elem = hv_virtqueue_pop (&f->vq, NULL);
  g_assert_nonnull (elem);

  /* Without event index, the avail ring's flag decides. */
  hv_virtqueue_push (&f->vq, elem, 8);
  g_assert_true (hv_virtqueue_should_notify (&f->vq));
  put16 (f, AVAIL_ADDR, HV_VRING_AVAIL_F_NO_INTERRUPT);
  hv_virtqueue_push (&f->vq, elem, 8);
  g_assert_false (hv_virtqueue_should_notify (&f->vq));
  /* And the device never writes avail_event then. */
  g_assert_cmpuint (get16 (f, USED_ADDR + 4 + 8 * QUEUE_SIZE), ==, 0);
}

static void
test_event_idx (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  put_desc (f, DESC_ADDR, 0, BUFFER_ADDR, 8, HV_VRING_DESC_F_WRITE, 0);
  for (unsigned i = 0; i < 4; i++)
    make_available (f, 0);

  /* avail_event follows what the device has taken, so the driver notifies for the next one. */
  for (unsigned i = 1; i <= 4; i++)
    {
      g_autoptr (HvVirtqueueElement) elem = hv_virtqueue_pop (&f->vq, &error);
      g_assert_nonnull (elem);
      g_assert_cmpuint (get16 (f, USED_ADDR + 4 + 8 * QUEUE_SIZE), ==, i);
      hv_virtqueue_push (&f->vq, elem, 8);
    }
  g_assert_null (hv_virtqueue_pop (&f->vq, &error));
  g_assert_no_error (error);

  /* The first interrupt is always sent; then only when used_idx passes used_event. */
  put16 (f, AVAIL_ADDR + 4 + 2 * QUEUE_SIZE, 0);
  g_assert_true (hv_virtqueue_should_notify (&f->vq));  /* used 4, nothing sent yet */
  g_assert_false (hv_virtqueue_should_notify (&f->vq)); /* nothing new */

  /* The driver wants an interrupt once entry 6 is used (used_event 5 means "after idx passes 5"). */
  put16 (f, AVAIL_ADDR + 4 + 2 * QUEUE_SIZE, 5);
  for (unsigned i = 0; i < 3; i++)
    make_available (f, 0);
  {
    g_autoptr (HvVirtqueueElement) a = hv_virtqueue_pop (&f->vq, NULL);
    hv_virtqueue_push (&f->vq, a, 8); /* used 5 */
  }
  g_assert_false (hv_virtqueue_should_notify (&f->vq));
  {
    g_autoptr (HvVirtqueueElement) b = hv_virtqueue_pop (&f->vq, NULL);
    hv_virtqueue_push (&f->vq, b, 8); /* used 6 */
  }
  g_assert_true (hv_virtqueue_should_notify (&f->vq));
  {
    g_autoptr (HvVirtqueueElement) c = hv_virtqueue_pop (&f->vq, NULL);
    hv_virtqueue_push (&f->vq, c, 8); /* used 7: used_event 5 was passed already */
  }
  g_assert_false (hv_virtqueue_should_notify (&f->vq));
}

/* Asking the driver to be quiet (an I/O thread polling the ring): without event index the used ring's
 * NO_NOTIFY flag, set and cleared again, and cleared when the queue starts; the driver's other flag bits
 * are the device's own and stay as they are. */
static void
test_quiet_flag (Fixture *f, gconstpointer data)
{
  hv_virtqueue_stop (&f->vq);
  put16 (f, USED_ADDR, HV_VRING_USED_F_NO_NOTIFY | 0x8000);
  start (f, HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1));
  g_assert_cmphex (get16 (f, USED_ADDR), ==, 0x8000);

  hv_virtqueue_set_notification (&f->vq, FALSE);
  g_assert_cmphex (get16 (f, USED_ADDR), ==, 0x8000 | HV_VRING_USED_F_NO_NOTIFY);
  hv_virtqueue_set_notification (&f->vq, FALSE);
  g_assert_cmphex (get16 (f, USED_ADDR), ==, 0x8000 | HV_VRING_USED_F_NO_NOTIFY);
  hv_virtqueue_set_notification (&f->vq, TRUE);
  g_assert_cmphex (get16 (f, USED_ADDR), ==, 0x8000);

  /* A stopped queue has no ring to write to. */
  hv_virtqueue_stop (&f->vq);
  hv_virtqueue_set_notification (&f->vq, FALSE);
  g_assert_cmphex (get16 (f, USED_ADDR), ==, 0x8000);
}

/* With event index: while quiet, taking buffers leaves avail_event behind, so the driver, having
 * passed it, notifies no more; turning notifications on asks for one at the next buffer. */
static void
test_quiet_event_idx (Fixture *f, gconstpointer data)
{
  const uint64_t avail_event = USED_ADDR + 4 + 8 * QUEUE_SIZE;

  put_desc (f, DESC_ADDR, 0, BUFFER_ADDR, 8, HV_VRING_DESC_F_WRITE, 0);
  make_available (f, 0);
  {
    g_autoptr (HvVirtqueueElement) elem = hv_virtqueue_pop (&f->vq, NULL);
    g_assert_nonnull (elem);
  }
  g_assert_cmpuint (get16 (f, avail_event), ==, 1);

  hv_virtqueue_set_notification (&f->vq, FALSE);
  g_assert_cmphex (get16 (f, USED_ADDR), ==, 0); /* no flag with event index */
  for (unsigned i = 0; i < 3; i++)
    {
      g_autoptr (HvVirtqueueElement) elem = NULL;

      make_available (f, 0);
      elem = hv_virtqueue_pop (&f->vq, NULL);
      g_assert_nonnull (elem);
      g_assert_cmpuint (get16 (f, avail_event), ==, 1);
    }
  hv_virtqueue_unpop (&f->vq, 1);
  g_assert_cmpuint (get16 (f, avail_event), ==, 1);

  /* Two more the device has not taken yet: notifications resume from the driver's index. */
  make_available (f, 0);
  make_available (f, 0);
  hv_virtqueue_set_notification (&f->vq, TRUE);
  g_assert_cmpuint (get16 (f, avail_event), ==, 6);
  {
    g_autoptr (HvVirtqueueElement) elem = hv_virtqueue_pop (&f->vq, NULL);
    g_assert_nonnull (elem);
  }
  g_assert_cmpuint (get16 (f, avail_event), ==, 4);
}

/* Whatever the driver writes, every buffer handed out lies in guest RAM. */
static void
test_garbage (Fixture *f, gconstpointer data)
{
  uint8_t *ram_start = guest (f, 0, RAM_SIZE);
  uint8_t *ram_end = ram_start + RAM_SIZE;
  unsigned popped = 0, refused = 0;

  for (unsigned round = 0; round < 3000; round++)
    {
      uint64_t features = g_test_rand_bit () ? ALL_FEATURES : HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1);

      hv_virtqueue_stop (&f->vq);
      start (f, features);
      for (unsigned i = 0; i < QUEUE_SIZE; i++)
        {
          /* Addresses mostly near RAM's end and the table, lengths mostly small, some absurd. */
          uint64_t addr = g_test_rand_bit () ? (uint64_t) g_test_rand_int_range (0, RAM_SIZE + 0x2000)
                                             : ((uint64_t) (uint32_t) g_test_rand_int () << 32
                                                | (uint32_t) g_test_rand_int ());
          uint32_t len = g_test_rand_bit () ? (uint32_t) g_test_rand_int_range (0, 0x3000)
                                            : (uint32_t) g_test_rand_int ();
          uint16_t flags = (uint16_t) g_test_rand_int_range (0, 8);
          uint16_t next = (uint16_t) g_test_rand_int_range (0, 2 * QUEUE_SIZE);

          if (flags & HV_VRING_DESC_F_INDIRECT && g_test_rand_bit ())
            addr = DESC_ADDR; /* the ring's own table as an indirect one */
          put_desc (f, DESC_ADDR, i, addr, len, flags, next);
          put16 (f, AVAIL_ADDR + 4 + 2 * i, (uint16_t) g_test_rand_int_range (0, QUEUE_SIZE + 2));
        }
      put16 (f, AVAIL_ADDR + 2, (uint16_t) g_test_rand_int_range (0, 2 * QUEUE_SIZE));

      for (;;)
        {
          g_autoptr (GError) error = NULL;
          g_autoptr (HvVirtqueueElement) elem = hv_virtqueue_pop (&f->vq, &error);

          if (elem == NULL)
            {
              refused += error != NULL;
              break;
            }
          popped++;
          g_assert_cmpuint (elem->n_out + elem->n_in, <=, HV_VIRTQUEUE_MAX_SEGMENTS);
          for (unsigned i = 0; i < elem->n_out + elem->n_in; i++)
            {
              uint8_t *base = elem->iov[i].iov_base;
              g_assert_true (base >= ram_start && base <= ram_end);
              g_assert_cmpuint (elem->iov[i].iov_len, <=, (gsize) (ram_end - base));
            }
          hv_virtqueue_push (&f->vq, elem, (uint32_t) g_test_rand_int ());
          g_assert_cmpuint (get32 (f, USED_ADDR + 4 + 8 * ((f->vq.used_idx - 1) % QUEUE_SIZE) + 4), <=,
                            elem->in_bytes);
        }
    }
  /* Both outcomes happened, or the test did not test much. */
  g_assert_cmpuint (popped, >, 0);
  g_assert_cmpuint (refused, >, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/virtqueue/start-checks", test_start_checks);
  ADD ("/virtqueue/chain", test_chain);
  ADD ("/virtqueue/indirect", test_indirect);
  ADD ("/virtqueue/indirect-refused", test_indirect_refused);
  ADD ("/virtqueue/bad-chains", test_bad_chains);
  ADD ("/virtqueue/full-length-chain", test_full_length_chain);
  ADD ("/virtqueue/bad-indices", test_bad_indices);
  ADD ("/virtqueue/notify-flags", test_notify_flags);
  ADD ("/virtqueue/event-idx", test_event_idx);
  ADD ("/virtqueue/quiet-flag", test_quiet_flag);
  ADD ("/virtqueue/quiet-event-idx", test_quiet_event_idx);
  ADD ("/virtqueue/garbage", test_garbage);
#undef ADD
  return g_test_run ();
}
