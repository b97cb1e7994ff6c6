/* snapshot.h — saved VM state inside the core: the restore plan vm.c follows, and the helpers every
 * state owner (vCPUs, irqchip, devices) uses to build its a{sv} dictionary and to read one back from a
 * file that must be treated as untrusted.
 *
 * A saved VM is a folder with two files: "state" (a header with magic, format version, length and a
 * CRC-64, then a serialized GVariant a{sv}) and "memory" (a 4 KiB header page, then guest RAM, sparse).
 * The layout of both is described in snapshot.c. */
#pragma once

#include "hv.h"

/* What hv_vm_set_restore() has read and checked, kept until hv_vm_start() uses it. */
typedef struct _HvRestore HvRestore;
void hv_restore_free (HvRestore *restore);

/* For hv_vm_start() (vm.c), in this order: the configuration still matches the saved state; then, once
 * guest memory exists, its contents; then, once the irqchip, devices and blank vCPUs exist, the state of
 * all of them.  Errors are HV_ERROR_INVALID_ARGUMENT (configuration) or HV_ERROR_BAD_IMAGE. */
gboolean hv_restore_check_config (HvVm *vm, GError **error);
gboolean hv_restore_memory (HvVm *vm, GError **error);
gboolean hv_restore_machine (HvVm *vm, GError **error);

/* Building state: a byte array holding a copy of @data. */
GVariant *hv_state_new_bytes (const void *data, gsize len);

/* Reading state.  Each fails with HV_ERROR_BAD_IMAGE, saying that the saved state of @what (“the serial
 * port”, “vCPU 1”) is not valid and why. */
void hv_state_set_bad (GError **error, const char *what, const char *format, ...) G_GNUC_PRINTF (3, 4);
/* Looks @key up in the a{sv} @dict; fails when it is missing or not of @type.  Returns a new reference. */
GVariant *hv_state_lookup (GVariant *dict, const char *what, const char *key, const GVariantType *type,
                           GError **error);
/* A basic value: @format is "b" (gboolean), "y" (uint8_t), "q" (uint16_t), "u" (uint32_t), "t"
 * (uint64_t) or "x" (int64_t); @out points at that type. */
gboolean hv_state_get (GVariant *dict, const char *what, const char *key, const char *format, void *out,
                       GError **error);
/* The same for "y", "q", "u" or "t" with a range check: the value must be at most @max. */
gboolean hv_state_get_max (GVariant *dict, const char *what, const char *key, const char *format,
                           uint64_t max, void *out, GError **error);
/* A byte array of @min_len to @max_len bytes, copied to @buffer; @len receives its length (may be NULL
 * when @min_len == @max_len). */
gboolean hv_state_get_bytes (GVariant *dict, const char *what, const char *key, void *buffer,
                             gsize min_len, gsize max_len, gsize *len, GError **error);

/* CRC-64/XZ (ECMA-182 polynomial, reflected), as used by the state and memory file headers.  Pass 0 as
 * @crc to start, the previous result to continue. */
uint64_t hv_crc64 (uint64_t crc, const void *data, gsize len);
