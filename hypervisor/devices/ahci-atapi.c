/* ahci-atapi.c — a CD-ROM's packet commands (MMC): TEST UNIT READY, REQUEST SENSE, INQUIRY, READ
 * CAPACITY, READ(10)/(12) of 2048-byte sectors, MODE SENSE(10), GET CONFIGURATION, GET EVENT STATUS
 * NOTIFICATION, READ TOC, READ DISC INFORMATION, START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL, SET CD
 * SPEED, MECHANISM STATUS; UNIT ATTENTION once after a disc change, NOT READY with an empty tray. */
#include "ahci-private.h"
#include "block/block.h"

#include <string.h>

/* ---- ATAPI ---- */

void
ahci_set_sense (Port *port, uint8_t key, uint8_t asc, uint8_t ascq)
{
  port->sense_key = key;
  port->asc = asc;
  port->ascq = ascq;
}

static void
atapi_fail_locked (Port *port, unsigned slot, uint8_t key, uint8_t asc, uint8_t ascq)
{
  ahci_set_sense (port, key, asc, ascq);
  ahci_finish_slot_locked (port, slot, FALSE, FALSE, 0, STATUS_OK | ST_ERR, (uint8_t) (key << 4 | ERR_ABRT));
}

static void
atapi_reply_locked (Port *port, Request *request, const uint8_t *data, unsigned len, unsigned allocation)
{
  uint32_t done = ahci_copy_to_prdt (request, data, MIN (len, allocation));

  ahci_set_sense (port, SENSE_NONE, 0, 0);
  ahci_finish_slot_locked (port, request->slot, FALSE, request->pio, done, STATUS_OK, 0);
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
  return ahci_medium_present (port)
             ? (uint32_t) MIN (hv_block_get_size (port->block) / CD_SECTOR, 0xffffffffu)
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
  gboolean dvd = ahci_medium_present (port) && hv_block_get_size (port->block) > 700ull * 1024 * 1024;
  uint16_t profile = ahci_medium_present (port) ? (dvd ? 0x0010 : 0x0008) : 0;

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

void
ahci_run_atapi_locked (Port *port, Request *request, const uint8_t *cdb)
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
  if (needs_medium && !ahci_medium_present (port))
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
        if (count * CD_SECTOR > TRANSFER_MAX || ahci_prdt_bytes (request) < count * CD_SECTOR)
          {
            atapi_fail_locked (port, slot, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
            break;
          }
        ahci_trim_prdt (request, count * CD_SECTOR);
        request->op = HV_BLOCK_READ;
        request->offset = lba * CD_SECTOR;
        request->length = count * CD_SECTOR;
        request->transferred = (uint32_t) request->length;
        ahci_set_sense (port, SENSE_NONE, 0, 0);
        if (ahci_submit_locked (request))
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
          buf[5] = (port->tray_open ? 0x01 : 0x00) | (ahci_medium_present (port) ? 0x02 : 0x00);
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
  ahci_request_free (request);
}
