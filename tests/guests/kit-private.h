/* kit-private.h — what the kit's own files and entry.S share but guests do not call. */
#pragma once

#include "kit.h"

/* The frame kit_exception_common hands to kit_exception: pushed by the stub, then by the CPU. */
typedef struct
{
  uint64_t vector;
  uint64_t error_code;
  uint64_t rip;
  uint64_t cs;
  uint64_t rflags;
  uint64_t rsp;
  uint64_t ss;
} KitExceptionFrame;

/* Called from entry.S. */
void kit_start (uint32_t start_info_paddr) __attribute__ ((noreturn));
void kit_exception (KitExceptionFrame *frame) __attribute__ ((noreturn));
long kit_run_user_asm (long (*fn) (void *), void *arg, void *user_stack_top);

void kit_serial_init (void);
void kit_boot_init (uint32_t start_info_paddr);

/* The end of the identity map entry.S builds. */
#define KIT_IDENTITY_MAP_END 0x100000000ull
