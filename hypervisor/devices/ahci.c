/* ahci.c — the AHCI 1.0 SATA controller (ICH9's identity, 8086:2922, registers in BAR 5) with up to six
 * ports: the HBA and port registers, command lists and received-FIS areas in guest memory, the ATA
 * commands of a hard disk (DMA, NCQ, flush, TRIM) and the ATAPI (MMC) commands of a CD-ROM, as
 * asynchronous HvBlock requests on the controller's own I/O thread.
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
#include "state.h"
#include "x86/layout.h"

#include <errno.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void process_port_locked (Port *port);

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

static void
post_fis_locked (Port *port, unsigned offset, const uint8_t *fis, unsigned len)
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
  post_fis_locked (port, RFIS_D2H, fis, sizeof fis);
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
  post_fis_locked (port, RFIS_D2H, fis, sizeof fis);
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

/* ---- Completion ---- */

void
ahci_request_free (Request *request)
{
  g_free (request->ranges);
  g_free (request);
}

/* Ends the command in @slot: the byte count in its header, the FIS, PxCI/PxSACT, the interrupt. */
void
ahci_finish_slot_locked (Port *port, unsigned slot, gboolean ncq, gboolean pio, uint32_t transferred,
                         uint8_t status, uint8_t error)
{
  uint8_t *header = hv_memory_ptr (port->ahci->platform.memory, port->clb + 32ull * slot, 32);
  uint32_t bit = 1u << slot;

  if (header)
    hv_put_le32 (header + 4, transferred);
  port->busy &= ~bit;
  if (!ncq)
    port->queued_busy = FALSE;
  port->tfd = (uint32_t) status | (uint32_t) error << 8;
  if (ncq && !(status & ST_ERR))
    {
      uint8_t fis[8] = { 0xa1, 0x40, status & 0x77, error };

      hv_put_le32 (fis + 4, bit);
      post_fis_locked (port, RFIS_SDB, fis, sizeof fis);
      port->sact &= ~bit;
      port->is |= IS_SDBS;
    }
  else
    {
      if (pio && !(status & ST_ERR))
        {
          uint8_t fis[20] = { 0x5f, 0x60, status | ST_DRQ, error };

          fis[15] = status;
          hv_put_le16 (fis + 16, (uint16_t) MIN (transferred, 0xffffu));
          post_fis_locked (port, RFIS_PIO, fis, sizeof fis);
          port->is |= IS_PSS;
        }
      ahci_post_d2h_locked (port, status, error, port->type == DRIVE_CDROM ? 3 : 0, TRUE);
      port->is |= IS_DHRS;
      port->ci &= ~bit;
      port->sact &= ~bit;
    }
  if (status & ST_ERR)
    {
      /* As an HBA does after a task file error: nothing more runs until the driver restarts the port. */
      port->is |= IS_TFES;
      port->error_stop = TRUE;
      if (ncq)
        port->sact &= ~bit;
    }
  ahci_update_irq_locked (port->ahci);
}

void
ahci_fail_slot_locked (Port *port, unsigned slot, gboolean ncq, uint8_t error)
{
  ahci_finish_slot_locked (port, slot, ncq, FALSE, 0, STATUS_OK | ST_ERR, error);
}

/* The guest gave addresses that are not RAM: a host bus fatal error, and the port stops. */
static void
fatal_slot_locked (Port *port, unsigned slot)
{
  port->busy &= ~(1u << slot);
  port->ci &= ~(1u << slot);
  port->sact &= ~(1u << slot);
  port->queued_busy = FALSE;
  port->is |= IS_HBFS;
  port->tfd = STATUS_OK | ST_ERR | ERR_ABRT << 8;
  port->error_stop = TRUE;
  ahci_update_irq_locked (port->ahci);
}

static void
complete_locked (Request *request, int result)
{
  Port *port = request->port;

  if (request->generation != port->generation)
    {
      port->in_flight--;
      ahci_request_free (request);
      return;
    }
  if (result >= 0 && request->next_range < request->n_ranges)
    {
      /* The next range of a TRIM. */
      port->in_flight--;
      if (ahci_submit_locked (request))
        return;
      result = -EIO;
      port->in_flight++;
    }
  port->in_flight--;
  if (result < 0)
    {
      g_debug ("%s: command in slot %u: %s", port->name, request->slot, g_strerror (-result));
      if (port->type == DRIVE_CDROM)
        {
          port->sense_key = 0x3; /* MEDIUM ERROR */
          port->asc = 0x11;      /* UNRECOVERED READ ERROR */
          port->ascq = 0;
          ahci_finish_slot_locked (port, request->slot, FALSE, FALSE, 0, STATUS_OK | ST_ERR,
                                   0x3 << 4 | ERR_ABRT);
        }
      else
        ahci_fail_slot_locked (port, request->slot, request->ncq, ERR_ABRT);
    }
  else
    ahci_finish_slot_locked (port, request->slot, request->ncq, request->pio, request->transferred, STATUS_OK,
                             0);
  ahci_request_free (request);
}

static void
request_done (void *opaque, int result)
{
  Request *request = opaque;
  Port *port = request->port;
  HvAhci *ahci = port->ahci;

  if (g_atomic_pointer_get (&ahci->working) == g_thread_self ())
    {
      complete_locked (request, result);
      return;
    }
  g_mutex_lock (&ahci->lock);
  /* Set first: the next range of a TRIM may fail at once, calling back here with the lock held. */
  g_atomic_pointer_set (&ahci->working, g_thread_self ());
  complete_locked (request, result);
  process_port_locked (port);
  g_atomic_pointer_set (&ahci->working, NULL);
  g_mutex_unlock (&ahci->lock);
}

/* Hands @request to the block layer (a TRIM: its next range); FALSE when it refused it (the request is
 * then the caller's). */
gboolean
ahci_submit_locked (Request *request)
{
  Port *port = request->port;
  g_autoptr (GError) error = NULL;
  const struct iovec *iov = request->iov;
  unsigned n_iov = request->n_iov;
  uint64_t offset = request->offset, length = request->length;

  if (request->ranges)
    {
      const uint8_t *range = request->ranges + 8 * request->next_range++;
      uint64_t entry = hv_get_le64 (range);

      offset = (entry & 0xffffffffffffull) * SECTOR;
      length = (entry >> 48) * SECTOR;
      iov = NULL;
      n_iov = 0;
    }
  port->in_flight++;
  if (hv_block_submit (port->block, request->op, iov, n_iov, offset, length, request_done, request, &error))
    return TRUE;
  port->in_flight--;
  g_debug ("%s: %s", port->name, error->message);
  return FALSE;
}

/* ---- Data for commands answered at once ---- */

uint32_t
ahci_copy_to_prdt (Request *request, const void *data, uint64_t len)
{
  uint64_t done = 0;

  for (unsigned i = 0; i < request->n_iov && done < len; i++)
    {
      uint64_t here = MIN (request->iov[i].iov_len, len - done);
      memcpy (request->iov[i].iov_base, (const uint8_t *) data + done, here);
      done += here;
    }
  return (uint32_t) done;
}

uint64_t
ahci_copy_from_prdt (Request *request, void *data, uint64_t len)
{
  uint64_t done = 0;

  for (unsigned i = 0; i < request->n_iov && done < len; i++)
    {
      uint64_t here = MIN (request->iov[i].iov_len, len - done);
      memcpy ((uint8_t *) data + done, request->iov[i].iov_base, here);
      done += here;
    }
  return done;
}

uint64_t
ahci_prdt_bytes (Request *request)
{
  uint64_t total = 0;

  for (unsigned i = 0; i < request->n_iov; i++)
    total += request->iov[i].iov_len;
  return total;
}

/* Keeps the first @len bytes of the scatter list. */
void
ahci_trim_prdt (Request *request, uint64_t len)
{
  uint64_t done = 0;
  unsigned n = 0;

  for (; n < request->n_iov && done < len; n++)
    {
      request->iov[n].iov_len = MIN (request->iov[n].iov_len, len - done);
      done += request->iov[n].iov_len;
    }
  request->n_iov = n;
}

/* ---- Command fetch ---- */

static gboolean
is_ncq (uint8_t command)
{
  return command == ATA_READ_FPDMA || command == ATA_WRITE_FPDMA;
}

/* Reads the command in @slot and starts it; FALSE when it must wait (another command runs). */
static gboolean
start_slot_locked (Port *port, unsigned slot)
{
  HvMemory *memory = port->ahci->platform.memory;
  const uint8_t *header = hv_memory_ptr (memory, port->clb + 32ull * slot, 32);
  const uint8_t *table;
  uint8_t fis[20]; /* copied: the guest may change its memory while the command runs */
  Request *request;
  uint32_t flags;
  unsigned prdtl;
  uint64_t ctba;
  uint8_t cdb[16];

  if (header == NULL)
    {
      fatal_slot_locked (port, slot);
      return TRUE;
    }
  flags = hv_get_le32 (header);
  prdtl = flags >> 16;
  ctba = hv_get_le64 (header + 8) & ~0x7full;
  table = hv_memory_ptr (memory, ctba, CT_PRDT + (uint64_t) prdtl * PRD_SIZE);
  if (table == NULL)
    {
      fatal_slot_locked (port, slot);
      return TRUE;
    }
  memcpy (fis, table + CT_CFIS, sizeof fis);
  if (is_ncq (fis[2]) ? port->queued_busy : port->busy != 0)
    return FALSE;

  request = g_malloc0 (sizeof (Request) + prdtl * sizeof (struct iovec));
  request->port = port;
  request->slot = slot;
  request->generation = port->generation;
  for (unsigned i = 0; i < prdtl; i++)
    {
      const uint8_t *prd = table + CT_PRDT + PRD_SIZE * i;
      uint64_t address = hv_get_le64 (prd) & ~1ull;
      uint32_t len = (hv_get_le32 (prd + 12) & 0x3fffff) + 1;
      void *host = hv_memory_ptr (memory, address, len);

      if (host == NULL)
        {
          ahci_request_free (request);
          fatal_slot_locked (port, slot);
          return TRUE;
        }
      request->iov[i].iov_base = host;
      request->iov[i].iov_len = len;
    }
  request->n_iov = prdtl;

  port->busy |= 1u << slot;
  if (fis[0] != 0x27 || !(fis[1] & 0x80))
    {
      /* Not a command FIS. */
      port->queued_busy = TRUE;
      ahci_fail_slot_locked (port, slot, FALSE, ERR_ABRT);
      ahci_request_free (request);
      return TRUE;
    }
  request->ncq = is_ncq (fis[2]) && port->type == DRIVE_DISK;
  if (request->ncq)
    port->ci &= ~(1u << slot); /* accepted: the device cleared BSY, the tag stays in PxSACT */
  else
    port->queued_busy = TRUE;

  if (port->type == DRIVE_CDROM && fis[2] == ATA_PACKET)
    {
      memcpy (cdb, table + CT_ACMD, sizeof cdb);
      request->pio = !(fis[3] & 0x01);
      ahci_run_atapi_locked (port, request, cdb);
    }
  else
    ahci_run_ata_locked (port, request, fis);
  return TRUE;
}

static void
process_port_locked (Port *port)
{
  if (port->ahci->paused || port->changing || port->type == DRIVE_NONE || !(port->cmd & CMD_ST))
    return;
  while (!port->error_stop && !port->queued_busy)
    {
      uint32_t pending = port->ci & ~port->busy;
      unsigned slot;

      if (pending == 0)
        break;
      slot = (unsigned) __builtin_ctz (pending);
      if (!start_slot_locked (port, slot))
        break;
    }
}

static void
process_all_locked (HvAhci *ahci)
{
  g_atomic_pointer_set (&ahci->working, g_thread_self ());
  for (unsigned i = 0; i < HV_AHCI_PORTS; i++)
    process_port_locked (&ahci->ports[i]);
  g_atomic_pointer_set (&ahci->working, NULL);
  ahci_update_irq_locked (ahci);
}

static gboolean
kicked (int fd, GIOCondition condition, gpointer data)
{
  HvAhci *ahci = data;
  eventfd_t count;

  if (eventfd_read (fd, &count) < 0)
    return G_SOURCE_CONTINUE;
  g_mutex_lock (&ahci->lock);
  process_all_locked (ahci);
  g_mutex_unlock (&ahci->lock);
  return G_SOURCE_CONTINUE;
}

void
ahci_kick (HvAhci *ahci)
{
  if (eventfd_write (ahci->kick_fd, 1) < 0)
    g_debug ("%s: cannot wake the I/O thread: %s", ahci->name, g_strerror (errno));
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
  g_source_set_callback (ahci->kick_source, G_SOURCE_FUNC (kicked), ahci, NULL);
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

/* ---- Saved state ---- */

GVariant *
hv_ahci_save_port (HvAhci *ahci, unsigned index, gboolean with_hba)
{
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  Port *port = &ahci->ports[index];

  g_mutex_lock (&ahci->lock);
  if (with_hba)
    g_variant_dict_insert (&dict, "ghc", "u", ahci->ghc);
  g_variant_dict_insert (&dict, "port", "u", index);
  g_variant_dict_insert (&dict, "clb", "t", port->clb);
  g_variant_dict_insert (&dict, "fb", "t", port->fb);
  g_variant_dict_insert (&dict, "is", "u", port->is);
  g_variant_dict_insert (&dict, "ie", "u", port->ie);
  g_variant_dict_insert (&dict, "cmd", "u", port->cmd);
  g_variant_dict_insert (&dict, "tfd", "u", port->tfd);
  g_variant_dict_insert (&dict, "sctl", "u", port->sctl);
  g_variant_dict_insert (&dict, "serr", "u", port->serr);
  g_variant_dict_insert (&dict, "sact", "u", port->sact);
  g_variant_dict_insert (&dict, "ci", "u", port->ci);
  g_variant_dict_insert (&dict, "error-stop", "b", port->error_stop);
  g_variant_dict_insert (&dict, "capacity", "t", port->block ? hv_block_get_size (port->block) : 0);
  if (port->type == DRIVE_CDROM)
    {
      g_variant_dict_insert (&dict, "tray-open", "b", port->tray_open);
      g_variant_dict_insert (&dict, "locked", "b", port->locked);
      g_variant_dict_insert (&dict, "unit-attention", "b", port->unit_attention);
      g_variant_dict_insert (&dict, "media-event", "y", port->media_event);
      g_variant_dict_insert (&dict, "sense", "u",
                             (uint32_t) port->sense_key << 16 | (uint32_t) port->asc << 8 | port->ascq);
    }
  g_mutex_unlock (&ahci->lock);
  return g_variant_dict_end (&dict);
}

gboolean
hv_ahci_load_port (HvAhci *ahci, unsigned index, GVariant *state, GError **error)
{
  Port *port = &ahci->ports[index];
  const char *what = port->name;
  uint32_t ghc = ahci->ghc, saved_index, is, ie, cmd, tfd, sctl, serr, sact, ci, sense = 0;
  uint64_t clb, fb, capacity;
  gboolean error_stop, tray_open = port->tray_open, locked = FALSE, ua = FALSE;
  uint8_t media_event = 0;
  g_autoptr (GVariant) saved_ghc = g_variant_lookup_value (state, "ghc", NULL);
  gboolean with_hba = saved_ghc != NULL;

  if ((with_hba && !hv_state_get (state, what, "ghc", "u", &ghc, error))
      || !hv_state_get (state, what, "port", "u", &saved_index, error)
      || !hv_state_get (state, what, "clb", "t", &clb, error)
      || !hv_state_get (state, what, "fb", "t", &fb, error)
      || !hv_state_get (state, what, "is", "u", &is, error)
      || !hv_state_get (state, what, "ie", "u", &ie, error)
      || !hv_state_get (state, what, "cmd", "u", &cmd, error)
      || !hv_state_get (state, what, "tfd", "u", &tfd, error)
      || !hv_state_get (state, what, "sctl", "u", &sctl, error)
      || !hv_state_get (state, what, "serr", "u", &serr, error)
      || !hv_state_get (state, what, "sact", "u", &sact, error)
      || !hv_state_get (state, what, "ci", "u", &ci, error)
      || !hv_state_get (state, what, "error-stop", "b", &error_stop, error)
      || !hv_state_get (state, what, "capacity", "t", &capacity, error))
    return FALSE;
  if (port->type == DRIVE_CDROM
      && (!hv_state_get (state, what, "tray-open", "b", &tray_open, error)
          || !hv_state_get (state, what, "locked", "b", &locked, error)
          || !hv_state_get (state, what, "unit-attention", "b", &ua, error)
          || !hv_state_get_max (state, what, "media-event", "y", MEDIA_EVENT_REMOVAL, &media_event, error)
          || !hv_state_get_max (state, what, "sense", "u", 0xffffff, &sense, error)))
    return FALSE;
  if (saved_index != index)
    {
      hv_state_set_bad (error, what, "the drive was on port %u", saved_index);
      return FALSE;
    }
  if (port->type == DRIVE_DISK && capacity != hv_block_get_size (port->block))
    {
      hv_state_set_bad (error, what,
                        "the disk had %" G_GUINT64_FORMAT " bytes when saved and has %" G_GUINT64_FORMAT
                        " now: is it the same image?",
                        capacity, hv_block_get_size (port->block));
      return FALSE;
    }

  g_mutex_lock (&ahci->lock);
  if (with_hba)
    ahci->ghc = GHC_AE | (ghc & GHC_IE);
  port->clb = clb & ~0x3ffull;
  port->fb = fb & ~0xffull;
  port->is = is & IS_VALID;
  port->ie = ie & IS_VALID;
  port->cmd = cmd;
  port->tfd = tfd & 0xffff;
  port->sctl = sctl & 0xfff;
  port->serr = serr;
  port->busy = 0;
  port->queued_busy = FALSE;
  port->generation++;
  /* Commands were all finished at quiesce; those issued and not yet taken run again. */
  port->sact = sact;
  port->ci = ci;
  port->error_stop = error_stop;
  if (port->type == DRIVE_CDROM)
    {
      port->tray_open = tray_open;
      port->locked = locked;
      port->unit_attention = ua;
      port->media_event = media_event;
      port->sense_key = (uint8_t) (sense >> 16);
      port->asc = (uint8_t) (sense >> 8);
      port->ascq = (uint8_t) sense;
      /* A disc other than the one saved (or none) is a media change the guest should see. */
      if (port->block && capacity != hv_block_get_size (port->block))
        {
          port->unit_attention = TRUE;
          port->media_event = MEDIA_EVENT_NEW;
        }
    }
  ahci_update_irq_locked (ahci);
  g_mutex_unlock (&ahci->lock);
  ahci_kick (ahci);
  return TRUE;
}
