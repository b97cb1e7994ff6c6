/* vcpu.c — placeholder until written. */
