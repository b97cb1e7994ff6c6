/* acpi.h — the ACPI tables the guest firmware interface offers: RSDP, XSDT, FADT (+FACS), MADT, DSDT. */
#pragma once

#include "memory.h"

/* Builds the tables for @n_vcpus processors into guest RAM at HV_ACPI_START and returns the RSDP's
 * guest-physical address in @rsdp_addr.  The DSDT describes COM1, the i8042, the RTC and the PCI root
 * bridge and has the _S5 package; the FADT points at the PM block in layout.h (power button as a fixed
 * feature, SCI on HV_IRQ_SCI, PM timer, reset register). */
gboolean hv_acpi_build (HvMemory *mem, unsigned n_vcpus, uint64_t *rsdp_addr, GError **error);

/* ACPI's checksum rule: the bytes of a table sum to zero.  Returns the value to store in the checksum
 * field, computed over @data while that field holds 0. */
uint8_t hv_acpi_checksum (const void *data, gsize len);
