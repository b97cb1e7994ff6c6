/* state.h — saved state as GVariant dictionaries: the helpers every state owner (vCPUs, irqchip,
 * devices) uses to build its a{sv} and to read one back from a file that must be treated as
 * untrusted, and the CRC-64 the saved files carry. */
#pragma once

#include "hv.h"

/* Building state: a byte array holding a copy of @data. */
GVariant *hv_state_new_bytes (const void *data, gsize len);

/* Reading state.  Each fails with HV_ERROR_BAD_IMAGE, saying that the saved state of @what (“the
 * serial port”, “vCPU 1”) is not valid and why. */
void hv_state_set_bad (GError **error, const char *what, const char *format, ...) G_GNUC_PRINTF (3, 4);
/* Looks @key up in the a{sv} @dict; fails when it is missing or not of @type.  Returns a new
 * reference. */
GVariant *hv_state_lookup (GVariant *dict, const char *what, const char *key, const GVariantType *type,
                           GError **error);
/* A basic value: @format is "b" (gboolean), "y" (uint8_t), "q" (uint16_t), "u" (uint32_t), "t"
 * (uint64_t) or "x" (int64_t); @out points at that type. */
gboolean hv_state_get (GVariant *dict, const char *what, const char *key, const char *format, void *out,
                       GError **error);
/* A basic value added in version @since of a section: required in sections of that version or newer;
 * in an older section it is missing and @out keeps the default the caller put there. */
gboolean hv_state_get_since (GVariant *dict, const char *what, const char *key, const char *format,
                             unsigned version, unsigned since, void *out, GError **error);
/* The same for "y", "q", "u" or "t" with a range check: the value must be at most @max. */
gboolean hv_state_get_max (GVariant *dict, const char *what, const char *key, const char *format,
                           uint64_t max, void *out, GError **error);
/* A byte array of @min_len to @max_len bytes, copied to @buffer; @len receives its length (may be
 * NULL when @min_len == @max_len). */
gboolean hv_state_get_bytes (GVariant *dict, const char *what, const char *key, void *buffer, gsize min_len,
                             gsize max_len, gsize *len, GError **error);

/* CRC-64/XZ (ECMA-182 polynomial, reflected).  Pass 0 as @crc to start, the previous result to go
 * on. */
uint64_t hv_crc64 (uint64_t crc, const void *data, gsize len);
