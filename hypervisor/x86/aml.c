/* aml.c — placeholder until written. */
