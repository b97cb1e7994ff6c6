/* ahci-ata.c — a SATA disk's ATA commands: IDENTIFY DEVICE (and the CD-ROM's IDENTIFY PACKET DEVICE),
 * DMA, PIO and NCQ reads and writes, FLUSH CACHE, DATA SET MANAGEMENT (TRIM), READ VERIFY and the
 * commands drivers send at probe; every LBA and count checked against the disk and the scatter list. */
#include "ahci-private.h"
#include "bytes.h"

#include <string.h>

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
      ahci_finish_slot_locked (port, request->slot, request->ncq, FALSE, 0, STATUS_OK | ST_ERR, ERR_IDNF);
      ahci_request_free (request);
      return;
    }
  if (bytes > TRANSFER_MAX || ahci_prdt_bytes (request) < bytes)
    goto abort;
  if (count == 0)
    {
      ahci_finish_slot_locked (port, request->slot, request->ncq, request->pio, 0, STATUS_OK, 0);
      ahci_request_free (request);
      return;
    }
  ahci_trim_prdt (request, bytes);
  request->op = write ? HV_BLOCK_WRITE : HV_BLOCK_READ;
  request->offset = lba * SECTOR;
  request->length = bytes;
  request->transferred = (uint32_t) bytes;
  if (ahci_submit_locked (request))
    return;
abort:
  ahci_fail_slot_locked (port, request->slot, request->ncq, ERR_ABRT);
  ahci_request_free (request);
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
  if (ahci_copy_from_prdt (request, request->ranges, bytes) != bytes)
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
          ahci_finish_slot_locked (port, request->slot, FALSE, FALSE, 0, STATUS_OK | ST_ERR, ERR_IDNF);
          ahci_request_free (request);
          return;
        }
      memmove (request->ranges + 8 * request->n_ranges++, request->ranges + 8 * i, 8);
    }
  request->op = HV_BLOCK_DISCARD;
  request->transferred = (uint32_t) bytes;
  if (request->n_ranges == 0)
    {
      ahci_finish_slot_locked (port, request->slot, FALSE, FALSE, (uint32_t) bytes, STATUS_OK, 0);
      ahci_request_free (request);
      return;
    }
  if (ahci_submit_locked (request))
    return;
abort:
  ahci_fail_slot_locked (port, request->slot, FALSE, ERR_ABRT);
  ahci_request_free (request);
}

void
ahci_run_ata_locked (Port *port, Request *request, const uint8_t *fis)
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
          ahci_finish_slot_locked (port, slot, FALSE, TRUE, ahci_copy_to_prdt (request, buf, 512), STATUS_OK,
                                   0);
          break;
        case ATA_DEVICE_RESET:
          ahci_set_sense (port, SENSE_NONE, 0, 0);
          ahci_finish_slot_locked (port, slot, FALSE, FALSE, 0, STATUS_OK, 0);
          break;
        case ATA_SET_FEATURES:
        case ATA_IDLE_IMMEDIATE:
        case ATA_STANDBY_IMMEDIATE:
        case ATA_CHECK_POWER_MODE:
          ahci_finish_slot_locked (port, slot, FALSE, FALSE, 0, STATUS_OK, 0);
          break;
        default:
          /* IDENTIFY DEVICE among them: an ATAPI device aborts it, leaving its signature. */
          ahci_fail_slot_locked (port, slot, FALSE, ERR_ABRT);
          break;
        }
      ahci_request_free (request);
      return;
    }

  switch (command)
    {
    case ATA_IDENTIFY:
      identify (port, buf);
      ahci_finish_slot_locked (port, slot, FALSE, TRUE, ahci_copy_to_prdt (request, buf, 512), STATUS_OK, 0);
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
          ahci_finish_slot_locked (port, slot, FALSE, FALSE, 0, STATUS_OK | ST_ERR, ERR_IDNF);
        else
          ahci_finish_slot_locked (port, slot, FALSE, FALSE, 0, STATUS_OK, 0);
        break;
      }

    case ATA_FLUSH_CACHE:
    case ATA_FLUSH_CACHE_EXT:
      if (hv_block_is_read_only (port->block))
        {
          /* Nothing was written: nothing to make stable. */
          ahci_finish_slot_locked (port, slot, FALSE, FALSE, 0, STATUS_OK, 0);
          break;
        }
      request->op = HV_BLOCK_FLUSH;
      request->n_iov = 0;
      if (ahci_submit_locked (request))
        return;
      ahci_fail_slot_locked (port, slot, FALSE, ERR_ABRT);
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
      ahci_finish_slot_locked (port, slot, FALSE, FALSE, 0, STATUS_OK, 0);
      break;

    default:
      /* IDENTIFY PACKET DEVICE among them: a disk aborts it, which is how firmware tells it from a
       * CD-ROM. */
      ahci_fail_slot_locked (port, slot, FALSE, ERR_ABRT);
      break;
    }
  ahci_request_free (request);
}
