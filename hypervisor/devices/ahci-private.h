/* ahci-private.h — what the AHCI controller's files share (ahci.c: the controller and its registers;
 * ahci-commands.c: running the command lists; ahci-ata.c: a disk's ATA commands; ahci-atapi.c: a CD-ROM's
 * packet commands; ahci-state.c: saved state; ahci-drives.c: the kinds): register and FIS layouts, the
 * port and request structures, and the calls that end a command. */
#pragma once

#include "ahci.h"

#include <sys/uio.h>

#define ABAR             5
#define ABAR_SIZE        0x1000
#define PCI_COMMAND      0x04
#define COMMAND_MEMORY   0x0002
#define COMMAND_INTX_OFF 0x0400
#define PCI_STATUS       0x06
#define STATUS_CAP_LIST  0x10
#define PCI_CAP_POINTER  0x34
#define MSI_CAP          0x80 /* ID 05h, control (64-bit, one vector), address, data */
#define MSI_ENABLE       0x01

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
  /* MSI (one message): the route made when it first fires, its irqfd, what the guest last saw. */
  int msi_gsi;
  int msi_fd;
  gboolean msi_irqfd_assigned;
  uint64_t msi_address;
  uint32_t msi_data;
  uint32_t last_is;
  gboolean msi_warned;
  gboolean paused;
  gboolean bar_mapped;
  uint64_t bar_addr;
  int kick_fd;
  GSource *kick_source;
  GThread *working; /* the thread running commands with the lock held */
  unsigned refs;    /* drives using it (the kinds) */
};

/* ahci.c and ahci-commands.c, with the controller's lock held. */
void ahci_request_free (Request *request);
/* Ends the command in @slot: the byte count in its header, the FIS, PxCI/PxSACT, the interrupt. */
void ahci_finish_slot_locked (Port *port, unsigned slot, gboolean ncq, gboolean pio, uint32_t transferred,
                              uint8_t status, uint8_t error);
void ahci_fail_slot_locked (Port *port, unsigned slot, gboolean ncq, uint8_t error);
/* Hands @request to the block layer (a TRIM: its next range); FALSE when it refused it (the request is
 * then the caller's). */
gboolean ahci_submit_locked (Request *request);
void ahci_update_irq_locked (HvAhci *ahci);
void ahci_post_d2h_locked (Port *port, uint8_t status, uint8_t error, uint8_t count, gboolean interrupt);
/* Writes @fis at @offset of the port's received-FIS area, when the port takes them. */
void ahci_post_fis_locked (Port *port, unsigned offset, const uint8_t *fis, unsigned len);
gboolean ahci_medium_present (Port *port);
void ahci_kick (HvAhci *ahci);
/* The I/O thread's side of ahci_kick: runs every port's issued commands (a GUnixFDSourceFunc). */
gboolean ahci_kicked (int fd, GIOCondition condition, gpointer data);
/* The command's scatter list: data copied in or out, its size, cut to its first @len bytes. */
uint32_t ahci_copy_to_prdt (Request *request, const void *data, uint64_t len);
uint64_t ahci_copy_from_prdt (Request *request, void *data, uint64_t len);
uint64_t ahci_prdt_bytes (Request *request);
void ahci_trim_prdt (Request *request, uint64_t len);

/* ahci-ata.c: runs an ATA command (@fis, the command FIS) and ends it, or hands it to the block layer. */
void ahci_run_ata_locked (Port *port, Request *request, const uint8_t *fis);
/* ahci-atapi.c: runs an ATAPI command (@cdb) the same way; the sense data of the last command. */
void ahci_run_atapi_locked (Port *port, Request *request, const uint8_t *cdb);
void ahci_set_sense (Port *port, uint8_t key, uint8_t asc, uint8_t ascq);
