/* display.h — what a display device offers a display server: the current mode, its pixels, and which
 * parts changed.  The producer is the framebuffer device (devices/bochs-display.c); the consumer is the
 * SPICE glue (display/spice-display.c).  Designed so a virtio-gpu device can be a second producer later. */
#pragma once

#include <glib.h>
#include <stdint.h>

typedef struct _HvDisplay HvDisplay;

typedef struct
{
  uint32_t x, y, width, height;
} HvRect;

typedef struct
{
  gboolean enabled; /* FALSE: the guest has not set a mode (or turned scan-out off) */
  uint32_t width;   /* pixels */
  uint32_t height;
  uint32_t stride;       /* bytes per row */
  const uint8_t *pixels; /* 32 bpp, little-endian xRGB (B, G, R, X in memory); valid until the mode changes */
  uint64_t generation;   /* changes whenever width, height, stride, enabled or pixels change */
} HvDisplayMode;

/* The current mode.  Any thread. */
void hv_display_get_mode (HvDisplay *display, HvDisplayMode *mode);

/* Regions written since the previous call (row-aligned bands or tighter), at most @max_rects; when more
 * changed, the last rect covers the rest.  Returns the number of rects.  The first call after a mode
 * change reports the whole screen.  One consumer thread at a time. */
unsigned hv_display_collect_dirty (HvDisplay *display, HvRect *rects, unsigned max_rects);
