/* e820.c — placeholder until written. */
