/* fuzz-dhcp-ack.c — what a NIC learns from the frames going to its guest (hv_net_parse_dhcp_ack in
 * hypervisor/net-options.c): on a bridge anyone may send the guest anything, so every length, header
 * and option list is hostile.  The frame is copied to a buffer of its exact size, so AddressSanitizer
 * catches a byte read past it.
 *
 * Input: the NIC's MAC (6 bytes), then the Ethernet frame. */
#include "fuzz-input.h"
#include "net-options.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree uint8_t *frame = NULL;
  uint32_t address = 0;

  fuzz_setup_logging (TRUE);
  if (size < 6)
    return 0;
  frame = g_memdup2 (data + 6, size - 6);
  if (hv_net_parse_dhcp_ack (frame, size - 6, data, &address) && address == 0)
    fuzz_fail ("an ACK without an address was taken");
  return 0;
}
