/* memory.c — placeholder until written. */
