/* virtqueue.c — the device side of split virtqueues (virtio 1.2 §2.7): taking descriptor chains (direct
 * and indirect) from the available ring, returning them on the used ring, and notification suppression
 * (flags or event index).
 *
 * The rings live in guest RAM, which the driver may change at any moment: every index, address and length
 * is read once into a local copy, checked, and only then used.  Nothing the driver writes can make this
 * code read or write outside guest RAM or loop without bound. */
#include "virtio.h"

#include <stdarg.h>
#include <string.h>

typedef struct
{
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
} Desc;

/* Byte offsets inside the rings. */
#define AVAIL_FLAGS    0
#define AVAIL_IDX      2
#define AVAIL_RING     4
#define USED_FLAGS     0
#define USED_IDX       2
#define USED_RING      4
#define USED_ELEM_SIZE 8

/* Ring fields are naturally aligned (hv_virtqueue_start checks the areas' alignment, and guest RAM is
 * mapped page-aligned), so 16-bit accesses are single loads and stores the driver sees whole. */
static uint16_t
load16 (const uint8_t *p)
{
  return GUINT16_FROM_LE (__atomic_load_n ((const uint16_t *) p, __ATOMIC_RELAXED));
}

static uint16_t
load16_acquire (const uint8_t *p)
{
  return GUINT16_FROM_LE (__atomic_load_n ((const uint16_t *) p, __ATOMIC_ACQUIRE));
}

static void
store16 (uint8_t *p, uint16_t value)
{
  __atomic_store_n ((uint16_t *) p, GUINT16_TO_LE (value), __ATOMIC_RELAXED);
}

static void
store16_release (uint8_t *p, uint16_t value)
{
  __atomic_store_n ((uint16_t *) p, GUINT16_TO_LE (value), __ATOMIC_RELEASE);
}

static void
store32 (uint8_t *p, uint32_t value)
{
  __atomic_store_n ((uint32_t *) p, GUINT32_TO_LE (value), __ATOMIC_RELAXED);
}

static void
read_desc (const uint8_t *table, unsigned index, Desc *desc)
{
  uint8_t raw[HV_VRING_DESC_SIZE];
  uint64_t addr;
  uint32_t len;
  uint16_t flags, next;

  /* One copy, then only the copy is looked at: the driver changing the table meanwhile cannot make a
   * checked value differ from the one used. */
  memcpy (raw, table + (gsize) index * HV_VRING_DESC_SIZE, sizeof raw);
  memcpy (&addr, raw, 8);
  memcpy (&len, raw + 8, 4);
  memcpy (&flags, raw + 12, 2);
  memcpy (&next, raw + 14, 2);
  desc->addr = GUINT64_FROM_LE (addr);
  desc->len = GUINT32_FROM_LE (len);
  desc->flags = GUINT16_FROM_LE (flags);
  desc->next = GUINT16_FROM_LE (next);
}

void
hv_virtqueue_init (HvVirtqueue *vq, HvMemory *memory, unsigned index)
{
  memset (vq, 0, sizeof *vq);
  vq->memory = memory;
  vq->index = index;
}

void
hv_virtqueue_stop (HvVirtqueue *vq)
{
  hv_virtqueue_init (vq, vq->memory, vq->index);
}

gboolean
hv_virtqueue_is_ready (const HvVirtqueue *vq)
{
  return vq->size != 0;
}

static uint8_t *
map_area (HvVirtqueue *vq, const char *what, uint64_t addr, uint64_t len, uint64_t align, GError **error)
{
  uint8_t *host;

  if (addr & (align - 1))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "queue %u: the %s at 0x%" G_GINT64_MODIFIER "x is not aligned to %" G_GUINT64_FORMAT
                   " bytes",
                   vq->index, what, addr, align);
      return NULL;
    }
  host = hv_memory_ptr (vq->memory, addr, len);
  if (host == NULL)
    g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                 "queue %u: the %s (%" G_GUINT64_FORMAT " bytes at 0x%" G_GINT64_MODIFIER "x) is not in "
                 "guest RAM",
                 vq->index, what, len, addr);
  return host;
}

gboolean
hv_virtqueue_start (HvVirtqueue *vq, uint16_t size, uint64_t desc_addr, uint64_t driver_addr,
                    uint64_t device_addr, uint64_t features, GError **error)
{
  uint8_t *desc, *avail, *used;

  if (size == 0 || (size & (size - 1)) != 0)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "queue %u: size %u is not a power of two",
                   vq->index, size);
      return FALSE;
    }
  desc = map_area (vq, "descriptor table", desc_addr, HV_VRING_DESC_BYTES (size), HV_VRING_DESC_ALIGN, error);
  if (desc == NULL)
    return FALSE;
  avail = map_area (vq, "available ring", driver_addr, HV_VRING_AVAIL_BYTES (size), HV_VRING_AVAIL_ALIGN,
                    error);
  if (avail == NULL)
    return FALSE;
  used = map_area (vq, "used ring", device_addr, HV_VRING_USED_BYTES (size), HV_VRING_USED_ALIGN, error);
  if (used == NULL)
    return FALSE;

  hv_virtqueue_stop (vq);
  vq->size = size;
  vq->desc = desc;
  vq->avail = avail;
  vq->used = used;
  vq->event_idx = (features & HV_VIRTIO_FEATURE (HV_VIRTIO_F_EVENT_IDX)) != 0;
  vq->indirect = (features & HV_VIRTIO_FEATURE (HV_VIRTIO_F_INDIRECT_DESC)) != 0;
  /* A ring the device last used (before a reset) may still ask the driver to be quiet. */
  if (!vq->event_idx)
    store16 (vq->used + USED_FLAGS, (uint16_t) (load16 (vq->used + USED_FLAGS) & ~HV_VRING_USED_F_NO_NOTIFY));
  return TRUE;
}

unsigned
hv_virtqueue_available (const HvVirtqueue *vq)
{
  if (vq->size == 0 || vq->broken)
    return 0;
  return (uint16_t) (load16_acquire (vq->avail + AVAIL_IDX) - vq->last_avail_idx);
}

void
hv_virtqueue_element_free (HvVirtqueueElement *elem)
{
  g_free (elem);
}

gsize
hv_virtqueue_element_read (const HvVirtqueueElement *elem, gsize offset, void *buffer, gsize len)
{
  gsize done = 0;

  for (unsigned i = 0; i < elem->n_out && done < len; i++)
    {
      const struct iovec *v = &elem->iov[i];
      gsize n;

      if (offset >= v->iov_len)
        {
          offset -= v->iov_len;
          continue;
        }
      n = MIN (v->iov_len - offset, len - done);
      memcpy ((uint8_t *) buffer + done, (const uint8_t *) v->iov_base + offset, n);
      done += n;
      offset = 0;
    }
  return done;
}

gsize
hv_virtqueue_element_write (HvVirtqueueElement *elem, gsize offset, const void *data, gsize len)
{
  gsize done = 0;

  for (unsigned i = elem->n_out; i < elem->n_out + elem->n_in && done < len; i++)
    {
      struct iovec *v = &elem->iov[i];
      gsize n;

      if (offset >= v->iov_len)
        {
          offset -= v->iov_len;
          continue;
        }
      n = MIN (v->iov_len - offset, len - done);
      memcpy ((uint8_t *) v->iov_base + offset, (const uint8_t *) data + done, n);
      done += n;
      offset = 0;
    }
  return done;
}

/* The chain being collected: a few segments inline, more on the heap. */
typedef struct
{
  struct iovec inline_iov[8];
  struct iovec *iov;
  unsigned n;
  unsigned capacity;
  unsigned n_out;
  unsigned n_in;
  uint64_t out_bytes;
  uint64_t in_bytes;
} Chain;

static void
chain_append (Chain *chain, void *base, uint32_t len, gboolean writable)
{
  if (chain->n == chain->capacity)
    {
      unsigned capacity = MIN (chain->capacity * 4, HV_VIRTQUEUE_MAX_SEGMENTS);
      if (chain->iov == chain->inline_iov)
        {
          chain->iov = g_new (struct iovec, capacity);
          memcpy (chain->iov, chain->inline_iov, sizeof chain->inline_iov);
        }
      else
        chain->iov = g_renew (struct iovec, chain->iov, capacity);
      chain->capacity = capacity;
    }
  chain->iov[chain->n].iov_base = base;
  chain->iov[chain->n].iov_len = len;
  chain->n++;
  if (writable)
    {
      chain->n_in++;
      chain->in_bytes += len;
    }
  else
    {
      chain->n_out++;
      chain->out_bytes += len;
    }
}

static gboolean broken (HvVirtqueue *vq, GError **error, const char *format, ...) G_GNUC_PRINTF (3, 4);

static gboolean
broken (HvVirtqueue *vq, GError **error, const char *format, ...)
{
  g_autofree char *reason = NULL;
  va_list args;

  va_start (args, format);
  reason = g_strdup_vprintf (format, args);
  va_end (args);
  vq->broken = TRUE;
  g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "queue %u: %s", vq->index, reason);
  return FALSE;
}

/* Walks the chain starting at @head: direct descriptors, optionally ending in one indirect table. */
static gboolean
collect_chain (HvVirtqueue *vq, uint16_t head, Chain *chain, GError **error)
{
  const uint8_t *table = vq->desc;
  unsigned table_size = vq->size;
  unsigned index = head;
  unsigned visited = 0;
  gboolean in_indirect = FALSE;

  for (;;)
    {
      Desc desc;
      void *host;

      /* A chain visits each descriptor of its table at most once, so more visits than entries is a loop. */
      if (++visited > table_size)
        return broken (vq, error, "descriptor chain from %u loops or is longer than its table", head);
      read_desc (table, index, &desc);

      if (desc.flags & HV_VRING_DESC_F_INDIRECT)
        {
          if (!vq->indirect)
            return broken (vq, error, "indirect descriptor without VIRTIO_F_INDIRECT_DESC");
          if (in_indirect)
            return broken (vq, error, "indirect descriptor inside an indirect table");
          if (desc.flags & HV_VRING_DESC_F_NEXT)
            return broken (vq, error, "indirect descriptor with NEXT set");
          if (desc.len == 0 || desc.len % HV_VRING_DESC_SIZE != 0
              || desc.len / HV_VRING_DESC_SIZE > HV_VIRTQUEUE_MAX_SEGMENTS)
            return broken (vq, error, "indirect table of %u bytes", desc.len);
          table = hv_memory_ptr (vq->memory, desc.addr, desc.len);
          if (table == NULL)
            return broken (vq, error,
                           "indirect table (%u bytes at 0x%" G_GINT64_MODIFIER "x) is not in "
                           "guest RAM",
                           desc.len, desc.addr);
          table_size = desc.len / HV_VRING_DESC_SIZE;
          index = 0;
          visited = 0;
          in_indirect = TRUE;
          continue;
        }

      host = hv_memory_ptr (vq->memory, desc.addr, desc.len);
      if (host == NULL)
        return broken (vq, error, "buffer of %u bytes at 0x%" G_GINT64_MODIFIER "x is not in guest RAM",
                       desc.len, desc.addr);
      if (!(desc.flags & HV_VRING_DESC_F_WRITE) && chain->n_in > 0)
        return broken (vq, error, "device-readable buffer after a device-writable one");
      if (chain->n == HV_VIRTQUEUE_MAX_SEGMENTS)
        return broken (vq, error, "chain of more than %d buffers", HV_VIRTQUEUE_MAX_SEGMENTS);
      chain_append (chain, host, desc.len, (desc.flags & HV_VRING_DESC_F_WRITE) != 0);

      if (!(desc.flags & HV_VRING_DESC_F_NEXT))
        return TRUE;
      if (desc.next >= table_size)
        return broken (vq, error, "descriptor %u points to %u, past the table's %u entries", index, desc.next,
                       table_size);
      index = desc.next;
    }
}

HvVirtqueueElement *
hv_virtqueue_pop (HvVirtqueue *vq, GError **error)
{
  Chain chain = { .capacity = G_N_ELEMENTS (chain.inline_iov) };
  HvVirtqueueElement *elem;
  uint16_t avail_idx;
  uint16_t pending;
  uint16_t head;

  if (vq->size == 0 || vq->broken)
    return NULL;

  avail_idx = load16_acquire (vq->avail + AVAIL_IDX);
  if (avail_idx == vq->last_avail_idx)
    {
      if (!vq->event_idx)
        return NULL;
      /* Ask for a notification at the next entry, then look again: an entry added before the driver could
       * see the request would otherwise be missed until the one after it. */
      store16 (vq->used + USED_RING + USED_ELEM_SIZE * (gsize) vq->size, vq->last_avail_idx);
      __atomic_thread_fence (__ATOMIC_SEQ_CST);
      avail_idx = load16_acquire (vq->avail + AVAIL_IDX);
      if (avail_idx == vq->last_avail_idx)
        return NULL;
    }

  pending = (uint16_t) (avail_idx - vq->last_avail_idx);
  if (pending > vq->size)
    {
      broken (vq, error, "the driver made %u buffers available in a queue of %u", pending, vq->size);
      return NULL;
    }

  head = load16 (vq->avail + AVAIL_RING + 2 * (gsize) (vq->last_avail_idx % vq->size));
  if (head >= vq->size)
    {
      broken (vq, error, "available ring entry %u is descriptor %u of %u", vq->last_avail_idx, head,
              vq->size);
      return NULL;
    }

  chain.iov = chain.inline_iov;
  if (!collect_chain (vq, head, &chain, error))
    {
      if (chain.iov != chain.inline_iov)
        g_free (chain.iov);
      return NULL;
    }

  elem = g_malloc (sizeof *elem + chain.n * sizeof (struct iovec));
  elem->head = head;
  elem->n_out = chain.n_out;
  elem->n_in = chain.n_in;
  elem->out_bytes = chain.out_bytes;
  elem->in_bytes = chain.in_bytes;
  memcpy (elem->iov, chain.iov, chain.n * sizeof (struct iovec));
  if (chain.iov != chain.inline_iov)
    g_free (chain.iov);

  vq->last_avail_idx++;
  if (vq->event_idx && !vq->quiet)
    store16 (vq->used + USED_RING + USED_ELEM_SIZE * (gsize) vq->size, vq->last_avail_idx);
  return elem;
}

void
hv_virtqueue_unpop (HvVirtqueue *vq, unsigned count)
{
  if (vq->size == 0)
    return;
  vq->last_avail_idx = (uint16_t) (vq->last_avail_idx - count);
  if (vq->event_idx && !vq->quiet)
    store16 (vq->used + USED_RING + USED_ELEM_SIZE * (gsize) vq->size, vq->last_avail_idx);
}

void
hv_virtqueue_push (HvVirtqueue *vq, const HvVirtqueueElement *elem, uint32_t written)
{
  uint8_t *slot;

  if (vq->size == 0)
    return;
  slot = vq->used + USED_RING + USED_ELEM_SIZE * (gsize) (vq->used_idx % vq->size);
  store32 (slot, elem->head);
  store32 (slot + 4, (uint32_t) MIN ((uint64_t) written, elem->in_bytes));
  vq->used_idx++;
  /* The element must be visible before the index that publishes it. */
  store16_release (vq->used + USED_IDX, vq->used_idx);
}

void
hv_virtqueue_set_notification (HvVirtqueue *vq, gboolean enable)
{
  if (vq->size == 0)
    return;
  vq->quiet = !enable;
  if (vq->event_idx)
    {
      /* On: notify at the next buffer made available.  Off: the index stays where it was, which the
       * driver's index has passed or will pass once, and it notifies no more (until it wraps around). */
      if (enable)
        store16 (vq->used + USED_RING + USED_ELEM_SIZE * (gsize) vq->size, load16 (vq->avail + AVAIL_IDX));
    }
  else
    {
      uint16_t flags = load16 (vq->used + USED_FLAGS);

      store16 (vq->used + USED_FLAGS, enable ? (uint16_t) (flags & ~HV_VRING_USED_F_NO_NOTIFY)
                                             : (uint16_t) (flags | HV_VRING_USED_F_NO_NOTIFY));
    }
  /* The driver stores its index, then reads the flag (or event index); the device the mirror image. */
  if (enable)
    __atomic_thread_fence (__ATOMIC_SEQ_CST);
}

gboolean
hv_virtqueue_should_notify (HvVirtqueue *vq)
{
  uint16_t old, new_idx, event;
  gboolean valid;

  if (vq->size == 0)
    return FALSE;
  /* The used index stored before must be visible before the driver's wishes are read (the driver does
   * the mirror image), or an interrupt it needs could be skipped. */
  __atomic_thread_fence (__ATOMIC_SEQ_CST);

  if (!vq->event_idx)
    return !(load16 (vq->avail + AVAIL_FLAGS) & HV_VRING_AVAIL_F_NO_INTERRUPT);

  old = vq->signalled_used;
  valid = vq->signalled_used_valid;
  new_idx = vq->used_idx;
  vq->signalled_used = new_idx;
  vq->signalled_used_valid = TRUE;
  if (!valid)
    return TRUE;
  event = load16 (vq->avail + AVAIL_RING + 2 * (gsize) vq->size);
  /* vring_need_event(): did used_idx pass used_event since the last interrupt? */
  return (uint16_t) (new_idx - event - 1) < (uint16_t) (new_idx - old);
}
