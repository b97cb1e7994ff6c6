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
#include "ahci.h"
#include "bus.h"
#include "bytes.h"
#include "device.h"
#include "iothread.h"
#include "memory.h"
#include "state.h"
#include "x86/layout.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define ABAR             5
#define ABAR_SIZE        0x1000
#define PCI_COMMAND      0x04
#define COMMAND_MEMORY   0x0002
#define COMMAND_INTX_OFF 0x0400

/* HBA registers. */
#define HBA_CAP   0x00
#define HBA_GHC   0x04
#define HBA_IS    0x08
#define HBA_PI    0x0c
#define HBA_VS    0x10
#define HBA_CAP2  0x24
#define PORT_BASE 0x100
#define PORT_SIZE 0x80

#define CAP_S64A     (1u << 31)
#define CAP_SNCQ     (1u << 30)
#define CAP_SAM      (1u << 18)
#define CAP_GEN1     (1u << 20)
#define CAP_NCS      (31u << 8)
#define GHC_HR       (1u << 0)
#define GHC_IE       (1u << 1)
#define GHC_AE       (1u << 31)
#define AHCI_VERSION 0x00010000

/* Port registers. */
#define P_CLB  0x00
#define P_CLBU 0x04
#define P_FB   0x08
#define P_FBU  0x0c
#define P_IS   0x10
#define P_IE   0x14
#define P_CMD  0x18
#define P_TFD  0x20
#define P_SIG  0x24
#define P_SSTS 0x28
#define P_SCTL 0x2c
#define P_SERR 0x30
#define P_SACT 0x34
#define P_CI   0x38

#define CMD_ST       (1u << 0)
#define CMD_SUD      (1u << 1)
#define CMD_POD      (1u << 2)
#define CMD_CLO      (1u << 3)
#define CMD_FRE      (1u << 4)
#define CMD_FR       (1u << 14)
#define CMD_CR       (1u << 15)
#define CMD_ATAPI    (1u << 24)
#define CMD_WRITABLE (CMD_ST | CMD_FRE | CMD_ATAPI | (1u << 25) | (1u << 26) | (1u << 27))

#define IS_DHRS  (1u << 0)
#define IS_PSS   (1u << 1)
#define IS_SDBS  (1u << 3)
#define IS_HBFS  (1u << 29)
#define IS_TFES  (1u << 30)
#define IS_VALID 0xfdc000ffu

/* Task file status and error bits. */
#define ST_ERR    0x01
#define ST_DRQ    0x08
#define ST_DSC    0x10
#define ST_DRDY   0x40
#define ST_BSY    0x80
#define ERR_ABRT  0x04
#define ERR_IDNF  0x10
#define STATUS_OK (ST_DRDY | ST_DSC)

#define SIG_DISK  0x00000101u
#define SIG_ATAPI 0xeb140101u
#define SSTS_UP   0x113u /* device present, Gen1, active */

/* Received-FIS area offsets. */
#define RFIS_PIO  0x20
#define RFIS_D2H  0x40
#define RFIS_SDB  0x58
#define RFIS_SIZE 0x100

/* Command table. */
#define CT_CFIS  0x00
#define CT_ACMD  0x40
#define CT_PRDT  0x80
#define PRD_SIZE 16

/* ATA commands. */
#define ATA_READ_SECTORS      0x20
#define ATA_READ_SECTORS_EXT  0x24
#define ATA_READ_DMA_EXT      0x25
#define ATA_READ_LOG_EXT      0x2f
#define ATA_WRITE_SECTORS     0x30
#define ATA_WRITE_SECTORS_EXT 0x34
#define ATA_WRITE_DMA_EXT     0x35
#define ATA_READ_VERIFY       0x40
#define ATA_READ_VERIFY_EXT   0x42
#define ATA_DSM               0x06
#define ATA_DEVICE_RESET      0x08
#define ATA_READ_FPDMA        0x60
#define ATA_WRITE_FPDMA       0x61
#define ATA_INIT_PARAMS       0x91
#define ATA_PACKET            0xa0
#define ATA_IDENTIFY_PACKET   0xa1
#define ATA_READ_DMA          0xc8
#define ATA_WRITE_DMA         0xca
#define ATA_SET_MULTIPLE      0xc6
#define ATA_STANDBY_IMMEDIATE 0xe0
#define ATA_IDLE_IMMEDIATE    0xe1
#define ATA_STANDBY           0xe2
#define ATA_IDLE              0xe3
#define ATA_CHECK_POWER_MODE  0xe5
#define ATA_FLUSH_CACHE       0xe7
#define ATA_FLUSH_CACHE_EXT   0xea
#define ATA_IDENTIFY          0xec
#define ATA_SET_FEATURES      0xef
#define ATA_SECURITY_FREEZE   0xf5

#define SECTOR       512
#define CD_SECTOR    2048
#define NCQ_DEPTH    32
#define TRANSFER_MAX (32u << 20) /* one command: the most an LBA48 count of 65536 sectors holds */

/* SCSI sense keys and additional sense codes. */
#define SENSE_NONE            0x0
#define SENSE_NOT_READY       0x2
#define SENSE_ILLEGAL_REQUEST 0x5
#define SENSE_UNIT_ATTENTION  0x6
#define ASC_INVALID_OPCODE    0x20
#define ASC_LBA_OUT_OF_RANGE  0x21
#define ASC_INVALID_FIELD     0x24
#define ASC_MEDIUM_CHANGED    0x28
#define ASC_INCOMPATIBLE      0x30
#define ASC_NO_MEDIUM         0x3a
#define ASC_REMOVAL_PREVENTED 0x53

/* Media event codes (MMC GET EVENT STATUS NOTIFICATION). */
#define MEDIA_EVENT_NONE    0
#define MEDIA_EVENT_EJECT   1
#define MEDIA_EVENT_NEW     2
#define MEDIA_EVENT_REMOVAL 3

typedef enum
{
  DRIVE_NONE,
  DRIVE_DISK,
  DRIVE_CDROM,
} DriveType;

typedef struct _Port Port;

typedef struct
{
  Port *port;
  unsigned slot;
  unsigned generation;
  gboolean ncq;
  gboolean pio;
  HvBlockOp op;
  uint64_t offset;
  uint64_t length;
  uint32_t transferred;
  /* DATA SET MANAGEMENT: the ranges, done one after the other. */
  uint8_t *ranges;
  unsigned n_ranges;
  unsigned next_range;
  unsigned n_iov;
  struct iovec iov[];
} Request;

struct _Port
{
  HvAhci *ahci;
  unsigned index;
  DriveType type;
  char *name;
  HvBlock *block; /* NULL: an empty CD-ROM drive */
  char serial[21];

  uint64_t clb, fb;
  uint32_t is, ie, cmd, tfd, sig, ssts, sctl, serr, sact, ci;
  uint32_t busy;        /* slots taken and not completed */
  gboolean queued_busy; /* a non-NCQ command runs: nothing else starts */
  gboolean error_stop;  /* after an error, until the driver clears PxCMD.ST */
  gboolean changing;    /* the host swaps the medium: take no command */
  unsigned generation;  /* answers of older generations are dropped (port stopped or reset) */
  unsigned in_flight;

  /* CD-ROM. */
  gboolean tray_open;
  gboolean locked;
  gboolean unit_attention;
  uint8_t media_event;
  uint8_t sense_key, asc, ascq;
};

struct _HvAhci
{
  GMutex lock;
  HvPlatform platform;
  char *name;
  HvPciDevice pci;
  Port ports[HV_AHCI_PORTS];
  unsigned n_ports;
  uint32_t ghc;
  unsigned gsi;
  gboolean irq_level;
  gboolean paused;
  gboolean bar_mapped;
  uint64_t bar_addr;
  int kick_fd;
  GSource *kick_source;
  GThread *working; /* the thread running commands with the lock held */
  unsigned refs;    /* drives using it (the kinds) */
};

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

static void
update_irq_locked (HvAhci *ahci)
{
  gboolean level = (ahci->ghc & GHC_IE) && hba_is_locked (ahci) != 0
                   && !(hv_get_le16 (ahci->pci.config + PCI_COMMAND) & COMMAND_INTX_OFF);

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

static void
post_d2h_locked (Port *port, uint8_t status, uint8_t error, uint8_t count, gboolean interrupt)
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

static gboolean
medium_present (Port *port)
{
  return port->block != NULL && !port->tray_open;
}

static void
reset_device_locked (Port *port)
{
  port->generation++;
  port->busy = 0;
  port->queued_busy = FALSE;
  port->ci = 0;
  port->sact = 0;
  port->error_stop = FALSE;
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
  update_irq_locked (ahci);
}

/* ---- Completion ---- */

static void
request_free (Request *request)
{
  g_free (request->ranges);
  g_free (request);
}

/* Ends the command in @slot: the byte count in its header, the FIS, PxCI/PxSACT, the interrupt. */
static void
finish_slot_locked (Port *port, unsigned slot, gboolean ncq, gboolean pio, uint32_t transferred,
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
      post_d2h_locked (port, status, error, port->type == DRIVE_CDROM ? 3 : 0, TRUE);
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
  update_irq_locked (port->ahci);
}

static void
fail_slot_locked (Port *port, unsigned slot, gboolean ncq, uint8_t error)
{
  finish_slot_locked (port, slot, ncq, FALSE, 0, STATUS_OK | ST_ERR, error);
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
  update_irq_locked (port->ahci);
}

static gboolean submit_locked (Request *request);

static void
complete_locked (Request *request, int result)
{
  Port *port = request->port;

  if (request->generation != port->generation)
    {
      port->in_flight--;
      request_free (request);
      return;
    }
  if (result >= 0 && request->next_range < request->n_ranges)
    {
      /* The next range of a TRIM. */
      port->in_flight--;
      if (submit_locked (request))
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
          finish_slot_locked (port, request->slot, FALSE, FALSE, 0, STATUS_OK | ST_ERR, 0x3 << 4 | ERR_ABRT);
        }
      else
        fail_slot_locked (port, request->slot, request->ncq, ERR_ABRT);
    }
  else
    finish_slot_locked (port, request->slot, request->ncq, request->pio, request->transferred, STATUS_OK, 0);
  request_free (request);
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
  complete_locked (request, result);
  g_atomic_pointer_set (&ahci->working, g_thread_self ());
  process_port_locked (port);
  g_atomic_pointer_set (&ahci->working, NULL);
  g_mutex_unlock (&ahci->lock);
}

/* Hands @request to the block layer (a TRIM: its next range); FALSE when it refused it (the request is
 * then the caller's). */
static gboolean
submit_locked (Request *request)
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

static uint32_t
copy_to_prdt (Request *request, const void *data, uint64_t len)
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

static uint64_t
copy_from_prdt (Request *request, void *data, uint64_t len)
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

static uint64_t
prdt_bytes (Request *request)
{
  uint64_t total = 0;

  for (unsigned i = 0; i < request->n_iov; i++)
    total += request->iov[i].iov_len;
  return total;
}

/* Keeps the first @len bytes of the scatter list. */
static void
trim_prdt (Request *request, uint64_t len)
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

/* An ATA string: space-padded, two characters per word, the first in the high byte. */
static void
put_ata_string (uint16_t *words, const char *text, unsigned len)
{
  uint8_t *bytes = (uint8_t *) words;
  size_t n = strlen (text);

  for (unsigned i = 0; i < len; i++)
    bytes[i ^ 1] = i < n ? (uint8_t) text[i] : ' ';
}

static void
identify (Port *port, uint8_t *out)
{
  uint16_t w[256] = { 0 };
  uint64_t sectors = port->type == DRIVE_DISK ? hv_block_get_size (port->block) / SECTOR : 0;
  uint8_t sum = 0;

  put_ata_string (w + 10, port->serial, 20);
  put_ata_string (w + 23, "1.0", 8);
  w[49] = 0x0300; /* LBA, DMA */
  w[53] = 0x0006; /* words 64-70 and 88 are valid */
  w[63] = 0x0007; /* multiword DMA 0-2 */
  w[64] = 0x0003; /* PIO 3-4 */
  w[65] = w[66] = w[67] = w[68] = 120;
  w[80] = 0x01f0; /* ATA/ATAPI-4 to 8 */
  w[83] = 0x4000;
  w[84] = 0x4000;
  w[87] = 0x4000;
  w[88] = 0x203f; /* UDMA 0-5, mode 5 selected */
  if (port->type == DRIVE_CDROM)
    {
      w[0] = 0x85c0; /* ATAPI, CD-ROM, removable, 12-byte packets */
      put_ata_string (w + 27, "VIREO DVD-ROM", 40);
      w[76] = 0x0002;
      w[82] = 0x0010; /* PACKET */
      w[85] = 0x0010;
    }
  else
    {
      uint64_t chs = MIN (sectors / (16 * 63), 16383);

      w[0] = 0x0040; /* fixed */
      w[1] = w[54] = (uint16_t) chs;
      w[3] = w[55] = 16;
      w[6] = w[56] = 63;
      hv_put_le32 ((uint8_t *) (w + 57), (uint32_t) (chs * 16 * 63));
      put_ata_string (w + 27, "VIREO HARDDISK", 40);
      w[47] = 0x8010;
      w[59] = 0x0110;
      hv_put_le32 ((uint8_t *) (w + 60), (uint32_t) MIN (sectors, 0x0fffffffu));
      w[75] = NCQ_DEPTH - 1;
      w[76] = 0x0102; /* Gen1, NCQ */
      w[82] = 0x0060; /* write cache, look-ahead */
      w[83] = 0x7400; /* FLUSH CACHE (EXT), LBA48 */
      w[85] = 0x0060;
      w[86] = 0x3400;
      hv_put_le64 ((uint8_t *) (w + 100), sectors);
      w[106] = 0x4000; /* 512-byte sectors */
      if (hv_block_can_discard (port->block) && !hv_block_is_read_only (port->block))
        {
          w[105] = 1; /* one 512-byte block of ranges per DATA SET MANAGEMENT */
          w[169] = 1; /* TRIM */
          w[217] = 1; /* not rotating */
        }
    }
  for (unsigned i = 0; i < 256; i++)
    w[i] = GUINT16_TO_LE (w[i]);
  memcpy (out, w, 512);
  out[510] = 0xa5;
  for (unsigned i = 0; i < 511; i++)
    sum += out[i];
  out[511] = (uint8_t) -sum;
}

/* ---- ATAPI ---- */

static void
set_sense (Port *port, uint8_t key, uint8_t asc, uint8_t ascq)
{
  port->sense_key = key;
  port->asc = asc;
  port->ascq = ascq;
}

static void
atapi_fail_locked (Port *port, unsigned slot, uint8_t key, uint8_t asc, uint8_t ascq)
{
  set_sense (port, key, asc, ascq);
  finish_slot_locked (port, slot, FALSE, FALSE, 0, STATUS_OK | ST_ERR, (uint8_t) (key << 4 | ERR_ABRT));
}

static void
atapi_reply_locked (Port *port, Request *request, const uint8_t *data, unsigned len, unsigned allocation)
{
  uint32_t done = copy_to_prdt (request, data, MIN (len, allocation));

  set_sense (port, SENSE_NONE, 0, 0);
  finish_slot_locked (port, request->slot, FALSE, request->pio, done, STATUS_OK, 0);
}

static uint32_t
get_be32 (const uint8_t *p)
{
  return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static uint16_t
get_be16 (const uint8_t *p)
{
  return (uint16_t) (p[0] << 8 | p[1]);
}

static void
put_be32 (uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t) (v >> 24);
  p[1] = (uint8_t) (v >> 16);
  p[2] = (uint8_t) (v >> 8);
  p[3] = (uint8_t) v;
}

static void
put_be16 (uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t) (v >> 8);
  p[1] = (uint8_t) v;
}

static uint32_t
cd_sectors (Port *port)
{
  return medium_present (port) ? (uint32_t) MIN (hv_block_get_size (port->block) / CD_SECTOR, 0xffffffffu)
                               : 0;
}

/* An LBA as minutes, seconds and frames, with the 2-second lead-in. */
static void
put_msf (uint8_t *p, uint32_t lba)
{
  lba += 150;
  p[0] = 0;
  p[1] = (uint8_t) (lba / (60 * 75));
  p[2] = (uint8_t) (lba / 75 % 60);
  p[3] = (uint8_t) (lba % 75);
}

static unsigned
read_toc (Port *port, const uint8_t *cdb, uint8_t *buf)
{
  gboolean msf = (cdb[1] & 0x02) != 0;
  unsigned format = cdb[2] & 0x0f;
  unsigned len;

  if (format == 0 && cdb[9] >> 6)
    format = cdb[9] >> 6;
  buf[2] = 1;
  buf[3] = 1;
  if (format == 0)
    {
      if (cdb[6] > 1 && cdb[6] != 0xaa)
        return 0;
      len = 4;
      if (cdb[6] <= 1)
        {
          buf[len + 1] = 0x14; /* data track */
          buf[len + 2] = 1;
          if (msf)
            put_msf (buf + len + 4, 0);
          len += 8;
        }
      buf[len + 1] = 0x14;
      buf[len + 2] = 0xaa; /* lead-out */
      if (msf)
        put_msf (buf + len + 4, cd_sectors (port));
      else
        put_be32 (buf + len + 4, cd_sectors (port));
      len += 8;
    }
  else if (format == 1)
    {
      len = 12;
      buf[5] = 0x14;
      buf[6] = 1;
      if (msf)
        put_msf (buf + 8, 0);
    }
  else
    return 0;
  put_be16 (buf, (uint16_t) (len - 2));
  return len;
}

static unsigned
mode_sense (Port *port, unsigned page, uint8_t *buf)
{
  unsigned len = 8;

  if (page == 0x01 || page == 0x3f)
    {
      uint8_t *p = buf + len;
      p[0] = 0x01;
      p[1] = 0x06;
      p[3] = 5; /* read retries */
      len += 8;
    }
  if (page == 0x2a || page == 0x3f)
    {
      uint8_t *p = buf + len;
      p[0] = 0x2a;
      p[1] = 0x12;
      p[2] = 0x08; /* reads DVD-ROM; CD-ROM always */
      p[4] = 0x71; /* audio play, multi-session, mode 2 forms */
      p[5] = 0x00;
      p[6] = 0x29 | (port->locked ? 0x02 : 0x00); /* tray, eject, lock (and its state) */
      put_be16 (p + 8, 706 * 4);                  /* KB/s */
      put_be16 (p + 10, 2);
      put_be16 (p + 12, 512);
      put_be16 (p + 14, 706 * 4);
      len += 20;
    }
  if (len == 8)
    return 0;
  put_be16 (buf, (uint16_t) (len - 2));
  return len;
}

static unsigned
get_configuration (Port *port, const uint8_t *cdb, uint8_t *buf)
{
  unsigned start = get_be16 (cdb + 2), rt = cdb[1] & 3, len = 8;
  gboolean dvd = medium_present (port) && hv_block_get_size (port->block) > 700ull * 1024 * 1024;
  uint16_t profile = medium_present (port) ? (dvd ? 0x0010 : 0x0008) : 0;

  put_be16 (buf + 6, profile);
  if (start <= 0x0000 && !(rt == 2 && start != 0))
    {
      uint8_t *p = buf + len;
      p[2] = 0x03; /* persistent, current */
      p[3] = 8;
      put_be16 (p + 4, 0x0010);
      p[6] = profile == 0x0010;
      put_be16 (p + 8, 0x0008);
      p[10] = profile == 0x0008;
      len += 12;
    }
  if (start <= 0x0001 && !(rt == 2 && start != 1))
    {
      uint8_t *p = buf + len;
      put_be16 (p, 0x0001);
      p[2] = 0x0b; /* version 2, persistent, current */
      p[3] = 8;
      put_be32 (p + 4, 2); /* ATAPI */
      len += 12;
    }
  if (start <= 0x0003 && !(rt == 2 && start != 3))
    {
      uint8_t *p = buf + len;
      put_be16 (p, 0x0003);
      p[2] = 0x03;
      p[3] = 4;
      p[4] = 0x29; /* tray, eject, lock */
      len += 8;
    }
  put_be32 (buf, len - 4);
  return len;
}

static void
run_atapi_locked (Port *port, Request *request, const uint8_t *cdb)
{
  uint8_t buf[256] = { 0 };
  unsigned slot = request->slot, len;
  uint8_t op = cdb[0];
  gboolean needs_medium = op == 0x00 || op == 0x25 || op == 0x28 || op == 0xa8 || op == 0x43 || op == 0x51
                          || op == 0x2b || op == 0xbe || op == 0xb9;

  /* A new disc is announced once to any command but those that report status. */
  if (port->unit_attention && op != 0x12 && op != 0x03 && op != 0x46 && op != 0x4a)
    {
      port->unit_attention = FALSE;
      atapi_fail_locked (port, slot, SENSE_UNIT_ATTENTION, ASC_MEDIUM_CHANGED, 0);
      goto done;
    }
  if (needs_medium && !medium_present (port))
    {
      atapi_fail_locked (port, slot, SENSE_NOT_READY, ASC_NO_MEDIUM, 0);
      goto done;
    }

  switch (op)
    {
    case 0x00: /* TEST UNIT READY */
    case 0x2b: /* SEEK */
    case 0xbb: /* SET CD SPEED */
    case 0x55: /* MODE SELECT(10) */
      atapi_reply_locked (port, request, buf, 0, 0);
      break;

    case 0x03: /* REQUEST SENSE */
      buf[0] = 0x70;
      buf[2] = port->sense_key;
      buf[7] = 10;
      buf[12] = port->asc;
      buf[13] = port->ascq;
      if (port->unit_attention)
        {
          buf[2] = SENSE_UNIT_ATTENTION;
          buf[12] = ASC_MEDIUM_CHANGED;
          buf[13] = 0;
          port->unit_attention = FALSE;
        }
      atapi_reply_locked (port, request, buf, 18, cdb[4]);
      break;

    case 0x12: /* INQUIRY */
      if (cdb[1] & 0x01)
        {
          atapi_fail_locked (port, slot, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
          break;
        }
      buf[0] = 0x05; /* CD/DVD */
      buf[1] = 0x80; /* removable */
      buf[2] = 0x00;
      buf[3] = 0x21;
      buf[4] = 31;
      memcpy (buf + 8, "VIREO   ", 8);
      memcpy (buf + 16, "DVD-ROM         ", 16);
      memcpy (buf + 32, "1.0 ", 4);
      atapi_reply_locked (port, request, buf, 36, get_be16 (cdb + 3));
      break;

    case 0x1b:                     /* START STOP UNIT */
      if ((cdb[4] & 0x03) == 0x02) /* LoEj, stop: eject */
        {
          if (port->locked)
            {
              atapi_fail_locked (port, slot, SENSE_ILLEGAL_REQUEST, ASC_REMOVAL_PREVENTED, 0x02);
              break;
            }
          if (!port->tray_open && port->block)
            port->media_event = MEDIA_EVENT_REMOVAL;
          port->tray_open = TRUE;
        }
      else if ((cdb[4] & 0x03) == 0x03 && port->tray_open) /* LoEj, start: load */
        {
          port->tray_open = FALSE;
          if (port->block)
            {
              port->media_event = MEDIA_EVENT_NEW;
              port->unit_attention = TRUE;
            }
        }
      atapi_reply_locked (port, request, buf, 0, 0);
      break;

    case 0x1e: /* PREVENT ALLOW MEDIUM REMOVAL */
      port->locked = (cdb[4] & 0x01) != 0;
      atapi_reply_locked (port, request, buf, 0, 0);
      break;

    case 0x25: /* READ CAPACITY */
      put_be32 (buf, cd_sectors (port) - 1);
      put_be32 (buf + 4, CD_SECTOR);
      atapi_reply_locked (port, request, buf, 8, 8);
      break;

    case 0x28: /* READ(10) */
    case 0xa8: /* READ(12) */
      {
        uint64_t lba = get_be32 (cdb + 2);
        uint64_t count = op == 0x28 ? get_be16 (cdb + 7) : get_be32 (cdb + 6);

        if (lba + count > cd_sectors (port))
          {
            atapi_fail_locked (port, slot, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);
            break;
          }
        if (count == 0)
          {
            atapi_reply_locked (port, request, buf, 0, 0);
            break;
          }
        if (count * CD_SECTOR > TRANSFER_MAX || prdt_bytes (request) < count * CD_SECTOR)
          {
            atapi_fail_locked (port, slot, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
            break;
          }
        trim_prdt (request, count * CD_SECTOR);
        request->op = HV_BLOCK_READ;
        request->offset = lba * CD_SECTOR;
        request->length = count * CD_SECTOR;
        request->transferred = (uint32_t) request->length;
        set_sense (port, SENSE_NONE, 0, 0);
        if (submit_locked (request))
          return;
        atapi_fail_locked (port, slot, 0x3, 0x11, 0);
        break;
      }

    case 0x43: /* READ TOC/PMA/ATIP */
      len = read_toc (port, cdb, buf);
      if (len == 0)
        atapi_fail_locked (port, slot, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
      else
        atapi_reply_locked (port, request, buf, len, get_be16 (cdb + 7));
      break;

    case 0x46: /* GET CONFIGURATION */
      len = get_configuration (port, cdb, buf);
      atapi_reply_locked (port, request, buf, len, get_be16 (cdb + 7));
      break;

    case 0x4a: /* GET EVENT STATUS NOTIFICATION */
      if (!(cdb[1] & 0x01))
        {
          atapi_fail_locked (port, slot, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
          break;
        }
      buf[3] = 0x10; /* supports the media class */
      if (cdb[4] & 0x10)
        {
          put_be16 (buf, 6);
          buf[2] = 0x04;
          buf[4] = port->media_event;
          buf[5] = (port->tray_open ? 0x01 : 0x00) | (medium_present (port) ? 0x02 : 0x00);
          port->media_event = MEDIA_EVENT_NONE;
          len = 8;
        }
      else
        {
          put_be16 (buf, 2);
          buf[2] = 0x80; /* no event available */
          len = 4;
        }
      atapi_reply_locked (port, request, buf, len, get_be16 (cdb + 7));
      break;

    case 0x51: /* READ DISC INFORMATION */
      if (cdb[1] & 0x07)
        {
          atapi_fail_locked (port, slot, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
          break;
        }
      put_be16 (buf, 32);
      buf[2] = 0x0e; /* complete disc, last session complete */
      buf[3] = 1;
      buf[4] = 1;
      buf[5] = 1;
      buf[6] = 1;
      buf[7] = 0x20;
      put_be32 (buf + 16, 0xffffffffu);
      put_be32 (buf + 20, 0xffffffffu);
      atapi_reply_locked (port, request, buf, 34, get_be16 (cdb + 7));
      break;

    case 0x5a: /* MODE SENSE(10) */
      len = mode_sense (port, cdb[2] & 0x3f, buf);
      if (len == 0 || (cdb[2] >> 6) == 3)
        atapi_fail_locked (port, slot, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
      else
        atapi_reply_locked (port, request, buf, len, get_be16 (cdb + 7));
      break;

    case 0xbd: /* MECHANISM STATUS */
      buf[1] = port->tray_open ? 0x10 : 0x00;
      atapi_reply_locked (port, request, buf, 8, get_be16 (cdb + 8));
      break;

    default:
      atapi_fail_locked (port, slot, SENSE_ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0);
      break;
    }
done:
  request_free (request);
}

/* ---- ATA ---- */

static uint64_t
fis_lba48 (const uint8_t *fis)
{
  return (uint64_t) fis[4] | (uint64_t) fis[5] << 8 | (uint64_t) fis[6] << 16 | (uint64_t) fis[8] << 24
         | (uint64_t) fis[9] << 32 | (uint64_t) fis[10] << 40;
}

static uint64_t
fis_lba28 (const uint8_t *fis)
{
  return (uint64_t) fis[4] | (uint64_t) fis[5] << 8 | (uint64_t) fis[6] << 16
         | (uint64_t) (fis[7] & 0x0f) << 24;
}

/* A read or write of @count sectors at @lba; consumes @request unless it returns FALSE. */
static void
run_rw_locked (Port *port, Request *request, gboolean write, uint64_t lba, uint64_t count)
{
  uint64_t sectors = hv_block_get_size (port->block) / SECTOR;
  uint64_t bytes = count * SECTOR;

  if (write && hv_block_is_read_only (port->block))
    goto abort;
  if (lba > sectors || count > sectors - lba)
    {
      finish_slot_locked (port, request->slot, request->ncq, FALSE, 0, STATUS_OK | ST_ERR, ERR_IDNF);
      request_free (request);
      return;
    }
  if (bytes > TRANSFER_MAX || prdt_bytes (request) < bytes)
    goto abort;
  if (count == 0)
    {
      finish_slot_locked (port, request->slot, request->ncq, request->pio, 0, STATUS_OK, 0);
      request_free (request);
      return;
    }
  trim_prdt (request, bytes);
  request->op = write ? HV_BLOCK_WRITE : HV_BLOCK_READ;
  request->offset = lba * SECTOR;
  request->length = bytes;
  request->transferred = (uint32_t) bytes;
  if (submit_locked (request))
    return;
abort:
  fail_slot_locked (port, request->slot, request->ncq, ERR_ABRT);
  request_free (request);
}

static void
run_dsm_locked (Port *port, Request *request, const uint8_t *fis)
{
  unsigned blocks = fis[12] | fis[13] << 8;
  uint64_t sectors = hv_block_get_size (port->block) / SECTOR;
  uint64_t bytes;

  if (!(fis[3] & 0x01) || !hv_block_can_discard (port->block) || hv_block_is_read_only (port->block)
      || blocks == 0 || blocks > 8)
    goto abort;
  bytes = (uint64_t) blocks * SECTOR;
  request->ranges = g_malloc0 (bytes);
  if (copy_from_prdt (request, request->ranges, bytes) != bytes)
    goto abort;
  /* Every range inside the disk; empty ones are padding. */
  request->n_ranges = 0;
  for (unsigned i = 0; i < bytes / 8; i++)
    {
      uint64_t entry = hv_get_le64 (request->ranges + 8 * i);
      uint64_t lba = entry & 0xffffffffffffull, count = entry >> 48;

      if (count == 0)
        continue;
      if (lba > sectors || count > sectors - lba)
        {
          finish_slot_locked (port, request->slot, FALSE, FALSE, 0, STATUS_OK | ST_ERR, ERR_IDNF);
          request_free (request);
          return;
        }
      memmove (request->ranges + 8 * request->n_ranges++, request->ranges + 8 * i, 8);
    }
  request->op = HV_BLOCK_DISCARD;
  request->transferred = (uint32_t) bytes;
  if (request->n_ranges == 0)
    {
      finish_slot_locked (port, request->slot, FALSE, FALSE, (uint32_t) bytes, STATUS_OK, 0);
      request_free (request);
      return;
    }
  if (submit_locked (request))
    return;
abort:
  fail_slot_locked (port, request->slot, FALSE, ERR_ABRT);
  request_free (request);
}

static void
run_ata_locked (Port *port, Request *request, const uint8_t *fis)
{
  uint8_t command = fis[2];
  unsigned slot = request->slot;
  uint8_t buf[512];
  uint64_t count;

  if (port->type == DRIVE_CDROM)
    {
      switch (command)
        {
        case ATA_IDENTIFY_PACKET:
          identify (port, buf);
          request->pio = TRUE;
          finish_slot_locked (port, slot, FALSE, TRUE, copy_to_prdt (request, buf, 512), STATUS_OK, 0);
          break;
        case ATA_DEVICE_RESET:
          set_sense (port, SENSE_NONE, 0, 0);
          finish_slot_locked (port, slot, FALSE, FALSE, 0, STATUS_OK, 0);
          break;
        case ATA_SET_FEATURES:
        case ATA_IDLE_IMMEDIATE:
        case ATA_STANDBY_IMMEDIATE:
        case ATA_CHECK_POWER_MODE:
          finish_slot_locked (port, slot, FALSE, FALSE, 0, STATUS_OK, 0);
          break;
        default:
          /* IDENTIFY DEVICE among them: an ATAPI device aborts it, leaving its signature. */
          fail_slot_locked (port, slot, FALSE, ERR_ABRT);
          break;
        }
      request_free (request);
      return;
    }

  switch (command)
    {
    case ATA_IDENTIFY:
      identify (port, buf);
      finish_slot_locked (port, slot, FALSE, TRUE, copy_to_prdt (request, buf, 512), STATUS_OK, 0);
      break;

    case ATA_READ_DMA:
    case ATA_WRITE_DMA:
    case ATA_READ_SECTORS:
    case ATA_WRITE_SECTORS:
      count = fis[12] ? fis[12] : 256;
      request->pio = command == ATA_READ_SECTORS || command == ATA_WRITE_SECTORS;
      run_rw_locked (port, request, command == ATA_WRITE_DMA || command == ATA_WRITE_SECTORS, fis_lba28 (fis),
                     count);
      return;

    case ATA_READ_DMA_EXT:
    case ATA_WRITE_DMA_EXT:
    case ATA_READ_SECTORS_EXT:
    case ATA_WRITE_SECTORS_EXT:
      count = (unsigned) (fis[12] | fis[13] << 8);
      if (count == 0)
        count = 65536;
      request->pio = command == ATA_READ_SECTORS_EXT || command == ATA_WRITE_SECTORS_EXT;
      run_rw_locked (port, request, command == ATA_WRITE_DMA_EXT || command == ATA_WRITE_SECTORS_EXT,
                     fis_lba48 (fis), count);
      return;

    case ATA_READ_FPDMA:
    case ATA_WRITE_FPDMA:
      count = (unsigned) (fis[3] | fis[11] << 8);
      if (count == 0)
        count = 65536;
      run_rw_locked (port, request, command == ATA_WRITE_FPDMA, fis_lba48 (fis), count);
      return;

    case ATA_READ_VERIFY:
    case ATA_READ_VERIFY_EXT:
      {
        uint64_t lba = command == ATA_READ_VERIFY ? fis_lba28 (fis) : fis_lba48 (fis);
        uint64_t sectors = hv_block_get_size (port->block) / SECTOR;

        count = command == ATA_READ_VERIFY ? (fis[12] ? fis[12] : 256) : (fis[12] | fis[13] << 8);
        if (command == ATA_READ_VERIFY_EXT && count == 0)
          count = 65536;
        if (lba > sectors || count > sectors - lba)
          finish_slot_locked (port, slot, FALSE, FALSE, 0, STATUS_OK | ST_ERR, ERR_IDNF);
        else
          finish_slot_locked (port, slot, FALSE, FALSE, 0, STATUS_OK, 0);
        break;
      }

    case ATA_FLUSH_CACHE:
    case ATA_FLUSH_CACHE_EXT:
      if (hv_block_is_read_only (port->block))
        {
          /* Nothing was written: nothing to make stable. */
          finish_slot_locked (port, slot, FALSE, FALSE, 0, STATUS_OK, 0);
          break;
        }
      request->op = HV_BLOCK_FLUSH;
      request->n_iov = 0;
      if (submit_locked (request))
        return;
      fail_slot_locked (port, slot, FALSE, ERR_ABRT);
      break;

    case ATA_DSM:
      run_dsm_locked (port, request, fis);
      return;

    case ATA_SET_FEATURES:
    case ATA_SET_MULTIPLE:
    case ATA_INIT_PARAMS:
    case ATA_IDLE_IMMEDIATE:
    case ATA_STANDBY_IMMEDIATE:
    case ATA_IDLE:
    case ATA_STANDBY:
    case ATA_SECURITY_FREEZE:
    case ATA_CHECK_POWER_MODE:
      finish_slot_locked (port, slot, FALSE, FALSE, 0, STATUS_OK, 0);
      break;

    default:
      /* IDENTIFY PACKET DEVICE among them: a disk aborts it, which is how firmware tells it from a
       * CD-ROM. */
      fail_slot_locked (port, slot, FALSE, ERR_ABRT);
      break;
    }
  request_free (request);
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
  const uint8_t *table, *fis;
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
  fis = table + CT_CFIS;
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
          request_free (request);
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
      fail_slot_locked (port, slot, FALSE, ERR_ABRT);
      request_free (request);
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
      run_atapi_locked (port, request, cdb);
    }
  else
    run_ata_locked (port, request, fis);
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
  update_irq_locked (ahci);
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

static void
kick (HvAhci *ahci)
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
          kick (ahci);
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
          update_irq_locked (ahci);
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
  update_irq_locked (ahci);
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
  ahci->kick_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (ahci->kick_fd < 0)
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
  kick (ahci);
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
      kick (ahci);
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
  update_irq_locked (ahci);
  g_mutex_unlock (&ahci->lock);
  kick (ahci);
  return TRUE;
}

/* ---- The "sata-disk" and "cdrom" kinds: drives on one controller, made with the first ---- */

static HvBlockCache
parse_cache (const char *text)
{
  if (g_strcmp0 (text, "none") == 0)
    return HV_BLOCK_CACHE_NONE;
  if (g_strcmp0 (text, "writeback") == 0)
    return HV_BLOCK_CACHE_WRITEBACK;
  return HV_BLOCK_CACHE_DEFAULT;
}

static HvBlockFormat
parse_format (const char *text)
{
  if (g_strcmp0 (text, "raw") == 0)
    return HV_BLOCK_FORMAT_RAW;
  if (g_strcmp0 (text, "qcow2") == 0)
    return HV_BLOCK_FORMAT_QCOW2;
  return HV_BLOCK_FORMAT_AUTO;
}

static int
open_backing (void *opaque, unsigned depth, const char *name, HvBlockFormat format, GError **error)
{
  HvDevice *device = opaque;
  unsigned n;
  const int *fds = hv_device_get_fds_option (device, "backing", &n);
  int fd;

  if (depth == 0 || depth > n)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_NOT_FOUND,
                   "it needs its backing file “%s” (link %u of its chain), which was not given", name, depth);
      return -1;
    }
  fd = fcntl (fds[depth - 1], F_DUPFD_CLOEXEC, 3);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot use its backing file “%s”: %s", name,
                   g_strerror (saved));
    }
  return fd;
}

/* Opens @fd (not taken) as the device's image; a disc changed later (@changed) has its format probed,
 * since the device's options describe the first one. */
static HvBlock *
open_image (HvDevice *device, int fd, gboolean cdrom, gboolean changed, GError **error)
{
  HvBlockOptions options = { 0 };
  const char *format = NULL, *cache = NULL;
  HvBlock *block;

  g_variant_lookup (device->options, "format", "&s", &format);
  g_variant_lookup (device->options, "cache", "&s", &cache);
  g_variant_lookup (device->options, "read-only", "b", &options.read_only);
  options.format = changed ? HV_BLOCK_FORMAT_AUTO : parse_format (format);
  options.cache = parse_cache (cache);
  if (cdrom)
    options.read_only = TRUE;
  fd = fcntl (fd, F_DUPFD_CLOEXEC, 3);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot use the image: %s", g_strerror (saved));
      return NULL;
    }
  block = hv_block_open (fd, &options, open_backing, device, error);
  if (block == NULL)
    g_prefix_error (error, cdrom ? "the disc image: " : "the disk image: ");
  return block;
}

static HvAhci *
find_controller (HvDevice *device)
{
  HvDevices *devices = device->devices;

  for (unsigned i = 0; i < hv_devices_get_count (devices); i++)
    {
      HvDevice *other = hv_devices_get (devices, i);
      HvAhciDrive *drive = other->impl;

      if (other != device && other->realized && drive
          && (other->kind->info == &hv_kind_info_sata_disk || other->kind->info == &hv_kind_info_cdrom))
        return drive->ahci;
    }
  return NULL;
}

static gboolean
drive_realize (HvDevice *device, gboolean cdrom, GError **error)
{
  HvAhci *ahci = find_controller (device);
  int fd = hv_device_get_fd_option (device, "file");
  HvBlock *block = NULL;
  const char *serial = NULL;
  HvAhciDrive *drive;
  int port;

  if (fd < 0 && !cdrom)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "no disk image was given");
      return FALSE;
    }
  if (fd >= 0 && (block = open_image (device, fd, cdrom, FALSE, error)) == NULL)
    return FALSE;
  if (ahci == NULL)
    {
      HvPlatform platform = *hv_device_get_platform (device);

      platform.io_context = hv_platform_get_io_context (&platform, "sata", error);
      if (platform.io_context == NULL
          || (ahci = hv_ahci_new (&platform, hv_device_get_pci (device), "ahci", error)) == NULL)
        {
          hv_block_free (block);
          return FALSE;
        }
    }
  g_variant_lookup (device->options, "serial", "&s", &serial);
  port = cdrom ? hv_ahci_add_cdrom (ahci, device->id, block, error)
               : hv_ahci_add_disk (ahci, device->id, block, serial, error);
  if (port < 0)
    {
      if (ahci->refs == 0)
        hv_ahci_free (ahci);
      return FALSE;
    }
  ahci->refs++;
  drive = g_new0 (HvAhciDrive, 1);
  drive->ahci = ahci;
  drive->port = (unsigned) port;
  device->impl = drive;
  return TRUE;
}

static gboolean
disk_realize (HvDevice *device, GError **error)
{
  return drive_realize (device, FALSE, error);
}

static gboolean
cdrom_realize (HvDevice *device, GError **error)
{
  return drive_realize (device, TRUE, error);
}

static void
drive_teardown (HvDevice *device)
{
  HvAhciDrive *drive = device->impl;

  if (drive == NULL)
    return;
  if (--drive->ahci->refs == 0)
    hv_ahci_free (drive->ahci);
  g_free (drive);
}

static void
drive_quiesce (HvDevice *device, gboolean quiesced)
{
  HvAhciDrive *drive = device->impl;

  /* The controller's drives quiesce together; the first one's call does it. */
  if (drive->port == 0)
    hv_ahci_quiesce (drive->ahci, quiesced);
}

static GVariant *
drive_save (HvDevice *device)
{
  HvAhciDrive *drive = device->impl;

  return hv_ahci_save_port (drive->ahci, drive->port, drive->port == 0);
}

static gboolean
drive_load (HvDevice *device, GVariant *state, unsigned version, GError **error)
{
  HvAhciDrive *drive = device->impl;

  return hv_ahci_load_port (drive->ahci, drive->port, state, error);
}

gboolean
hv_ahci_device_change_medium (void *device_pointer, int fd, gboolean force, GError **error)
{
  HvDevice *device = device_pointer;
  HvAhciDrive *drive = device->impl;
  HvBlock *block = NULL;

  if (device->kind->info != &hv_kind_info_cdrom || drive == NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "%s is not a CD-ROM drive", device->id);
      if (fd >= 0)
        close (fd);
      return FALSE;
    }
  if (fd >= 0)
    {
      block = open_image (device, fd, TRUE, TRUE, error);
      close (fd);
      if (block == NULL)
        return FALSE;
    }
  return hv_ahci_change_medium (drive->ahci, drive->port, block, force, error);
}

const HvDeviceKind hv_sata_disk_kind = {
  .info = &hv_kind_info_sata_disk,
  .order = HV_DEVICE_ORDER_PCI,
  .state_version = 1,
  .realize = disk_realize,
  .teardown = drive_teardown,
  .quiesce = drive_quiesce,
  .save = drive_save,
  .load = drive_load,
};

const HvDeviceKind hv_cdrom_kind = {
  .info = &hv_kind_info_cdrom,
  .order = HV_DEVICE_ORDER_PCI,
  .state_version = 1,
  .realize = cdrom_realize,
  .teardown = drive_teardown,
  .quiesce = drive_quiesce,
  .save = drive_save,
  .load = drive_load,
};
