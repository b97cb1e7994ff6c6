/* image-info.h — what a front end must know of a disk image before handing it to a machine: its format
 * and the backing file it names, read without the block layer (libvireo-hv-limits: vireod opens a
 * disk's chain with the caller's rights and passes the fds; the VMM opens no path).  Every byte read is
 * untrusted: a damaged header is HV_ERROR_BAD_IMAGE naming what is wrong. */
#pragma once

#include "hv-limits.h"

G_BEGIN_DECLS

/* The longest backing file name a qcow2 header may give (QEMU's limit). */
#define HV_IMAGE_BACKING_NAME_MAX 1023
/* The longest chain of backing files a disk may have (a loop shows up as one). */
#define HV_IMAGE_CHAIN_MAX 64

typedef struct
{
  gboolean qcow2;       /* FALSE: raw */
  char *backing;        /* the backing file's name as the image writes it, or NULL */
  char *backing_format; /* "raw", "qcow2", or NULL when the image does not say */
} HvImageInfo;

/* Reads @fd's header (pread: the file position is left alone). */
gboolean hv_image_info_read (int fd, HvImageInfo *info, GError **error);
void hv_image_info_clear (HvImageInfo *info);
/* Where a backing file @name lies, for an image at @image_path: next to it when relative, as QEMU
 * resolves it. */
char *hv_image_backing_path (const char *image_path, const char *name);

G_END_DECLS
