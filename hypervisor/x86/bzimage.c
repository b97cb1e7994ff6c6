/* bzimage.c — placeholder until written. */
