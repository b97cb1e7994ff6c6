/* fw-cfg.h — QEMU's firmware configuration interface (docs/specs/fw_cfg.rst in QEMU): how firmware
 * (SeaBIOS, later OVMF) learns the machine — its memory map, processors, ACPI tables, boot order and
 * option ROMs — through a selector port, a data port and DMA.
 *
 * The machine fills it (pc.c) before the vCPUs run: numbered items and named files.  What the guest
 * reads is then fixed; the guest cannot write anything (writes are refused with the DMA error bit). */
#pragma once

#include "platform.h"

/* The ports on x86. */
#define HV_PORT_FW_CFG_SELECTOR 0x510 /* 16-bit selector; an 8-bit data port at 0x511 */
#define HV_PORT_FW_CFG_DMA      0x514 /* 64-bit big-endian DMA address: 0x514 high half, 0x518 low */

/* Numbered items (keys) firmware reads. */
#define HV_FW_CFG_SIGNATURE  0x00
#define HV_FW_CFG_ID         0x01
#define HV_FW_CFG_UUID       0x02
#define HV_FW_CFG_RAM_SIZE   0x03
#define HV_FW_CFG_NOGRAPHIC  0x04
#define HV_FW_CFG_NB_CPUS    0x05
#define HV_FW_CFG_BOOT_MENU  0x0e
#define HV_FW_CFG_MAX_CPUS   0x0f
#define HV_FW_CFG_FILE_DIR   0x19
#define HV_FW_CFG_FILE_FIRST 0x20
/* The longest file name, with its NUL. */
#define HV_FW_CFG_NAME_MAX 56

/* ID bits. */
#define HV_FW_CFG_ID_TRADITIONAL 0x01
#define HV_FW_CFG_ID_DMA         0x02

/* FWCfgDmaAccess.control bits. */
#define HV_FW_CFG_DMA_ERROR  0x01
#define HV_FW_CFG_DMA_READ   0x02
#define HV_FW_CFG_DMA_SKIP   0x04
#define HV_FW_CFG_DMA_SELECT 0x08
#define HV_FW_CFG_DMA_WRITE  0x10

typedef struct _HvFwCfg HvFwCfg;

/* @platform->memory is the RAM DMA may touch (no DMA without it: the ID then lacks the DMA bit). */
HvFwCfg *hv_fw_cfg_new (const HvPlatform *platform);
void hv_fw_cfg_free (HvFwCfg *fw_cfg);

/* Sets numbered item @key (below HV_FW_CFG_FILE_FIRST; not the signature, ID or directory) to @data,
 * replacing what it held. */
void hv_fw_cfg_set_item (HvFwCfg *fw_cfg, uint16_t key, GBytes *data);
void hv_fw_cfg_set_item_u16 (HvFwCfg *fw_cfg, uint16_t key, uint16_t value);
void hv_fw_cfg_set_item_u64 (HvFwCfg *fw_cfg, uint16_t key, uint64_t value);
/* Adds (or replaces) file @name.  Files get keys from HV_FW_CFG_FILE_FIRST in the order of their names,
 * as the directory lists them; so adding a file renumbers those after it (fill the device before the
 * guest runs).  Fails for an empty or too long name, or when the key space is full. */
gboolean hv_fw_cfg_add_file (HvFwCfg *fw_cfg, const char *name, GBytes *data, GError **error);
/* The key of file @name, or 0 when there is none. */
uint16_t hv_fw_cfg_get_file_key (HvFwCfg *fw_cfg, const char *name);

/* Port handlers: selector and data ([0x510, 0x512)), DMA address ([0x514, 0x51c)). */
void hv_fw_cfg_io (void *fw_cfg, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write);
void hv_fw_cfg_dma_io (void *fw_cfg, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write);
