/* bytes.h — little-endian loads and stores on byte buffers (register files, config spaces, guest rings),
 * independent of alignment. */
#pragma once

#include <stdint.h>

static inline void
hv_put_le16 (uint8_t *p, uint16_t value)
{
  p[0] = (uint8_t) value;
  p[1] = (uint8_t) (value >> 8);
}

static inline void
hv_put_le32 (uint8_t *p, uint32_t value)
{
  hv_put_le16 (p, (uint16_t) value);
  hv_put_le16 (p + 2, (uint16_t) (value >> 16));
}

static inline uint16_t
hv_get_le16 (const uint8_t *p)
{
  return (uint16_t) (p[0] | (p[1] << 8));
}

static inline uint32_t
hv_get_le32 (const uint8_t *p)
{
  return (uint32_t) hv_get_le16 (p) | ((uint32_t) hv_get_le16 (p + 2) << 16);
}

static inline void
hv_put_le64 (uint8_t *p, uint64_t value)
{
  hv_put_le32 (p, (uint32_t) value);
  hv_put_le32 (p + 4, (uint32_t) (value >> 32));
}

static inline uint64_t
hv_get_le64 (const uint8_t *p)
{
  return (uint64_t) hv_get_le32 (p) | ((uint64_t) hv_get_le32 (p + 4) << 32);
}
