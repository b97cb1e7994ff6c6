/* edid.h — the EDID block of the display adapter's monitor (edid.c). */
#pragma once

#include <glib.h>
#include <stdint.h>

#define HV_EDID_SIZE 128

/* An EDID 1.4 block for a digital monitor of no fixed size whose modes are the adapter's: 800x600 to
 * 2560x1600, 1024x768 preferred. */
void hv_edid_build (uint8_t edid[HV_EDID_SIZE]);
