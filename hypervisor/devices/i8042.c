/* i8042.c — placeholder until written. */
