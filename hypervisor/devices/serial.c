/* serial.c — placeholder until written. */
