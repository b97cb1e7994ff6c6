/* ahci-commands.c — an AHCI port's commands on the controller's I/O thread: woken by a write to PxCI, it
 * reads each issued command's header and table (checked against guest RAM), hands it to the ATA or ATAPI
 * code, and ends it: byte count, FIS, PxCI/PxSACT, interrupt; a bad command stops the port. */
#include "ahci-private.h"
#include "bytes.h"
#include "memory.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>

static void process_port_locked (Port *port);

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
      ahci_post_fis_locked (port, RFIS_SDB, fis, sizeof fis);
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
          ahci_post_fis_locked (port, RFIS_PIO, fis, sizeof fis);
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

gboolean
ahci_kicked (int fd, GIOCondition condition, gpointer data)
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
