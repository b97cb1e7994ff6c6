/* irq.c — placeholder until written. */
