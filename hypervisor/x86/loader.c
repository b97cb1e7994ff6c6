/* loader.c — placeholder until written. */
