/* block-test-support.h — TEST ONLY: drives a format driver (qcow2.c) without the block core (block.c):
 * an HvBlock made by hand, requests submitted straight to the driver and waited for. */
#pragma once

#include "block/block-private.h"

/* An HvBlock for @fd (taken) opened by @driver, with @aio (may be NULL: synchronous data I/O) and
 * requests completing on @context.  NULL and @error when the driver refuses the image. */
HvBlock *test_block_open (const HvBlockDriver *driver, int fd, gboolean read_only,
                          HvBlockOpenBacking open_backing, void *opaque, GMainContext *context, HvAio *aio,
                          GError **error);
/* Submits one request to the driver and iterates @block's context until it completes: its result. */
int test_block_io (HvBlock *block, HvBlockOp op, void *buf, uint64_t offset, uint64_t length);
/* Submits one request without waiting: *@done becomes TRUE and *@result its result when it completes. */
void test_block_submit (HvBlock *block, HvBlockOp op, void *buf, uint64_t offset, uint64_t length,
                        int *result, gboolean *done);
