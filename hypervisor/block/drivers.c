/* drivers.c — the image formats hv_block_open knows, probed in this order; raw, which takes any file,
 * is the fallback.  A format adds its line here, before raw. */
#include "block-private.h"

const HvBlockDriver *const hv_block_drivers[] = {
  &hv_block_qcow2_driver,
  &hv_block_raw_driver,
  NULL,
};
