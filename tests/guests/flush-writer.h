/* flush-writer.h — where the flush-writer guest puts write number S and what it holds, shared by the
 * guest (tests/guests/flush-writer.c) and the crash test that checks the image afterwards. */
#pragma once

#define FLUSH_WRITER_BYTES 4096  /* one write */
#define FLUSH_WRITER_SLOTS 16384 /* 4 KiB slots: a disk of at least 64 MiB */
#define FLUSH_WRITER_BATCH 4     /* writes between flushes */
/* 7919 is prime, so S * 7919 mod 16384 visits every slot once. */
#define FLUSH_WRITER_SLOT(seq) ((uint32_t) (((uint64_t) (seq) *7919u) % FLUSH_WRITER_SLOTS))
#define FLUSH_WRITER_BYTE(seq) ((uint8_t) ((seq) % 251u + 1u))
