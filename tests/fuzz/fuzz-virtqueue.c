/* fuzz-virtqueue.c — split virtqueues (hypervisor/virtio/virtqueue.c) on rings a hostile driver
 * wrote: the input picks the queue size, features, ring addresses and starting indices, fills a
 * small guest memory, then pokes it between pops, pushes and notification checks, as a driver
 * racing the device would.  Every chain popped is read and written in full, so any iov outside
 * guest RAM is caught by AddressSanitizer.
 *
 * Input: u8 size selector, u8 flags (bit 0 event index, bit 1 indirect, bit 2 rings at addresses
 * from the input: u16 desc, avail, used), u16 last_avail_idx, u16 used_idx, u16 image length and
 * the image (copied to guest address 0), then ops: 0 pop and complete, 1 poke (u16 address, u8
 * length, bytes), 2 should_notify, 3 available. */
#include "fuzz-input.h"
#include "memory.h"
#include "virtio/virtio.h"

#define RAM_SIZE (64u << 10)
#define MAX_OPS  256

static HvMemory memory;

static void
complete_one (HvVirtqueue *vq, HvVirtqueueElement *elem, FuzzInput *in)
{
  static uint8_t buffer[8192];
  gsize read = hv_virtqueue_element_read (elem, fuzz_take_u8 (in), buffer, sizeof buffer);
  gsize written;

  g_assert (read <= elem->out_bytes);
  written = hv_virtqueue_element_write (elem, fuzz_take_u8 (in), buffer, MIN (read + 64, sizeof buffer));
  g_assert (written <= elem->in_bytes);
  /* Whole chains too, to touch every byte the device was given. */
  for (unsigned i = 0; i < elem->n_out + elem->n_in; i++)
    if (elem->iov[i].iov_len > 0)
      {
        volatile uint8_t *first = elem->iov[i].iov_base;
        volatile uint8_t *last = first + elem->iov[i].iov_len - 1;
        (void) *first;
        (void) *last;
      }
  hv_virtqueue_push (vq, elem, (uint32_t) written);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FuzzInput in;
  HvVirtqueue vq;
  uint8_t size_selector, flags;
  uint16_t queue_size;
  uint64_t desc = 0x0000, avail = 0x1000, used = 0x2000, features = 0;
  uint16_t last_avail_idx, used_idx;
  const uint8_t *image;
  size_t image_len;

  fuzz_setup_logging (TRUE);

  if (memory.base == NULL && !hv_memory_init (&memory, RAM_SIZE, NULL))
    fuzz_fail ("cannot create guest memory");
  memset (memory.base, 0, RAM_SIZE);

  fuzz_input_init (&in, data, size);
  size_selector = fuzz_take_u8 (&in);
  flags = fuzz_take_u8 (&in);
  /* Mostly valid sizes (1 .. 256); with the top bit, any 16-bit value, to test the checks. */
  queue_size = (size_selector & 0x80) ? fuzz_take_u16 (&in) : (uint16_t) (1u << (size_selector % 9));
  if (flags & 1)
    features |= HV_VIRTIO_FEATURE (HV_VIRTIO_F_EVENT_IDX);
  if (flags & 2)
    features |= HV_VIRTIO_FEATURE (HV_VIRTIO_F_INDIRECT_DESC);
  if (flags & 4)
    {
      desc = fuzz_take_u16 (&in);
      avail = fuzz_take_u16 (&in);
      used = fuzz_take_u16 (&in);
    }
  last_avail_idx = fuzz_take_u16 (&in);
  used_idx = fuzz_take_u16 (&in);
  /* At most 64 KiB - 1 bytes: all of RAM but its last byte. */
  image = fuzz_take_bytes (&in, fuzz_take_u16 (&in), &image_len);
  memcpy (memory.base, image, image_len);

  hv_virtqueue_init (&vq, &memory, 0);
  {
    g_autoptr (GError) error = NULL;
    if (!hv_virtqueue_start (&vq, queue_size, desc, avail, used, features, &error))
      {
        fuzz_note_refusal ("queue", error);
        return 0;
      }
  }
  /* As a restored queue would continue. */
  vq.last_avail_idx = last_avail_idx;
  vq.used_idx = used_idx;

  for (unsigned n = 0; n < MAX_OPS && !fuzz_input_done (&in); n++)
    {
      switch (fuzz_take_u8 (&in) % 4)
        {
        case 0:
          {
            GError *error = NULL;
            HvVirtqueueElement *elem = hv_virtqueue_pop (&vq, &error);

            if (elem != NULL)
              {
                g_assert (error == NULL);
                complete_one (&vq, elem, &in);
                hv_virtqueue_element_free (elem);
              }
            else if (error != NULL)
              {
                g_assert (vq.broken);
                fuzz_note_refusal ("chain", error);
                g_error_free (error);
              }
            break;
          }
        case 1:
          {
            uint16_t gpa = fuzz_take_u16 (&in);
            size_t n_bytes;
            const uint8_t *bytes = fuzz_take_bytes (&in, fuzz_take_u8 (&in) % 17, &n_bytes);
            uint8_t *target = hv_memory_ptr (&memory, gpa, n_bytes);

            if (target != NULL)
              memcpy (target, bytes, n_bytes);
            break;
          }
        case 2:
          hv_virtqueue_should_notify (&vq);
          break;
        case 3:
          hv_virtqueue_available (&vq);
          break;
        }
    }
  hv_virtqueue_stop (&vq);
  return 0;
}
