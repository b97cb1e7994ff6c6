/* virtio-input.c — the virtio-input keyboard and tablet (virtio 1.2 §5.8): the configuration the driver
 * queries (name, ids, properties, event bits, axis ranges), host events delivered whole reports at a
 * time on the event queue, and LED changes taken from the status queue. */
#include "bytes.h"
#include "virtio-input.h"
#include "device.h"
#include "iothread.h"
#include "state.h"
#include "virtio/virtio.h"

#include <linux/input.h>
#include <string.h>

#define VIRTIO_ID_INPUT       18
#define PCI_CLASS_INPUT_OTHER 0x098000

#define EVENTQ     0
#define STATUSQ    1
#define QUEUE_SIZE 64

/* struct virtio_input_config. */
#define CFG_SELECT   0
#define CFG_SUBSEL   1
#define CFG_SIZE     2
#define CFG_DATA     8
#define CFG_DATA_MAX 128
#define CFG_LEN      (CFG_DATA + CFG_DATA_MAX)

#define CFG_UNSET     0x00
#define CFG_ID_NAME   0x01
#define CFG_ID_SERIAL 0x02
#define CFG_ID_DEVIDS 0x03
#define CFG_PROP_BITS 0x10
#define CFG_EV_BITS   0x11
#define CFG_ABS_INFO  0x12

#define EVENT_SIZE   8    /* struct virtio_input_event: le16 type, le16 code, le32 value */
#define PENDING_MAX  1024 /* events of whole reports waiting for guest buffers (8 KiB) */
#define REPORT_MAX   64   /* events of the report being built */
#define BITMAP_BYTES CFG_DATA_MAX

/* The ids QEMU gives its virtio input devices, so a guest's userspace treats ours like the ones it
 * knows. */
#define DEVIDS_VENDOR   0x0627
#define DEVIDS_KEYBOARD 0x0001
#define DEVIDS_TABLET   0x0003

typedef struct
{
  uint16_t type;
  uint16_t code;
  int32_t value;
} Event;

typedef struct
{
  const char *pci_name;
  const char *name;
  uint16_t product;
  uint16_t version;
  gboolean autorepeat;            /* EV_REP */
  uint8_t key_bits[BITMAP_BYTES]; /* EV_KEY */
  uint8_t rel_bits[BITMAP_BYTES]; /* EV_REL */
  uint8_t abs_bits[BITMAP_BYTES]; /* EV_ABS, each with range 0..HV_VIRTIO_TABLET_ABS_MAX */
  uint8_t led_bits[BITMAP_BYTES]; /* EV_LED */
} InputKind;

struct _HvVirtioInput
{
  HvVirtio *vdev;
  HvVirtioDeviceInfo info;
  InputKind kind;

  /* Guarded by the transport's lock (hv_virtio_lock). */
  uint8_t config[CFG_LEN]; /* what the driver reads: the selection and its answer */
  uint32_t leds;
  Event report[REPORT_MAX]; /* the report the caller is building */
  unsigned n_report;
  gboolean report_overflow;   /* more than REPORT_MAX events: the report is dropped at its SYN */
  Event pending[PENDING_MAX]; /* complete reports, oldest first */
  unsigned n_pending;
};

static void
set_bit (uint8_t *bitmap, unsigned bit)
{
  bitmap[bit / 8] |= (uint8_t) (1u << (bit % 8));
}

static gboolean
test_bit (const uint8_t *bitmap, unsigned bit)
{
  return bit < BITMAP_BYTES * 8 && (bitmap[bit / 8] & (1u << (bit % 8))) != 0;
}

/* The length a bitmap answer has: up to its last byte with a bit set. */
static uint8_t
bitmap_size (const uint8_t *bitmap)
{
  unsigned size = BITMAP_BYTES;
  while (size > 0 && bitmap[size - 1] == 0)
    size--;
  return (uint8_t) size;
}

/* Fills the answer to the driver's select/subsel (§5.8.4). */
static void
update_config_locked (HvVirtioInput *input)
{
  const InputKind *kind = &input->kind;
  uint8_t select = input->config[CFG_SELECT];
  uint8_t subsel = input->config[CFG_SUBSEL];
  uint8_t *data = input->config + CFG_DATA;
  const uint8_t *bitmap = NULL;
  uint8_t size = 0;

  memset (input->config + CFG_SIZE, 0, CFG_LEN - CFG_SIZE);
  switch (select)
    {
    case CFG_ID_NAME:
      if (subsel == 0)
        {
          size = (uint8_t) MIN (strlen (kind->name), CFG_DATA_MAX);
          memcpy (data, kind->name, size);
        }
      break;
    case CFG_ID_DEVIDS:
      if (subsel == 0)
        {
          hv_put_le16 (data, BUS_VIRTUAL);
          hv_put_le16 (data + 2, DEVIDS_VENDOR);
          hv_put_le16 (data + 4, kind->product);
          hv_put_le16 (data + 6, kind->version);
          size = 8;
        }
      break;
    case CFG_EV_BITS:
      switch (subsel)
        {
        case EV_KEY:
          bitmap = kind->key_bits;
          break;
        case EV_REL:
          bitmap = kind->rel_bits;
          break;
        case EV_ABS:
          bitmap = kind->abs_bits;
          break;
        case EV_LED:
          bitmap = kind->led_bits;
          break;
        case EV_REP:
          /* A non-zero size with no bits: the type is supported and has no codes. */
          size = kind->autorepeat ? 1 : 0;
          break;
        default:
          break;
        }
      if (bitmap)
        {
          size = bitmap_size (bitmap);
          memcpy (data, bitmap, size);
        }
      break;
    case CFG_ABS_INFO:
      if (test_bit (kind->abs_bits, subsel))
        {
          /* struct virtio_input_absinfo: min, max, fuzz, flat, res. */
          hv_put_le32 (data, 0);
          hv_put_le32 (data + 4, HV_VIRTIO_TABLET_ABS_MAX);
          size = 20;
        }
      break;
    case CFG_UNSET:
    case CFG_ID_SERIAL: /* no serial number: an empty answer */
    case CFG_PROP_BITS: /* no properties: an absolute pointer, not a touchscreen */
    default:
      break;
    }
  input->config[CFG_SIZE] = size;
}

static void
input_config_read (void *opaque, unsigned offset, uint8_t *data, unsigned len)
{
  HvVirtioInput *input = opaque;

  for (unsigned i = 0; i < len; i++)
    data[i] = offset + i < CFG_LEN ? input->config[offset + i] : 0;
}

static void
input_config_write (void *opaque, unsigned offset, const uint8_t *data, unsigned len)
{
  HvVirtioInput *input = opaque;
  gboolean changed = FALSE;

  /* Only select and subsel are the driver's to write (§5.8.4). */
  for (unsigned i = 0; i < len; i++)
    if (offset + i == CFG_SELECT || offset + i == CFG_SUBSEL)
      {
        input->config[offset + i] = data[i];
        changed = TRUE;
      }
  if (changed)
    update_config_locked (input);
}

/* The length of the oldest pending report (they all end with SYN_REPORT). */
static unsigned
first_report_length_locked (const HvVirtioInput *input)
{
  for (unsigned i = 0; i < input->n_pending; i++)
    if (input->pending[i].type == EV_SYN && input->pending[i].code == SYN_REPORT)
      return i + 1;
  return input->n_pending;
}

static void
drop_pending_locked (HvVirtioInput *input, unsigned count)
{
  memmove (input->pending, input->pending + count, (input->n_pending - count) * sizeof (Event));
  input->n_pending -= count;
}

/* Gives the guest every whole report it has buffers for, oldest first. */
static void
flush_events_locked (HvVirtioInput *input)
{
  HvVirtqueue *vq = hv_virtio_get_queue (input->vdev, EVENTQ);
  gboolean pushed = FALSE;

  while (input->n_pending > 0 && hv_virtio_is_driver_ok (input->vdev) && !hv_virtio_is_paused (input->vdev))
    {
      unsigned length = first_report_length_locked (input);
      unsigned delivered = 0;

      /* A report is delivered whole or waits: half a report would reach the guest's input layer as a
       * different, complete one.  One longer than the whole queue never fits and would block the rest. */
      if (length > vq->size)
        {
          g_debug ("%s: a report of %u events does not fit the guest's queue of %u", input->kind.pci_name,
                   length, vq->size);
          drop_pending_locked (input, length);
          continue;
        }
      if (hv_virtqueue_available (vq) < length)
        break;
      for (; delivered < length; delivered++)
        {
          g_autoptr (HvVirtqueueElement) elem = hv_virtio_pop (input->vdev, vq);
          const Event *event = &input->pending[delivered];
          uint8_t raw[EVENT_SIZE];

          if (elem == NULL)
            break;
          hv_put_le16 (raw, event->type);
          hv_put_le16 (raw + 2, event->code);
          hv_put_le32 (raw + 4, (uint32_t) event->value);
          if (hv_virtqueue_element_write (elem, 0, raw, sizeof raw) != sizeof raw)
            {
              hv_virtqueue_push (vq, elem, 0);
              hv_virtio_set_needs_reset (input->vdev, "an event buffer is smaller than an event");
              break;
            }
          hv_virtqueue_push (vq, elem, sizeof raw);
          pushed = TRUE;
        }
      if (delivered < length)
        {
          /* The driver broke the queue: what is left cannot reach it before it resets the device. */
          input->n_pending = 0;
          break;
        }
      drop_pending_locked (input, length);
    }
  if (pushed)
    hv_virtio_notify (input->vdev, vq);
}

/* Takes what the driver sent on the status queue: LED changes on the keyboard. */
static void
drain_status_locked (HvVirtioInput *input)
{
  HvVirtqueue *vq = hv_virtio_get_queue (input->vdev, STATUSQ);
  gboolean pushed = FALSE;
  HvVirtqueueElement *elem;

  while ((elem = hv_virtio_pop (input->vdev, vq)) != NULL)
    {
      uint8_t raw[EVENT_SIZE];

      if (hv_virtqueue_element_read (elem, 0, raw, sizeof raw) == sizeof raw)
        {
          uint16_t type = (uint16_t) (raw[0] | raw[1] << 8);
          uint16_t code = (uint16_t) (raw[2] | raw[3] << 8);
          uint32_t value = raw[4] | raw[5] << 8 | raw[6] << 16 | (uint32_t) raw[7] << 24;

          if (type == EV_LED && test_bit (input->kind.led_bits, code))
            {
              if (value)
                input->leds |= 1u << code;
              else
                input->leds &= ~(1u << code);
            }
        }
      hv_virtqueue_push (vq, elem, 0);
      hv_virtqueue_element_free (elem);
      pushed = TRUE;
    }
  if (pushed)
    hv_virtio_notify (input->vdev, vq);
}

static void
input_queue_notify (void *opaque, HvVirtqueue *vq)
{
  HvVirtioInput *input = opaque;

  if (vq->index == EVENTQ)
    flush_events_locked (input);
  else
    drain_status_locked (input);
}

static void
input_reset (void *opaque)
{
  HvVirtioInput *input = opaque;

  memset (input->config, 0, sizeof input->config);
  update_config_locked (input);
  input->leds = 0;
  input->n_report = 0;
  input->report_overflow = FALSE;
  input->n_pending = 0;
}

static HvVirtioInput *
input_new (const HvPlatform *platform, HvPci *pci, const InputKind *kind, GError **error)
{
  HvVirtioInput *input = g_new0 (HvVirtioInput, 1);

  input->kind = *kind;
  input->info = (HvVirtioDeviceInfo){
    .name = input->kind.pci_name,
    .device_id = VIRTIO_ID_INPUT,
    .pci_class = PCI_CLASS_INPUT_OTHER,
    .n_queues = 2,
    .queue_size = QUEUE_SIZE,
    .config_size = CFG_LEN,
    .config_read = input_config_read,
    .config_write = input_config_write,
    .queue_notify = input_queue_notify,
    .reset = input_reset,
  };
  input_reset (input);
  input->vdev = hv_virtio_pci_new (platform, pci, &input->info, input, error);
  if (input->vdev == NULL)
    {
      g_free (input);
      return NULL;
    }
  return input;
}

HvVirtioInput *
hv_virtio_input_new_keyboard (const HvPlatform *platform, HvPci *pci, GError **error)
{
  InputKind kind = {
    .pci_name = "virtio-keyboard",
    .name = "Vireo Virtio Keyboard",
    .product = DEVIDS_KEYBOARD,
    .version = 1,
    .autorepeat = TRUE,
  };

  /* Every key a PC keyboard can name (KEY_RESERVED excluded); no BTN_* codes, which would make the
   * guest take the keyboard for a mouse or joystick. */
  for (unsigned code = KEY_ESC; code < 256; code++)
    set_bit (kind.key_bits, code);
  set_bit (kind.led_bits, LED_NUML);
  set_bit (kind.led_bits, LED_CAPSL);
  set_bit (kind.led_bits, LED_SCROLLL);
  return input_new (platform, pci, &kind, error);
}

HvVirtioInput *
hv_virtio_input_new_tablet (const HvPlatform *platform, HvPci *pci, GError **error)
{
  InputKind kind = {
    .pci_name = "virtio-tablet",
    .name = "Vireo Virtio Tablet",
    .product = DEVIDS_TABLET,
    .version = 2,
  };

  /* Buttons with absolute axes and no INPUT_PROP_DIRECT: an absolute pointer, like a VM tablet. */
  set_bit (kind.key_bits, BTN_LEFT);
  set_bit (kind.key_bits, BTN_RIGHT);
  set_bit (kind.key_bits, BTN_MIDDLE);
  set_bit (kind.rel_bits, REL_WHEEL);
  set_bit (kind.abs_bits, ABS_X);
  set_bit (kind.abs_bits, ABS_Y);
  return input_new (platform, pci, &kind, error);
}

void
hv_virtio_input_free (HvVirtioInput *input)
{
  if (input == NULL)
    return;
  hv_virtio_free (input->vdev);
  g_free (input);
}

gboolean
hv_virtio_input_driver_ready (HvVirtioInput *input)
{
  gboolean ready;

  hv_virtio_lock (input->vdev);
  ready = hv_virtio_is_driver_ok (input->vdev);
  hv_virtio_unlock (input->vdev);
  return ready;
}

gboolean
hv_virtio_input_send (HvVirtioInput *input, uint16_t type, uint16_t code, int32_t value)
{
  hv_virtio_lock (input->vdev);
  if (!hv_virtio_is_driver_ok (input->vdev))
    {
      hv_virtio_unlock (input->vdev);
      return FALSE;
    }

  if (input->n_report < REPORT_MAX)
    input->report[input->n_report++] = (Event){ type, code, value };
  else
    input->report_overflow = TRUE;

  if (type == EV_SYN && code == SYN_REPORT)
    {
      if (!input->report_overflow && input->n_pending + input->n_report <= PENDING_MAX)
        {
          memcpy (input->pending + input->n_pending, input->report, input->n_report * sizeof (Event));
          input->n_pending += input->n_report;
        }
      else
        g_debug ("%s: the guest takes no events; a report of %u events is dropped", input->kind.pci_name,
                 input->n_report);
      input->n_report = 0;
      input->report_overflow = FALSE;
      flush_events_locked (input);
    }
  hv_virtio_unlock (input->vdev);
  return TRUE;
}

void
hv_virtio_input_set_paused (HvVirtioInput *input, gboolean paused)
{
  hv_virtio_lock (input->vdev);
  hv_virtio_set_paused (input->vdev, paused);
  hv_virtio_unlock (input->vdev);
}

uint32_t
hv_virtio_input_get_leds (HvVirtioInput *input)
{
  uint32_t leds;

  hv_virtio_lock (input->vdev);
  leds = input->leds;
  hv_virtio_unlock (input->vdev);
  return leds;
}

static GVariant *
events_to_variant (const Event *events, unsigned count)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(qqi)"));
  for (unsigned i = 0; i < count; i++)
    g_variant_builder_add (&builder, "(qqi)", events[i].type, events[i].code, events[i].value);
  return g_variant_builder_end (&builder);
}

GVariant *
hv_virtio_input_save_state (HvVirtioInput *input)
{
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);

  hv_virtio_lock (input->vdev);
  g_variant_dict_insert (&dict, "device", "s", input->kind.pci_name);
  g_variant_dict_insert_value (&dict, "virtio", hv_virtio_save_state (input->vdev));
  g_variant_dict_insert (&dict, "select", "y", input->config[CFG_SELECT]);
  g_variant_dict_insert (&dict, "subsel", "y", input->config[CFG_SUBSEL]);
  g_variant_dict_insert (&dict, "leds", "u", input->leds);
  g_variant_dict_insert_value (&dict, "pending", events_to_variant (input->pending, input->n_pending));
  g_variant_dict_insert_value (&dict, "report", events_to_variant (input->report, input->n_report));
  hv_virtio_unlock (input->vdev);
  return g_variant_dict_end (&dict);
}

/* Reads an a(qqi) of at most @max events into @events. */
static gboolean
load_events (GVariant *state, const char *what, const char *key, Event *events, unsigned max, unsigned *count,
             GError **error)
{
  g_autoptr (GVariant) list = hv_state_lookup (state, what, key, G_VARIANT_TYPE ("a(qqi)"), error);
  GVariantIter iter;
  guint16 type, code;
  gint32 value;
  unsigned n = 0;

  if (list == NULL)
    return FALSE;
  if (g_variant_n_children (list) > max)
    {
      hv_state_set_bad (error, what, "%" G_GSIZE_FORMAT " events in “%s”, at most %u fit",
                        g_variant_n_children (list), key, max);
      return FALSE;
    }
  g_variant_iter_init (&iter, list);
  while (g_variant_iter_next (&iter, "(qqi)", &type, &code, &value))
    events[n++] = (Event){ type, code, value };
  *count = n;
  return TRUE;
}

gboolean
hv_virtio_input_load_state (HvVirtioInput *input, GVariant *state, GError **error)
{
  const char *what = input->kind.pci_name;
  g_autofree Event *pending = g_new (Event, PENDING_MAX);
  g_autofree Event *report = g_new (Event, REPORT_MAX);
  g_autoptr (GVariant) transport = NULL;
  g_autoptr (GVariant) device = NULL;
  unsigned n_pending, n_report;
  uint8_t select, subsel;
  uint32_t leds;
  uint32_t led_mask;
  gboolean ok;

  device = hv_state_lookup (state, what, "device", G_VARIANT_TYPE_STRING, error);
  if (device == NULL)
    return FALSE;
  if (strcmp (g_variant_get_string (device, NULL), input->kind.pci_name) != 0)
    {
      hv_state_set_bad (error, what, "it is the state of a %s", g_variant_get_string (device, NULL));
      return FALSE;
    }
  if (!hv_state_get (state, what, "select", "y", &select, error)
      || !hv_state_get (state, what, "subsel", "y", &subsel, error)
      || !hv_state_get (state, what, "leds", "u", &leds, error)
      || !load_events (state, what, "pending", pending, PENDING_MAX, &n_pending, error)
      || !load_events (state, what, "report", report, REPORT_MAX, &n_report, error))
    return FALSE;
  led_mask = input->kind.led_bits[0] | (uint32_t) input->kind.led_bits[1] << 8
             | (uint32_t) input->kind.led_bits[2] << 16 | (uint32_t) input->kind.led_bits[3] << 24;
  if (leds & ~led_mask)
    {
      hv_state_set_bad (error, what, "LEDs 0x%x are on that the device does not have", leds);
      return FALSE;
    }
  if (n_pending > 0 && (pending[n_pending - 1].type != EV_SYN || pending[n_pending - 1].code != SYN_REPORT))
    {
      hv_state_set_bad (error, what, "the events waiting for the guest do not end a report");
      return FALSE;
    }
  transport = hv_state_lookup (state, what, "virtio", G_VARIANT_TYPE_VARDICT, error);
  if (transport == NULL)
    return FALSE;

  hv_virtio_lock (input->vdev);
  ok = hv_virtio_load_state (input->vdev, transport, error);
  if (ok)
    {
      input->config[CFG_SELECT] = select;
      input->config[CFG_SUBSEL] = subsel;
      update_config_locked (input);
      input->leds = leds;
      memcpy (input->pending, pending, n_pending * sizeof (Event));
      input->n_pending = n_pending;
      memcpy (input->report, report, n_report * sizeof (Event));
      input->n_report = n_report;
      input->report_overflow = FALSE;
    }
  hv_virtio_unlock (input->vdev);
  return ok;
}

/* The "virtio-keyboard" and "virtio-tablet" kinds: as many of each as a machine asks for. */

static gboolean
realize_input (HvDevice *device, HvVirtioInput *(*new_input) (const HvPlatform *, HvPci *, GError **),
               GError **error)
{
  device->impl = new_input (hv_device_get_platform (device), hv_device_get_pci (device), error);
  return device->impl != NULL;
}

static gboolean
keyboard_realize (HvDevice *device, GError **error)
{
  return realize_input (device, hv_virtio_input_new_keyboard, error);
}

static gboolean
tablet_realize (HvDevice *device, GError **error)
{
  return realize_input (device, hv_virtio_input_new_tablet, error);
}

static void
input_teardown (HvDevice *device)
{
  hv_virtio_input_free (device->impl);
}

static void
input_quiesce (HvDevice *device, gboolean quiesced)
{
  const HvPlatform *platform = hv_device_get_platform (device);

  /* Events wait in the device instead of going into guest memory; then whatever queue work the I/O
   * thread is in the middle of finishes, so none is half done when the VM is saved. */
  hv_virtio_input_set_paused (device->impl, quiesced);
  if (quiesced && platform->io_context)
    hv_iothread_barrier (platform->io_context);
}

static GVariant *
input_save (HvDevice *device)
{
  return hv_virtio_input_save_state (device->impl);
}

static gboolean
input_load (HvDevice *device, GVariant *state, unsigned version, GError **error)
{
  return hv_virtio_input_load_state (device->impl, state, error);
}

const HvDeviceKind hv_virtio_keyboard_kind = {
  .info = &hv_kind_info_virtio_keyboard,
  .order = HV_DEVICE_ORDER_PCI,
  .state_version = 1,
  .realize = keyboard_realize,
  .teardown = input_teardown,
  .quiesce = input_quiesce,
  .save = input_save,
  .load = input_load,
};

const HvDeviceKind hv_virtio_tablet_kind = {
  .info = &hv_kind_info_virtio_tablet,
  .order = HV_DEVICE_ORDER_PCI,
  .state_version = 1,
  .realize = tablet_realize,
  .teardown = input_teardown,
  .quiesce = input_quiesce,
  .save = input_save,
  .load = input_load,
};
