/* virtio-serial.c — virtio-console with multiport (virtio 1.2 §5.3): the control queues that announce
 * named ports and carry their open/close, and each port's data between its queues and its host fd, on
 * the VM's I/O thread. */
#include "bytes.h"
#include "virtio-serial.h"
#include "device.h"
#include "iothread.h"
#include "state.h"
#include "virtio/virtio.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <glib-unix.h>

#define VIRTIO_ID_CONSOLE          3
#define PCI_CLASS_COMMUNICATION    0x078000
#define VIRTIO_CONSOLE_F_MULTIPORT 1

#define QUEUE_SIZE 128
/* Queues: port 0's receive and transmit, the control receive (device to driver) and transmit, then
 * port n's pair at 2 + 2n. */
#define CONTROL_RX  2
#define CONTROL_TX  3
#define PORT_RX(id) ((id) == 0 ? 0u : 2u + 2u * (id))
#define PORT_TX(id) (PORT_RX (id) + 1u)

/* struct virtio_console_config: cols, rows, max_nr_ports, emerg_wr. */
#define CFG_LEN 12

/* struct virtio_console_control: le32 id, le16 event, le16 value (§5.3.6.2). */
#define CONTROL_LEN          8
#define CONTROL_DEVICE_READY 0
#define CONTROL_DEVICE_ADD   1
#define CONTROL_PORT_READY   3
#define CONTROL_CONSOLE_PORT 4
#define CONTROL_PORT_OPEN    6
#define CONTROL_PORT_NAME    7
/* Messages to the driver waiting for its control buffers: three per port at most at any time (add, name,
 * open), with room for open/close changes. */
#define OUTBOX_MAX (8 * HV_VIRTIO_SERIAL_PORTS_MAX)

typedef struct _HvVirtioSerial HvVirtioSerial;

typedef struct
{
  HvVirtioSerial *serial;
  unsigned id; /* 1.. */
  char *name;
  int fd;
  GSource *source;
  gpointer fd_tag;
  gboolean host_connected;
  gboolean guest_ready;     /* the driver sent PORT_READY 1 */
  gboolean guest_connected; /* the driver sent PORT_OPEN 1 */
  GByteArray *to_guest;     /* read from the fd, not yet in the guest's buffers */
  GByteArray *to_host;      /* from one guest buffer, not yet written to the fd */
} Port;

typedef struct
{
  GSource source;
  Port *port;
} PortSource;

struct _HvVirtioSerial
{
  HvVirtio *vdev;
  HvVirtioDeviceInfo info;
  GMainContext *context;
  unsigned n_ports;
  Port ports[HV_VIRTIO_SERIAL_PORTS_MAX];
  /* Guarded by the transport's lock. */
  GQueue outbox; /* GBytes: control messages for the driver */
  gboolean device_ready;
};

static void flush_locked (HvVirtioSerial *serial);

static gboolean
multiport_locked (HvVirtioSerial *serial)
{
  return hv_virtio_is_driver_ok (serial->vdev)
         && (hv_virtio_get_features (serial->vdev) & HV_VIRTIO_FEATURE (VIRTIO_CONSOLE_F_MULTIPORT));
}

static void
send_control_locked (HvVirtioSerial *serial, unsigned id, uint16_t event, uint16_t value, const char *text)
{
  gsize text_len = text ? strlen (text) : 0;
  uint8_t *raw = g_malloc (CONTROL_LEN + text_len);

  if (serial->outbox.length >= OUTBOX_MAX)
    {
      /* Only a driver that takes no control buffers gets here; it learns the state again on reset. */
      g_debug ("virtio-serial: the driver takes no control messages; event %u for port %u dropped", event,
               id);
      g_free (raw);
      return;
    }
  hv_put_le32 (raw, id);
  hv_put_le16 (raw + 4, event);
  hv_put_le16 (raw + 6, value);
  if (text_len)
    memcpy (raw + CONTROL_LEN, text, text_len);
  g_queue_push_tail (&serial->outbox, g_bytes_new_take (raw, CONTROL_LEN + text_len));
}

static void
flush_outbox_locked (HvVirtioSerial *serial)
{
  HvVirtqueue *vq = hv_virtio_get_queue (serial->vdev, CONTROL_RX);
  gboolean pushed = FALSE;

  while (!g_queue_is_empty (&serial->outbox) && multiport_locked (serial) && hv_virtqueue_is_ready (vq))
    {
      g_autoptr (HvVirtqueueElement) elem = hv_virtio_pop (serial->vdev, vq);
      GBytes *message;
      gsize len;
      const void *data;

      if (elem == NULL)
        break;
      message = g_queue_pop_head (&serial->outbox);
      data = g_bytes_get_data (message, &len);
      if (elem->in_bytes < len)
        {
          hv_virtqueue_push (vq, elem, 0);
          hv_virtio_set_needs_reset (serial->vdev, "a control buffer is smaller than its message");
          g_bytes_unref (message);
          break;
        }
      hv_virtqueue_element_write (elem, 0, data, len);
      hv_virtqueue_push (vq, elem, (uint32_t) len);
      g_bytes_unref (message);
      pushed = TRUE;
    }
  if (pushed)
    hv_virtio_notify (serial->vdev, vq);
}

static Port *
find_port (HvVirtioSerial *serial, uint32_t id)
{
  return id >= 1 && id <= serial->n_ports ? &serial->ports[id - 1] : NULL;
}

static void
handle_control_locked (HvVirtioSerial *serial, const uint8_t *raw)
{
  uint32_t id = hv_get_le32 (raw);
  uint16_t event = hv_get_le16 (raw + 4);
  uint16_t value = hv_get_le16 (raw + 6);
  Port *port = find_port (serial, id);

  switch (event)
    {
    case CONTROL_DEVICE_READY:
      if (value != 1 || serial->device_ready)
        return;
      serial->device_ready = TRUE;
      for (unsigned i = 0; i < serial->n_ports; i++)
        send_control_locked (serial, serial->ports[i].id, CONTROL_DEVICE_ADD, 0, NULL);
      return;
    case CONTROL_PORT_READY:
      if (port == NULL || !serial->device_ready)
        break;
      port->guest_ready = value == 1;
      port->guest_connected = port->guest_connected && port->guest_ready;
      if (port->guest_ready)
        {
          send_control_locked (serial, port->id, CONTROL_PORT_NAME, 1, port->name);
          if (port->host_connected)
            send_control_locked (serial, port->id, CONTROL_PORT_OPEN, 1, NULL);
        }
      return;
    case CONTROL_PORT_OPEN:
      if (port == NULL || !port->guest_ready)
        break;
      port->guest_connected = value == 1;
      return;
    default:
      break;
    }
  /* Anything else (an unknown port, a message only the device sends) is the driver's mistake; ignoring
   * it keeps the other ports working. */
  g_debug ("virtio-serial: control event %u for port %u (value %u) ignored", event, id, value);
}

static void
drain_control_locked (HvVirtioSerial *serial)
{
  HvVirtqueue *vq = hv_virtio_get_queue (serial->vdev, CONTROL_TX);
  gboolean pushed = FALSE;
  HvVirtqueueElement *elem;

  while ((elem = hv_virtio_pop (serial->vdev, vq)) != NULL)
    {
      uint8_t raw[CONTROL_LEN];

      if (hv_virtqueue_element_read (elem, 0, raw, sizeof raw) == sizeof raw)
        handle_control_locked (serial, raw);
      hv_virtqueue_push (vq, elem, 0);
      hv_virtqueue_element_free (elem);
      pushed = TRUE;
    }
  if (pushed)
    hv_virtio_notify (serial->vdev, vq);
}

/* What the port's fd is polled for: reads while there is room for them, writes while bytes wait.
 * While paused, or once the host hung up, the fd is not polled at all (poll() reports a hang-up whatever
 * it is asked for). */
static void
update_watch_locked (Port *port)
{
  GIOCondition cond = 0;
  gboolean watch = port->source && port->host_connected && !hv_virtio_is_paused (port->serial->vdev);

  if (!watch)
    {
      if (port->fd_tag)
        g_source_remove_unix_fd (port->source, port->fd_tag);
      port->fd_tag = NULL;
      return;
    }
  if (port->to_guest->len < HV_VIRTIO_SERIAL_BUFFER)
    cond |= G_IO_IN;
  if (port->to_host->len > 0)
    cond |= G_IO_OUT;
  if (port->fd_tag == NULL)
    port->fd_tag = g_source_add_unix_fd (port->source, port->fd, cond);
  else
    g_source_modify_unix_fd (port->source, port->fd_tag, cond);
}

static void
host_closed_locked (Port *port)
{
  if (!port->host_connected)
    return;
  port->host_connected = FALSE;
  g_byte_array_set_size (port->to_host, 0);
  update_watch_locked (port);
  if (port->guest_ready)
    send_control_locked (port->serial, port->id, CONTROL_PORT_OPEN, 0, NULL);
}

/* Gives the guest what waits for it, as far as its receive buffers go.  Only once a program in the guest
 * opened the port (PORT_OPEN 1), as QEMU does: Linux throws away what reaches a port nobody has open. */
static void
deliver_locked (Port *port)
{
  HvVirtioSerial *serial = port->serial;
  HvVirtqueue *vq = hv_virtio_get_queue (serial->vdev, PORT_RX (port->id));
  gboolean pushed = FALSE;

  while (port->to_guest->len > 0 && port->guest_connected && multiport_locked (serial)
         && hv_virtqueue_is_ready (vq))
    {
      g_autoptr (HvVirtqueueElement) elem = hv_virtio_pop (serial->vdev, vq);
      gsize n;

      if (elem == NULL)
        break;
      if (elem->in_bytes == 0)
        {
          hv_virtqueue_push (vq, elem, 0);
          hv_virtio_set_needs_reset (serial->vdev, "a receive buffer the device cannot write");
          break;
        }
      n = hv_virtqueue_element_write (elem, 0, port->to_guest->data, port->to_guest->len);
      hv_virtqueue_push (vq, elem, (uint32_t) n);
      g_byte_array_remove_range (port->to_guest, 0, (guint) n);
      pushed = TRUE;
    }
  if (pushed)
    hv_virtio_notify (serial->vdev, vq);
}

/* A write that turns a reader's hang-up into EPIPE, not SIGPIPE, when the fd is a socket. */
static ssize_t
write_fd (int fd, const void *data, size_t len)
{
  ssize_t n = send (fd, data, len, MSG_NOSIGNAL);

  return n < 0 && errno == ENOTSOCK ? write (fd, data, len) : n;
}

static void
write_host_locked (Port *port)
{
  while (port->to_host->len > 0 && port->host_connected)
    {
      ssize_t n = write_fd (port->fd, port->to_host->data, port->to_host->len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return;
      if (n <= 0)
        {
          host_closed_locked (port);
          return;
        }
      g_byte_array_remove_range (port->to_host, 0, (guint) n);
    }
}

/* Takes the guest's transmit buffers, one at a time, as the host fd takes their bytes. */
static void
transmit_locked (Port *port)
{
  HvVirtioSerial *serial = port->serial;
  HvVirtqueue *vq = hv_virtio_get_queue (serial->vdev, PORT_TX (port->id));
  gboolean pushed = FALSE;

  write_host_locked (port);
  while (port->to_host->len == 0 && multiport_locked (serial) && hv_virtqueue_is_ready (vq))
    {
      g_autoptr (HvVirtqueueElement) elem = hv_virtio_pop (serial->vdev, vq);
      gsize len;

      if (elem == NULL)
        break;
      len = MIN (elem->out_bytes, HV_VIRTIO_SERIAL_BUFFER);
      if (port->host_connected)
        {
          g_byte_array_set_size (port->to_host, (guint) len);
          hv_virtqueue_element_read (elem, 0, port->to_host->data, len);
        }
      hv_virtqueue_push (vq, elem, 0);
      pushed = TRUE;
      write_host_locked (port);
    }
  if (pushed)
    hv_virtio_notify (serial->vdev, vq);
}

static void
read_host_locked (Port *port)
{
  while (port->host_connected && port->to_guest->len < HV_VIRTIO_SERIAL_BUFFER)
    {
      guint old = port->to_guest->len;
      ssize_t n;

      g_byte_array_set_size (port->to_guest, HV_VIRTIO_SERIAL_BUFFER);
      n = read (port->fd, port->to_guest->data + old, HV_VIRTIO_SERIAL_BUFFER - old);
      g_byte_array_set_size (port->to_guest, old + (guint) MAX (n, 0));
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return;
      if (n <= 0)
        host_closed_locked (port);
    }
}

static void
port_work_locked (Port *port)
{
  deliver_locked (port);
  transmit_locked (port);
  update_watch_locked (port);
}

static void
flush_locked (HvVirtioSerial *serial)
{
  for (unsigned i = 0; i < serial->n_ports; i++)
    port_work_locked (&serial->ports[i]);
  flush_outbox_locked (serial);
}

static gboolean
port_source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  Port *port = ((PortSource *) source)->port;
  GIOCondition revents;

  hv_virtio_lock (port->serial->vdev);
  revents = port->fd_tag ? g_source_query_unix_fd (source, port->fd_tag) : 0;
  if (!hv_virtio_is_paused (port->serial->vdev))
    {
      if (revents & G_IO_NVAL)
        host_closed_locked (port);
      if (revents & (G_IO_IN | G_IO_HUP | G_IO_ERR))
        read_host_locked (port);
      if (revents & G_IO_OUT)
        write_host_locked (port);
      port_work_locked (port);
      flush_outbox_locked (port->serial);
    }
  hv_virtio_unlock (port->serial->vdev);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs port_source_funcs = {
  .dispatch = port_source_dispatch,
};

static void
serial_config_read (void *opaque, unsigned offset, uint8_t *data, unsigned len)
{
  HvVirtioSerial *serial = opaque;
  uint8_t config[CFG_LEN] = { 0 };

  hv_put_le32 (config + 4, serial->n_ports + 1);
  for (unsigned i = 0; i < len; i++)
    data[i] = offset + i < CFG_LEN ? config[offset + i] : 0;
}

static void
serial_queue_notify (void *opaque, HvVirtqueue *vq)
{
  HvVirtioSerial *serial = opaque;

  if (vq->index == CONTROL_TX)
    drain_control_locked (serial);
  else if (vq->index == 1)
    {
      /* Port 0 is not offered: whatever the driver sends on it goes nowhere. */
      HvVirtqueueElement *elem;
      while ((elem = hv_virtio_pop (serial->vdev, vq)) != NULL)
        {
          hv_virtqueue_push (vq, elem, 0);
          hv_virtqueue_element_free (elem);
        }
      hv_virtio_notify (serial->vdev, vq);
    }
  flush_locked (serial);
}

static void
serial_driver_ok (void *opaque)
{
  flush_locked (opaque);
}

static void
serial_reset (void *opaque)
{
  HvVirtioSerial *serial = opaque;

  g_queue_clear_full (&serial->outbox, (GDestroyNotify) g_bytes_unref);
  serial->device_ready = FALSE;
  for (unsigned i = 0; i < serial->n_ports; i++)
    {
      serial->ports[i].guest_ready = FALSE;
      serial->ports[i].guest_connected = FALSE;
    }
}

HvVirtioSerial *
hv_virtio_serial_new (const HvPlatform *platform, HvPci *pci, const char *const *names, const int *fds,
                      unsigned n_ports, GError **error)
{
  HvVirtioSerial *serial;

  if (n_ports == 0 || n_ports > HV_VIRTIO_SERIAL_PORTS_MAX)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "a virtio-serial device has 1 to %u ports, not %u", HV_VIRTIO_SERIAL_PORTS_MAX, n_ports);
      return NULL;
    }
  for (unsigned i = 0; i < n_ports; i++)
    {
      if (names[i][0] == '\0' || strlen (names[i]) > HV_VIRTIO_SERIAL_NAME_MAX)
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "a port name has 1 to %u bytes: “%s”",
                       HV_VIRTIO_SERIAL_NAME_MAX, names[i]);
          return NULL;
        }
      for (unsigned j = 0; j < i; j++)
        if (strcmp (names[i], names[j]) == 0)
          {
            g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "two ports are named “%s”", names[i]);
            return NULL;
          }
      if (fds[i] >= 0 && !g_unix_set_fd_nonblocking (fds[i], TRUE, error))
        return NULL;
    }

  serial = g_new0 (HvVirtioSerial, 1);
  serial->context = platform->io_context;
  serial->n_ports = n_ports;
  g_queue_init (&serial->outbox);
  for (unsigned i = 0; i < n_ports; i++)
    {
      Port *port = &serial->ports[i];

      port->serial = serial;
      port->id = i + 1;
      port->name = g_strdup (names[i]);
      port->fd = fds[i];
      port->host_connected = fds[i] >= 0;
      port->to_guest = g_byte_array_new ();
      port->to_host = g_byte_array_new ();
    }
  serial->info = (HvVirtioDeviceInfo){
    .name = "virtio-serial",
    .device_id = VIRTIO_ID_CONSOLE,
    .pci_class = PCI_CLASS_COMMUNICATION,
    .features = HV_VIRTIO_FEATURE (VIRTIO_CONSOLE_F_MULTIPORT),
    .n_queues = 2 * (n_ports + 1) + 2,
    .queue_size = QUEUE_SIZE,
    .config_size = CFG_LEN,
    .config_read = serial_config_read,
    .driver_ok = serial_driver_ok,
    .queue_notify = serial_queue_notify,
    .reset = serial_reset,
  };
  serial->vdev = hv_virtio_pci_new (platform, pci, &serial->info, serial, error);
  if (serial->vdev == NULL)
    {
      hv_virtio_serial_free (serial);
      return NULL;
    }
  for (unsigned i = 0; i < n_ports; i++)
    {
      Port *port = &serial->ports[i];

      if (port->fd < 0)
        continue;
      port->source = g_source_new (&port_source_funcs, sizeof (PortSource));
      ((PortSource *) port->source)->port = port;
      g_source_set_static_name (port->source, "vireo virtio-serial port");
      hv_virtio_lock (serial->vdev);
      update_watch_locked (port);
      hv_virtio_unlock (serial->vdev);
      g_source_attach (port->source, serial->context);
    }
  return serial;
}

void
hv_virtio_serial_free (HvVirtioSerial *serial)
{
  if (serial == NULL)
    return;
  for (unsigned i = 0; i < serial->n_ports; i++)
    if (serial->ports[i].source)
      g_source_destroy (serial->ports[i].source);
  if (serial->context)
    hv_iothread_barrier (serial->context);
  hv_virtio_free (serial->vdev);
  for (unsigned i = 0; i < serial->n_ports; i++)
    {
      Port *port = &serial->ports[i];

      g_clear_pointer (&port->source, g_source_unref);
      g_free (port->name);
      g_byte_array_unref (port->to_guest);
      g_byte_array_unref (port->to_host);
    }
  g_queue_clear_full (&serial->outbox, (GDestroyNotify) g_bytes_unref);
  g_free (serial);
}

gboolean
hv_virtio_serial_guest_connected (HvVirtioSerial *serial, const char *name)
{
  gboolean connected = FALSE;

  hv_virtio_lock (serial->vdev);
  for (unsigned i = 0; i < serial->n_ports; i++)
    if (strcmp (serial->ports[i].name, name) == 0)
      connected = serial->ports[i].guest_connected && hv_virtio_is_driver_ok (serial->vdev);
  hv_virtio_unlock (serial->vdev);
  return connected;
}

void
hv_virtio_serial_set_paused (HvVirtioSerial *serial, gboolean paused)
{
  hv_virtio_lock (serial->vdev);
  hv_virtio_set_paused (serial->vdev, paused);
  if (!paused)
    flush_locked (serial);
  else
    for (unsigned i = 0; i < serial->n_ports; i++)
      update_watch_locked (&serial->ports[i]);
  hv_virtio_unlock (serial->vdev);
}

GVariant *
hv_virtio_serial_save_state (HvVirtioSerial *serial)
{
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  GVariantBuilder ports, outbox;

  hv_virtio_lock (serial->vdev);
  g_variant_dict_insert_value (&dict, "virtio", hv_virtio_save_state (serial->vdev));
  g_variant_dict_insert (&dict, "device-ready", "b", serial->device_ready);
  g_variant_builder_init (&ports, G_VARIANT_TYPE ("a(sbbbayay)"));
  for (unsigned i = 0; i < serial->n_ports; i++)
    {
      Port *port = &serial->ports[i];

      g_variant_builder_add (&ports, "(sbbb@ay@ay)", port->name, port->host_connected, port->guest_ready,
                             port->guest_connected,
                             hv_state_new_bytes (port->to_guest->data, port->to_guest->len),
                             hv_state_new_bytes (port->to_host->data, port->to_host->len));
    }
  g_variant_dict_insert_value (&dict, "ports", g_variant_builder_end (&ports));
  g_variant_builder_init (&outbox, G_VARIANT_TYPE ("aay"));
  for (GList *l = serial->outbox.head; l; l = l->next)
    {
      gsize len;
      const void *data = g_bytes_get_data (l->data, &len);
      g_variant_builder_add_value (&outbox, hv_state_new_bytes (data, len));
    }
  g_variant_dict_insert_value (&dict, "outbox", g_variant_builder_end (&outbox));
  hv_virtio_unlock (serial->vdev);
  return g_variant_dict_end (&dict);
}

gboolean
hv_virtio_serial_load_state (HvVirtioSerial *serial, GVariant *state, GError **error)
{
  const char *what = "virtio-serial";
  g_autoptr (GVariant) transport = NULL;
  g_autoptr (GVariant) ports = NULL;
  g_autoptr (GVariant) outbox = NULL;
  gboolean device_ready;
  gboolean ok;

  if (!hv_state_get (state, what, "device-ready", "b", &device_ready, error))
    return FALSE;
  ports = hv_state_lookup (state, what, "ports", G_VARIANT_TYPE ("a(sbbbayay)"), error);
  if (ports == NULL)
    return FALSE;
  outbox = hv_state_lookup (state, what, "outbox", G_VARIANT_TYPE ("aay"), error);
  if (outbox == NULL)
    return FALSE;
  if (g_variant_n_children (ports) != serial->n_ports)
    {
      hv_state_set_bad (error, what, "it has %" G_GSIZE_FORMAT " ports, the device %u",
                        g_variant_n_children (ports), serial->n_ports);
      return FALSE;
    }
  if (g_variant_n_children (outbox) > OUTBOX_MAX)
    {
      hv_state_set_bad (error, what, "too many control messages wait");
      return FALSE;
    }
  for (gsize i = 0; i < g_variant_n_children (outbox); i++)
    {
      g_autoptr (GVariant) message = g_variant_get_child_value (outbox, i);
      gsize len = g_variant_get_size (message);

      if (len < CONTROL_LEN || len > CONTROL_LEN + HV_VIRTIO_SERIAL_NAME_MAX)
        {
          hv_state_set_bad (error, what, "a control message of %" G_GSIZE_FORMAT " bytes", len);
          return FALSE;
        }
    }
  for (unsigned i = 0; i < serial->n_ports; i++)
    {
      const char *name;
      g_autoptr (GVariant) to_guest = NULL;
      g_autoptr (GVariant) to_host = NULL;
      gboolean host, ready, connected;

      g_variant_get_child (ports, i, "(&sbbb@ay@ay)", &name, &host, &ready, &connected, &to_guest, &to_host);
      if (strcmp (name, serial->ports[i].name) != 0)
        {
          hv_state_set_bad (error, what, "port %u is “%s”, not “%s”", i + 1, name, serial->ports[i].name);
          return FALSE;
        }
      if (g_variant_get_size (to_guest) > HV_VIRTIO_SERIAL_BUFFER
          || g_variant_get_size (to_host) > HV_VIRTIO_SERIAL_BUFFER)
        {
          hv_state_set_bad (error, what, "port “%s” holds more bytes than it can", name);
          return FALSE;
        }
    }
  transport = hv_state_lookup (state, what, "virtio", G_VARIANT_TYPE_VARDICT, error);
  if (transport == NULL)
    return FALSE;

  hv_virtio_lock (serial->vdev);
  ok = hv_virtio_load_state (serial->vdev, transport, error);
  if (ok)
    {
      serial->device_ready = device_ready;
      g_queue_clear_full (&serial->outbox, (GDestroyNotify) g_bytes_unref);
      for (gsize i = 0; i < g_variant_n_children (outbox); i++)
        {
          g_autoptr (GVariant) message = g_variant_get_child_value (outbox, i);
          g_queue_push_tail (&serial->outbox, g_variant_get_data_as_bytes (message));
        }
      for (unsigned i = 0; i < serial->n_ports; i++)
        {
          Port *port = &serial->ports[i];
          g_autoptr (GVariant) to_guest = NULL;
          g_autoptr (GVariant) to_host = NULL;
          gboolean host;

          g_variant_get_child (ports, i, "(&sbbb@ay@ay)", NULL, &host, &port->guest_ready,
                               &port->guest_connected, &to_guest, &to_host);
          g_byte_array_set_size (port->to_guest, 0);
          g_byte_array_append (port->to_guest, g_variant_get_data (to_guest),
                               (guint) g_variant_get_size (to_guest));
          g_byte_array_set_size (port->to_host, 0);
          g_byte_array_append (port->to_host, g_variant_get_data (to_host),
                               (guint) g_variant_get_size (to_host));
          /* The host side is this machine's fd, whatever the saved one was: a change is told to the guest. */
          if (port->guest_ready && host != port->host_connected)
            send_control_locked (serial, port->id, CONTROL_PORT_OPEN, port->host_connected, NULL);
          update_watch_locked (port);
        }
    }
  hv_virtio_unlock (serial->vdev);
  return ok;
}

/* The "virtio-serial" kind: options "ports" (names, comma-separated) and "fds" (one per port, in order). */

static gboolean
serial_realize (HvDevice *device, GError **error)
{
  const char *ports = NULL;
  g_auto (GStrv) names = NULL;
  unsigned n_names, n_fds = 0;
  g_autofree int *given = hv_device_get_fds_option (device, "fds", &n_fds);
  const int *fds = given;
  int none[HV_VIRTIO_SERIAL_PORTS_MAX];

  g_variant_lookup (device->options, "ports", "&s", &ports);
  names = g_strsplit (ports ? ports : "", ",", -1);
  n_names = g_strv_length (names);
  if (n_fds != 0 && n_fds != n_names)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "%u ports and %u fds", n_names, n_fds);
      return FALSE;
    }
  if (n_fds == 0)
    {
      for (unsigned i = 0; i < HV_VIRTIO_SERIAL_PORTS_MAX; i++)
        none[i] = -1;
      fds = none;
    }
  device->impl = hv_virtio_serial_new (hv_device_get_platform (device), hv_device_get_pci (device),
                                       (const char *const *) names, fds, n_names, error);
  return device->impl != NULL;
}

static void
serial_teardown (HvDevice *device)
{
  hv_virtio_serial_free (device->impl);
}

static void
serial_quiesce (HvDevice *device, gboolean quiesced)
{
  const HvPlatform *platform = hv_device_get_platform (device);

  hv_virtio_serial_set_paused (device->impl, quiesced);
  if (quiesced && platform->io_context)
    hv_iothread_barrier (platform->io_context);
}

static GVariant *
serial_save (HvDevice *device)
{
  return hv_virtio_serial_save_state (device->impl);
}

static gboolean
serial_load (HvDevice *device, GVariant *state, unsigned version, GError **error)
{
  return hv_virtio_serial_load_state (device->impl, state, error);
}

const HvDeviceKind hv_virtio_serial_kind = {
  .info = &hv_kind_info_virtio_serial,
  .order = HV_DEVICE_ORDER_PCI,
  .state_version = 1,
  .realize = serial_realize,
  .teardown = serial_teardown,
  .quiesce = serial_quiesce,
  .save = serial_save,
  .load = serial_load,
};
