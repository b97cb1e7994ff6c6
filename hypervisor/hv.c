/* hv.c — placeholder until written. */
