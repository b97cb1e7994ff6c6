/* cpuid.c — placeholder until written. */
