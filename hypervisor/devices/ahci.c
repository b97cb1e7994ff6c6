/* ahci.c — the AHCI 1.0 SATA controller (ICH9's identity, 8086:2922, registers in BAR 5) with up to six
 * ports: its interrupts and received FISes, the HBA and port registers, its PCI function, and making,
 * pausing and freeing it and adding its drives.  The command lists in guest memory are run by
 * ahci-commands.c (a hard disk's ATA commands in ahci-ata.c, a CD-ROM's ATAPI commands in ahci-atapi.c)
 * as asynchronous HvBlock requests on the controller's own I/O thread; saved state is in ahci-state.c.
 *
 * Registers are served on vCPU threads; a write to PxCI wakes the I/O thread (an eventfd), which
 * reads the command headers and tables, checks every address against guest RAM and runs the commands.
 * Bad input from the guest (a command table outside RAM, a PRD past the end of memory, a short
 * scatter list, an LBA past the end) ends the command with an error bit (PxIS.HBFS or TFES with ABRT
 * or IDNF in the task file) and stops the port until the driver restarts it, as hardware does. */
#include "ahci-private.h"
#include "bus.h"
#include "bytes.h"
#include "iothread.h"
#include "memory.h"
#include "x86/layout.h"

#include <errno.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* ---- Interrupts and FISes ---- */

static uint32_t
hba_is_locked (HvAhci *ahci)
{
  uint32_t is = 0;

  for (unsigned i = 0; i < HV_AHCI_PORTS; i++)
    if (ahci->ports[i].is & ahci->ports[i].ie)
      is |= 1u << i;
  return is;
}

/* Sends the MSI message the guest programmed, through an irqfd bound to a route for it. */
static void
send_msi_locked (HvAhci *ahci)
{
  const HvPlatform *platform = &ahci->platform;
  const uint8_t *cap = ahci->pci.config + MSI_CAP;
  uint64_t address = hv_get_le32 (cap + 4) | (uint64_t) hv_get_le32 (cap + 8) << 32;
  uint32_t data = hv_get_le16 (cap + 12);
  g_autoptr (GError) error = NULL;

  if (platform->add_msi_route == NULL || platform->update_msi_route == NULL || platform->set_irqfd == NULL)
    g_set_error (&error, HV_ERROR, HV_ERROR_FAILED, "the platform has no MSI routes");
  else if (ahci->msi_gsi < 0)
    {
      ahci->msi_gsi = platform->add_msi_route (platform->opaque, address, data, &error);
      ahci->msi_address = address;
      ahci->msi_data = data;
    }
  else if ((address != ahci->msi_address || data != ahci->msi_data)
           && platform->update_msi_route (platform->opaque, (unsigned) ahci->msi_gsi, address, data, &error))
    {
      ahci->msi_address = address;
      ahci->msi_data = data;
    }
  if (error == NULL && ahci->msi_gsi >= 0 && !ahci->msi_irqfd_assigned)
    ahci->msi_irqfd_assigned = platform->set_irqfd (platform->opaque, (unsigned) ahci->msi_gsi, ahci->msi_fd,
                                                    TRUE, &error);
  if (error == NULL && eventfd_write (ahci->msi_fd, 1) < 0)
    g_set_error (&error, HV_ERROR, HV_ERROR_FAILED, "cannot signal the irqfd: %s", g_strerror (errno));
  if (error && !ahci->msi_warned)
    {
      ahci->msi_warned = TRUE;
      g_warning ("%s: an MSI interrupt was lost: %s", ahci->name, error->message);
    }
}

/* INTx is a level while a port's enabled status bits are set; MSI a message each time a port gets one
 * the guest has not seen (it then reads every port's status, as with INTx). */
void
ahci_update_irq_locked (HvAhci *ahci)
{
  uint32_t is = (ahci->ghc & GHC_IE) ? hba_is_locked (ahci) : 0;
  gboolean msi = (ahci->pci.config[MSI_CAP + 2] & MSI_ENABLE) != 0;
  gboolean level = !msi && is != 0 && !(hv_get_le16 (ahci->pci.config + PCI_COMMAND) & COMMAND_INTX_OFF);

  if (msi && (is & ~ahci->last_is))
    send_msi_locked (ahci);
  ahci->last_is = is;
  if (level == ahci->irq_level)
    return;
  ahci->irq_level = level;
  hv_platform_set_irq (&ahci->platform, ahci->gsi, level);
}

void
ahci_post_fis_locked (Port *port, unsigned offset, const uint8_t *fis, unsigned len)
{
  uint8_t *area;

  if (!(port->cmd & CMD_FR))
    return;
  area = hv_memory_ptr (port->ahci->platform.memory, port->fb, RFIS_SIZE);
  if (area == NULL)
    {
      port->is |= IS_HBFS;
      return;
    }
  memcpy (area + offset, fis, len);
}

void
ahci_post_d2h_locked (Port *port, uint8_t status, uint8_t error, uint8_t count, gboolean interrupt)
{
  uint8_t fis[20] = { 0x34, interrupt ? 0x40 : 0x00, status, error };

  fis[12] = count;
  ahci_post_fis_locked (port, RFIS_D2H, fis, sizeof fis);
}

/* What a device says after a reset: ready, with its signature in the task file registers. */
static void
post_signature_locked (Port *port)
{
  uint8_t fis[20] = { 0x34, 0x00, (uint8_t) port->tfd, 0 };

  fis[4] = (uint8_t) (port->sig >> 8);
  fis[5] = (uint8_t) (port->sig >> 16);
  fis[6] = (uint8_t) (port->sig >> 24);
  fis[12] = (uint8_t) port->sig;
  ahci_post_fis_locked (port, RFIS_D2H, fis, sizeof fis);
}

/* ---- Port state ---- */

gboolean
ahci_medium_present (Port *port)
{
  return port->block != NULL && !port->tray_open;
}

static void
stop_port_locked (Port *port)
{
  /* Commands in flight finish in the block layer; their answers are dropped. */
  port->generation++;
  port->busy = 0;
  port->queued_busy = FALSE;
  port->ci = 0;
  port->sact = 0;
  port->error_stop = FALSE;
}

static void
reset_device_locked (Port *port)
{
  stop_port_locked (port);
  if (port->type == DRIVE_NONE)
    {
      port->tfd = 0x7f;
      port->sig = 0xffffffffu;
      port->ssts = 0;
      return;
    }
  port->tfd = STATUS_OK;
  port->sig = port->type == DRIVE_CDROM ? SIG_ATAPI : SIG_DISK;
  port->ssts = SSTS_UP;
  port->sense_key = port->asc = port->ascq = 0;
}

static void
reset_port_locked (Port *port)
{
  port->clb = port->fb = 0;
  port->is = port->ie = 0;
  port->cmd = port->type == DRIVE_NONE ? 0 : CMD_SUD | CMD_POD;
  port->sctl = port->serr = 0;
  reset_device_locked (port);
}

static void
reset_hba_locked (HvAhci *ahci)
{
  ahci->ghc = GHC_AE;
  for (unsigned i = 0; i < HV_AHCI_PORTS; i++)
    reset_port_locked (&ahci->ports[i]);
  ahci_update_irq_locked (ahci);
}

/* ---- Registers ---- */

static uint32_t
port_read_locked (Port *port, unsigned reg)
{
  switch (reg)
    {
    case P_CLB:
      return (uint32_t) port->clb;
    case P_CLBU:
      return (uint32_t) (port->clb >> 32);
    case P_FB:
      return (uint32_t) port->fb;
    case P_FBU:
      return (uint32_t) (port->fb >> 32);
    case P_IS:
      return port->is;
    case P_IE:
      return port->ie;
    case P_CMD:
      return port->cmd;
    case P_TFD:
      return port->tfd;
    case P_SIG:
      return port->sig;
    case P_SSTS:
      return port->ssts;
    case P_SCTL:
      return port->sctl;
    case P_SERR:
      return port->serr;
    case P_SACT:
      return port->sact;
    case P_CI:
      return port->ci;
    default:
      return 0;
    }
}

static void
port_write_locked (Port *port, unsigned reg, uint32_t value)
{
  HvAhci *ahci = port->ahci;

  switch (reg)
    {
    case P_CLB:
      port->clb = (port->clb & ~0xffffffffull) | (value & ~0x3ffu);
      break;
    case P_CLBU:
      port->clb = (port->clb & 0xffffffffull) | (uint64_t) value << 32;
      break;
    case P_FB:
      port->fb = (port->fb & ~0xffffffffull) | (value & ~0xffu);
      break;
    case P_FBU:
      port->fb = (port->fb & 0xffffffffull) | (uint64_t) value << 32;
      break;
    case P_IS:
      port->is &= ~value;
      break;
    case P_IE:
      port->ie = value & IS_VALID;
      break;
    case P_CMD:
      {
        uint32_t old = port->cmd;

        port->cmd = (old & ~CMD_WRITABLE) | (value & CMD_WRITABLE);
        if (value & CMD_CLO)
          port->tfd &= ~(uint32_t) (ST_BSY | ST_DRQ);
        if ((port->cmd & CMD_FRE) && port->type != DRIVE_NONE)
          {
            if (!(old & CMD_FR))
              {
                port->cmd |= CMD_FR;
                post_signature_locked (port);
              }
          }
        else
          port->cmd &= ~CMD_FR;
        if ((port->cmd & CMD_ST) && port->type != DRIVE_NONE)
          {
            if (!(old & CMD_ST))
              {
                port->error_stop = FALSE;
                port->cmd |= CMD_CR;
              }
          }
        else
          {
            if (old & CMD_ST)
              stop_port_locked (port);
            port->cmd &= ~CMD_CR;
          }
        break;
      }
    case P_SCTL:
      if ((port->sctl & 0xf) == 1 && (value & 0xf) == 0)
        {
          /* The end of a COMRESET: the device resets and sends its signature. */
          stop_port_locked (port);
          reset_device_locked (port);
          post_signature_locked (port);
        }
      port->sctl = value & 0xfff;
      break;
    case P_SERR:
      port->serr &= ~value;
      break;
    case P_SACT:
      if (port->cmd & CMD_ST)
        port->sact |= value;
      break;
    case P_CI:
      if ((port->cmd & CMD_ST) && port->type != DRIVE_NONE)
        {
          port->ci |= value;
          ahci_kick (ahci);
        }
      break;
    default:
      break;
    }
}

static uint32_t
hba_read_locked (HvAhci *ahci, unsigned reg)
{
  switch (reg)
    {
    case HBA_CAP:
      return CAP_S64A | CAP_SNCQ | CAP_SAM | CAP_GEN1 | CAP_NCS | (HV_AHCI_PORTS - 1);
    case HBA_GHC:
      return ahci->ghc;
    case HBA_IS:
      return hba_is_locked (ahci);
    case HBA_PI:
      return (1u << HV_AHCI_PORTS) - 1;
    case HBA_VS:
      return AHCI_VERSION;
    default:
      return 0;
    }
}

static void
hba_write_locked (HvAhci *ahci, unsigned reg, uint32_t value)
{
  if (reg != HBA_GHC)
    return; /* IS is derived from the ports' (write-one-to-clear there) */
  if (value & GHC_HR)
    {
      reset_hba_locked (ahci);
      return;
    }
  ahci->ghc = GHC_AE | (value & GHC_IE);
}

static void
abar_io (void *opaque, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write)
{
  HvAhci *ahci = opaque;
  unsigned reg = (unsigned) offset & ~3u, shift = ((unsigned) offset & 3) * 8;
  uint32_t value;

  g_mutex_lock (&ahci->lock);
  if (is_write)
    {
      if (len == 4 && (offset & 3) == 0)
        {
          value = hv_get_le32 (data);
          if (reg < PORT_BASE)
            hba_write_locked (ahci, reg, value);
          else if (reg < PORT_BASE + PORT_SIZE * HV_AHCI_PORTS)
            port_write_locked (&ahci->ports[(reg - PORT_BASE) / PORT_SIZE], (reg - PORT_BASE) % PORT_SIZE,
                               value);
          ahci_update_irq_locked (ahci);
        }
    }
  else
    {
      if (reg < PORT_BASE)
        value = hba_read_locked (ahci, reg);
      else if (reg < PORT_BASE + PORT_SIZE * HV_AHCI_PORTS)
        value = port_read_locked (&ahci->ports[(reg - PORT_BASE) / PORT_SIZE], (reg - PORT_BASE) % PORT_SIZE);
      else
        value = 0;
      for (unsigned i = 0; i < len && i < 8; i++)
        data[i] = shift + 8 * i < 32 ? (uint8_t) (value >> (shift + 8 * i)) : 0;
    }
  g_mutex_unlock (&ahci->lock);
}

/* ---- PCI ---- */

static void
map_abar_locked (HvAhci *ahci)
{
  gboolean decode = (ahci->pci.config[PCI_COMMAND] & COMMAND_MEMORY) != 0;
  uint64_t address = decode ? hv_pci_bar_address (&ahci->pci, ABAR) : 0;
  g_autoptr (GError) error = NULL;

  if (ahci->bar_mapped && ahci->bar_addr == address)
    return;
  if (ahci->bar_mapped)
    {
      hv_bus_unregister (ahci->platform.mmio, ahci->bar_addr, ahci);
      ahci->bar_mapped = FALSE;
    }
  if (address == 0 || ahci->platform.mmio == NULL)
    return;
  if (!hv_bus_register (ahci->platform.mmio, address, ABAR_SIZE, ahci->name, abar_io, ahci, &error))
    {
      g_debug ("%s: the registers stay unmapped: %s", ahci->name, error->message);
      return;
    }
  ahci->bar_mapped = TRUE;
  ahci->bar_addr = address;
}

static void
pci_config_written (HvPciDevice *device, unsigned offset, unsigned len)
{
  HvAhci *ahci = device->opaque;

  g_mutex_lock (&ahci->lock);
  map_abar_locked (ahci);
  ahci_update_irq_locked (ahci);
  g_mutex_unlock (&ahci->lock);
}

static void
pci_bar_moved (HvPciDevice *device, unsigned bar, uint64_t old_addr, uint64_t new_addr)
{
  pci_config_written (device, 0, 0);
}

/* ---- Life cycle ---- */

HvAhci *
hv_ahci_new (const HvPlatform *platform, HvPci *pci, const char *name, GError **error)
{
  HvAhci *ahci;
  HvPciDevice *d;

  if (platform->io_context == NULL || platform->memory == NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "%s: the controller needs guest memory and an I/O thread", name);
      return NULL;
    }
  ahci = g_new0 (HvAhci, 1);
  g_mutex_init (&ahci->lock);
  ahci->platform = *platform;
  g_main_context_ref (platform->io_context);
  ahci->name = g_strdup (name);
  ahci->msi_gsi = -1;
  ahci->kick_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  ahci->msi_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (ahci->kick_fd < 0 || ahci->msi_fd < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "%s: cannot make an eventfd: %s", name,
                   g_strerror (saved));
      hv_ahci_free (ahci);
      return NULL;
    }
  for (unsigned i = 0; i < HV_AHCI_PORTS; i++)
    {
      ahci->ports[i].ahci = ahci;
      ahci->ports[i].index = i;
      ahci->ports[i].name = g_strdup_printf ("%s port %u", name, i);
    }
  reset_hba_locked (ahci);

  d = &ahci->pci;
  d->name = ahci->name;
  d->opaque = ahci;
  d->config_written = pci_config_written;
  d->bar_moved = pci_bar_moved;
  hv_put_le16 (d->config + 0x00, 0x8086);
  hv_put_le16 (d->config + 0x02, 0x2922);
  d->config[0x08] = 0x02;
  d->config[0x09] = 0x01; /* AHCI 1.0 */
  d->config[0x0a] = 0x06; /* SATA */
  d->config[0x0b] = 0x01; /* mass storage */
  hv_put_le16 (d->config + 0x2c, 0x1af4);
  hv_put_le16 (d->config + 0x2e, 0x1100);
  d->config[0x3d] = 0x01; /* INTA# */
  d->config[PCI_STATUS] |= STATUS_CAP_LIST;
  d->config[PCI_CAP_POINTER] = MSI_CAP;
  d->config[MSI_CAP] = 0x05;
  d->config[MSI_CAP + 2] = 0x80; /* 64-bit addresses, one message */
  d->write_mask[MSI_CAP + 2] = MSI_ENABLE;
  d->write_mask[MSI_CAP + 4] = 0xfc;
  for (unsigned i = MSI_CAP + 5; i < MSI_CAP + 14; i++)
    d->write_mask[i] = 0xff;
  d->bar_size[ABAR] = ABAR_SIZE;
  if (!hv_pci_add_device (pci, d, error))
    {
      hv_ahci_free (ahci);
      return NULL;
    }
  ahci->gsi = HV_PCI_INTX_GSI (d->slot, 0);

  ahci->kick_source = g_unix_fd_source_new (ahci->kick_fd, G_IO_IN);
  g_source_set_callback (ahci->kick_source, G_SOURCE_FUNC (ahci_kicked), ahci, NULL);
  g_source_set_static_name (ahci->kick_source, "ahci");
  g_source_attach (ahci->kick_source, ahci->platform.io_context);
  g_mutex_lock (&ahci->lock);
  map_abar_locked (ahci);
  g_mutex_unlock (&ahci->lock);
  return ahci;
}

void
hv_ahci_free (HvAhci *ahci)
{
  if (ahci == NULL)
    return;
  if (ahci->kick_source)
    {
      g_source_destroy (ahci->kick_source);
      g_source_unref (ahci->kick_source);
    }
  hv_ahci_quiesce (ahci, TRUE);
  g_mutex_lock (&ahci->lock);
  if (ahci->bar_mapped)
    hv_bus_unregister (ahci->platform.mmio, ahci->bar_addr, ahci);
  if (ahci->irq_level)
    hv_platform_set_irq (&ahci->platform, ahci->gsi, FALSE);
  g_mutex_unlock (&ahci->lock);
  for (unsigned i = 0; i < HV_AHCI_PORTS; i++)
    {
      hv_block_free (ahci->ports[i].block);
      g_free (ahci->ports[i].name);
    }
  if (ahci->msi_irqfd_assigned)
    ahci->platform.set_irqfd (ahci->platform.opaque, (unsigned) ahci->msi_gsi, ahci->msi_fd, FALSE, NULL);
  if (ahci->msi_fd >= 0)
    close (ahci->msi_fd);
  if (ahci->kick_fd >= 0)
    close (ahci->kick_fd);
  g_main_context_unref (ahci->platform.io_context);
  g_mutex_clear (&ahci->lock);
  g_free (ahci->name);
  g_free (ahci);
}

HvPciDevice *
hv_ahci_get_pci (HvAhci *ahci)
{
  return &ahci->pci;
}

static int
add_drive (HvAhci *ahci, const char *name, DriveType type, HvBlock *block, const char *serial, GError **error)
{
  Port *port;

  if (ahci->n_ports >= HV_AHCI_PORTS)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "the SATA controller has %u ports, all taken",
                   HV_AHCI_PORTS);
      hv_block_free (block);
      return -1;
    }
  if (block && !hv_block_attach (block, ahci->platform.io_context, NCQ_DEPTH + 1, error))
    {
      hv_block_free (block);
      return -1;
    }
  g_mutex_lock (&ahci->lock);
  port = &ahci->ports[ahci->n_ports];
  port->type = type;
  port->block = block;
  g_free (port->name);
  port->name = g_strdup (name);
  if (serial && *serial)
    g_strlcpy (port->serial, serial, sizeof port->serial);
  else
    g_snprintf (port->serial, sizeof port->serial, "VIREO-SATA-%u", ahci->n_ports);
  reset_port_locked (port);
  g_mutex_unlock (&ahci->lock);
  return (int) ahci->n_ports++;
}

int
hv_ahci_add_disk (HvAhci *ahci, const char *name, HvBlock *block, const char *serial, GError **error)
{
  return add_drive (ahci, name, DRIVE_DISK, block, serial, error);
}

int
hv_ahci_add_cdrom (HvAhci *ahci, const char *name, HvBlock *block, GError **error)
{
  return add_drive (ahci, name, DRIVE_CDROM, block, NULL, error);
}

gboolean
hv_ahci_port_is_cdrom (HvAhci *ahci, unsigned port)
{
  return port < HV_AHCI_PORTS && ahci->ports[port].type == DRIVE_CDROM;
}

gboolean
hv_ahci_change_medium (HvAhci *ahci, unsigned index, HvBlock *block, gboolean force, GError **error)
{
  Port *port;
  HvBlock *old;

  if (!hv_ahci_port_is_cdrom (ahci, index))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "it is not a CD-ROM drive");
      hv_block_free (block);
      return FALSE;
    }
  port = &ahci->ports[index];
  if (block && !hv_block_attach (block, ahci->platform.io_context, NCQ_DEPTH + 1, error))
    {
      hv_block_free (block);
      return FALSE;
    }
  g_mutex_lock (&ahci->lock);
  if (block == NULL && port->locked && !force)
    {
      /* As when someone presses the drive's button: a guest watching media events may unlock it. */
      port->media_event = MEDIA_EVENT_EJECT;
      g_mutex_unlock (&ahci->lock);
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE,
                   "the guest has locked the CD-ROM's tray (it is using the disc)");
      return FALSE;
    }
  if (port->changing)
    {
      g_mutex_unlock (&ahci->lock);
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE, "the disc is being changed already");
      hv_block_free (block);
      return FALSE;
    }
  port->changing = TRUE;
  old = port->block;
  g_mutex_unlock (&ahci->lock);

  /* The command reading the old disc finishes first. */
  if (old)
    hv_block_drain (old);

  g_mutex_lock (&ahci->lock);
  port->block = block;
  port->changing = FALSE;
  if (block)
    {
      port->tray_open = FALSE;
      port->media_event = MEDIA_EVENT_NEW;
      port->unit_attention = TRUE;
    }
  else
    {
      if (old && !port->tray_open)
        port->media_event = MEDIA_EVENT_REMOVAL;
      port->tray_open = TRUE;
      port->locked = FALSE;
    }
  g_mutex_unlock (&ahci->lock);
  hv_block_free (old);
  ahci_kick (ahci);
  return TRUE;
}

void
hv_ahci_quiesce (HvAhci *ahci, gboolean quiesced)
{
  g_mutex_lock (&ahci->lock);
  ahci->paused = quiesced;
  g_mutex_unlock (&ahci->lock);
  if (!quiesced)
    {
      ahci_kick (ahci);
      return;
    }
  hv_iothread_barrier (ahci->platform.io_context);
  for (unsigned i = 0; i < HV_AHCI_PORTS; i++)
    if (ahci->ports[i].block)
      hv_block_drain (ahci->ports[i].block);
}
