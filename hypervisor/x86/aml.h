/* aml.h — a byte-code builder for the little AML the DSDT needs: names, data objects, packages,
 * scopes, devices, constant-returning methods and resource templates.
 *
 * Everything appends to a GByteArray.  Constructs with a PkgLength (Package, Scope, Device, Method)
 * are opened with a *_begin() call, which returns a mark, filled with further calls, and closed
 * with hv_aml_end(), which inserts the PkgLength once the size of the contents is known.  Names and
 * sizes come from our own code, not from a guest, so malformed ones are programmer errors
 * (g_return_if_fail). */
#pragma once

#include <glib.h>
#include <stdint.h>

/* A PkgLength takes 1 to 4 bytes and encodes at most 2^28 - 1 (its own bytes included). */
#define HV_AML_PKG_LENGTH_MAX_BYTES 4
#define HV_AML_PKG_LENGTH_MAX       0x0fffffffu

/* Encodes the PkgLength of a construct whose contents after the PkgLength are @content_len bytes;
 * the encoded value counts the PkgLength's own bytes.  Returns how many bytes went to @out, or 0
 * when @content_len is too large for AML. */
unsigned hv_aml_pkg_length_encode (gsize content_len, uint8_t out[HV_AML_PKG_LENGTH_MAX_BYTES]);

/* A NameSeg: 1 to 4 characters of [A-Z0-9_] not starting with a digit, padded with '_' ("KBD" →
 * "KBD_"). */
void hv_aml_name_seg (GByteArray *aml, const char *seg);
/* A NameString: an optional '\' or run of '^', then dot-separated NameSegs ("\\_SB.PCI0", "_S5",
 * "\\"). */
void hv_aml_name_path (GByteArray *aml, const char *path);

/* Data objects.  Integers take the shortest encoding (ZeroOp, OneOp, Byte/Word/DWord/QWord). */
void hv_aml_integer (GByteArray *aml, uint64_t value);
void hv_aml_string (GByteArray *aml, const char *text);
/* A 7-character EISA id ("PNP0A03") in its compressed 32-bit form, as EisaId() in ASL. */
void hv_aml_eisa_id (GByteArray *aml, const char *id);
void hv_aml_buffer (GByteArray *aml, const uint8_t *data, gsize len);

/* Opens a construct; append its contents, then close it with hv_aml_end() and the returned mark. */
gsize hv_aml_package_begin (GByteArray *aml, unsigned n_elements);
gsize hv_aml_scope_begin (GByteArray *aml, const char *path);
gsize hv_aml_device_begin (GByteArray *aml, const char *path);
gsize hv_aml_method_begin (GByteArray *aml, const char *path, unsigned n_args, gboolean serialized);
void hv_aml_end (GByteArray *aml, gsize mark);

/* Name (@path, <object>): append the object next. */
void hv_aml_name (GByteArray *aml, const char *path);
/* Return (<value>): append the value next. */
void hv_aml_return (GByteArray *aml);

/* Resource descriptors, appended to their own array and wrapped by hv_aml_resource_template(). */
/* IO (Decode16, @min, @max, @align, @len) */
void hv_aml_res_io (GByteArray *res, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
/* IRQNoFlags () {@irq}: an ISA interrupt (0..15), edge-triggered, active high, exclusive. */
void hv_aml_res_irq (GByteArray *res, unsigned irq);
/* Interrupt (ResourceConsumer, ...) {@gsi} */
void hv_aml_res_ext_irq (GByteArray *res, uint32_t gsi, gboolean level, gboolean active_low, gboolean shared);
/* Address space windows a host bridge produces for its children: ResourceProducer, MinFixed,
 * MaxFixed, PosDecode, no translation, granularity 0, length max - min + 1.  I/O windows cover ISA
 * and non-ISA ranges (EntireRange); memory windows are NonCacheable, ReadWrite. */
void hv_aml_res_word_bus_number (GByteArray *res, uint16_t min, uint16_t max);
void hv_aml_res_word_io (GByteArray *res, uint16_t min, uint16_t max);
void hv_aml_res_dword_memory (GByteArray *res, uint32_t min, uint32_t max);
void hv_aml_res_qword_memory (GByteArray *res, uint64_t min, uint64_t max);
/* ResourceTemplate () {...}: a Buffer holding @res and an EndTag (checksum 0, meaning "not
 * checked"). */
void hv_aml_resource_template (GByteArray *aml, const GByteArray *res);
