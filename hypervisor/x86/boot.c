/* boot.c — placeholder until written. */
