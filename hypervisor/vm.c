/* vm.c — placeholder until written. */
