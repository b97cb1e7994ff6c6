/* rtc.c — placeholder until written. */
