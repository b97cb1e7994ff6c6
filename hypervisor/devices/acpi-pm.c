/* acpi-pm.c — placeholder until written. */
