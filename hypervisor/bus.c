/* bus.c — placeholder until written. */
