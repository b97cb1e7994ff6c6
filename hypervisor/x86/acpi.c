/* acpi.c — placeholder until written. */
