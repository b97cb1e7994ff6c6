/* disk-image.h — a storage device's image opened from its spec options (disk-image.c): the options
 * virtio-blk, sata-disk and cdrom share ("format", "cache", "read-only", the "backing" chain's fds). */
#pragma once

#include "block/block.h"
#include "device.h"

/* Opens @fd (not taken: the block gets its own descriptor of the same open file, so the same locks) as
 * @device's image, its backing files from the device's "backing" fds.  @read_only forces a read-only
 * open whatever the options say (a CD-ROM); @probe ignores the "format" option (a disc inserted later,
 * which the options do not describe).  Errors start with "the @what: ". */
HvBlock *hv_disk_image_open (HvDevice *device, int fd, gboolean read_only, gboolean probe, const char *what,
                             GError **error);
