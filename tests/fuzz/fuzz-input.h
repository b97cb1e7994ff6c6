/* fuzz-input.h — reading a fuzzer's input as a stream of little-endian fields: past its end every
 * field reads as zero, so a short input is simply a shorter run, never an error of the harness. */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <string.h>

typedef struct
{
  const uint8_t *data;
  size_t size;
  size_t at;
} FuzzInput;

static inline void
fuzz_input_init (FuzzInput *in, const uint8_t *data, size_t size)
{
  in->data = data;
  in->size = size;
  in->at = 0;
}

static inline gboolean
fuzz_input_done (const FuzzInput *in)
{
  return in->at >= in->size;
}

static inline size_t
fuzz_input_left (const FuzzInput *in)
{
  return in->at < in->size ? in->size - in->at : 0;
}

static inline uint64_t
fuzz_take (FuzzInput *in, unsigned bytes)
{
  uint64_t value = 0;

  for (unsigned i = 0; i < bytes; i++)
    if (in->at < in->size)
      value |= (uint64_t) in->data[in->at++] << (8 * i);
  return value;
}

static inline uint8_t
fuzz_take_u8 (FuzzInput *in)
{
  return (uint8_t) fuzz_take (in, 1);
}

static inline uint16_t
fuzz_take_u16 (FuzzInput *in)
{
  return (uint16_t) fuzz_take (in, 2);
}

static inline uint32_t
fuzz_take_u32 (FuzzInput *in)
{
  return (uint32_t) fuzz_take (in, 4);
}

static inline uint64_t
fuzz_take_u64 (FuzzInput *in)
{
  return fuzz_take (in, 8);
}

/* Up to @len bytes from the stream; @n receives how many there were. */
static inline const uint8_t *
fuzz_take_bytes (FuzzInput *in, size_t len, size_t *n)
{
  const uint8_t *p = in->data + MIN (in->at, in->size);

  *n = MIN (len, fuzz_input_left (in));
  in->at += *n;
  return p;
}

/* The guest memory the device fuzzers let the input write: 64 KiB, so that any u16 offset is in it. */
#define FUZZ_WINDOW_SIZE 0x10000

/* An op's operands: an offset (u16) and up to 32 bytes, written into @window (FUZZ_WINDOW_SIZE bytes of
 * guest memory) there: what a guest leaves in its command tables, descriptors and buffers. */
static inline void
fuzz_write_window (FuzzInput *in, uint8_t *window)
{
  uint16_t offset = fuzz_take_u16 (in);
  size_t n_bytes;
  const uint8_t *bytes = fuzz_take_bytes (in, fuzz_take_u8 (in) % 33, &n_bytes);

  n_bytes = MIN (n_bytes, FUZZ_WINDOW_SIZE - (size_t) offset);
  memcpy (window + offset, bytes, n_bytes);
}

/* The access width an op byte names: 1, 2, 4 or 8 (or 1, 2, 4 where @max is 4). */
static inline unsigned
fuzz_access_len (uint8_t selector, unsigned max)
{
  unsigned len = 1u << (selector & 3);
  return len > max ? max : len;
}

/* Ends the run as a crash that libFuzzer records (g_error() would raise SIGTRAP, which it does not
 * catch). */
G_GNUC_NORETURN G_GNUC_PRINTF (1, 2) static inline void fuzz_fail (const char *format, ...)
{
  va_list args;

  va_start (args, format);
  vfprintf (stderr, format, args);
  va_end (args);
  fputc ('\n', stderr);
  abort ();
}

static inline GLogWriterOutput
fuzz_log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  gboolean fatal = GPOINTER_TO_INT (data) && (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR));

  if (!fatal && g_getenv ("FUZZ_VERBOSE") == NULL && !(level & G_LOG_LEVEL_ERROR))
    return G_LOG_WRITER_HANDLED; /* quiet: millions of inputs, each may be refused with a warning */
  g_log_writer_standard_streams (level, fields, n_fields, NULL);
  if (fatal)
    abort ();
  return G_LOG_WRITER_HANDLED;
}

/* Call first in every input.  With @criticals_fatal, a critical warning is a crash: in our code it
 * is a g_return_if_fail() that input from outside reached, which STYLE.md says must not happen.
 * Other messages are dropped unless FUZZ_VERBOSE is set. */
static inline void
fuzz_setup_logging (gboolean criticals_fatal)
{
  static gboolean done;

  if (done)
    return;
  done = TRUE;
  g_log_set_writer_func (fuzz_log_writer, GINT_TO_POINTER (criticals_fatal), NULL);
}

/* With FUZZ_VERBOSE set, says why an input was refused: to check that a seed gets as far as meant.
 */
static inline void
fuzz_note_refusal (const char *what, const GError *error)
{
  if (g_getenv ("FUZZ_VERBOSE") != NULL)
    fprintf (stderr, "%s: %s\n", what, error != NULL ? error->message : "refused");
}

/* libFuzzer's entry point, also called by replay.c in the normal build. */
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
