/* pvh.c — placeholder until written. */
