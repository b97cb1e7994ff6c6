/* pci.c — placeholder until written. */
