/* virtio-net-test.h — what the virtio-net device tests share (test-virtio-net.c, test-virtio-net-tap.c): a
 * machine with the NIC, a driver playing the guest, its queues (several pairs too) and frames. */
#pragma once

#include "virtio-driver.h"
#include "device.h"
#include "devices/virtio-net.h"

#include <fcntl.h>
#include <linux/if_bridge.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define RXQ_BASE   0x100000
#define TXQ_BASE   0x110000
#define RX_BUFS    0x200000 /* RX_BUF_LEN each */
#define TX_BUFS    0x300000
#define BIG_BUF    0x320000 /* 70000 bytes */
#define RX_BUF_LEN 2048
#define QUEUE_LEN  16
#define HDR_LEN    12

#define F_CSUM       0
#define F_GUEST_CSUM 1
#define F_MAC        5
#define F_GUEST_TSO4 7
#define F_GUEST_TSO6 8
#define F_HOST_TSO4  11
#define F_HOST_TSO6  12
#define F_MRG_RXBUF  15
#define F_STATUS     16
#define F_CTRL_VQ    17
#define F_MQ         22
#define F_GUEST_USO4 54
#define F_GUEST_USO6 55
#define F_HOST_USO   56

/* Several queue pairs: pair 0 is rxq and txq above, the other queues (and the control queue) here. */
#define MQ_PAIRS       3
#define MQ_QUEUES_BASE 0x120000 /* queue i at + i * 0x1000 */
#define MQ_RX_BUFS     0x340000 /* pair p's at + p * 0x10000, RX_BUF_LEN each */
#define MQ_TX_BUFS     0x380000 /* pair p's at + p * 0x8000 */
#define CTRL_BUF       0x3c0000
#define CTRL_ACK       0x3c1000
#define MSI_DATA(q)    (0x40 + (q)) /* queue q's MSI-X vector's message */

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t guest_ip[4] = { 10, 0, 2, 15 };
static const uint8_t gateway_ip[4] = { 10, 0, 2, 2 };

typedef struct
{
  TestMachine m;
  HvVirtioNet *net;
  TestDriver d;
  TestQueue rxq;
  TestQueue txq;
  uint64_t rx_addr[QUEUE_LEN]; /* the buffer given with each receive descriptor */
  unsigned n_tx;
  char *tftp_dir; /* served by the TFTP server, when the test has one */
  int tftp_fd;
  int tap_fd; /* the TAP backend's, or -1 */
  char *tap_name;
  int packet;            /* a packet socket on the TAP: the host's side */
  int tap_fds[MQ_PAIRS]; /* a multiqueue TAP's queues (tap_fd is the first), or -1 */
  unsigned pairs;        /* the NIC's queue pairs */
  TestQueue queues[2 * MQ_PAIRS + 1];
  uint64_t mq_rx_addr[MQ_PAIRS][QUEUE_LEN];
  unsigned mq_tx[MQ_PAIRS];
} Fixture;

/* The NIC (MAC guest_mac) of @config on the machine, found by the driver. */
void add_nic (Fixture *f, HvVirtioNetConfig *config);

void setup_with (Fixture *f, gboolean restricted);

void fixture_setup (Fixture *f, gconstpointer data);

/* MQ_PAIRS queue pairs on the restricted NAT (the device takes several with any backend; specs refuse
 * them for the NAT). */
void mq_setup (Fixture *f, gconstpointer data);

/* Restricted, with a TFTP directory holding "hello.txt". */
void tftp_setup (Fixture *f, gconstpointer data);

void restricted_setup (Fixture *f, gconstpointer data);

void fixture_teardown (Fixture *f, gconstpointer data);

uint64_t device_features (Fixture *f);

/* Gives the device @count receive buffers of @len bytes and tells it. */
void give_rx (Fixture *f, unsigned count, uint32_t len);

/* Features, queues (no MSI-X: INTx), DRIVER_OK, then @rx_buffers receive buffers of @rx_len bytes. */
void bring_up (Fixture *f, uint64_t features, unsigned rx_buffers, uint32_t rx_len);

/* Sends @frame behind a zero header, from one readable buffer; returns after the device took it. */
void transmit (Fixture *f, const uint8_t *frame, gsize len);

/* The next frame the device delivered (one buffer); its length, 0 when there is none. */
gsize next_rx (Fixture *f, uint8_t *frame, gsize max);

gsize arp_request (uint8_t *frame, const uint8_t *target);

void assert_arp_reply (Fixture *f);

TestQueue *mq_queue (Fixture *f, unsigned index);

/* @features with VERSION_1, every queue of the device's pairs and its control queue (queue i on MSI-X
 * vector i), DRIVER_OK. */
void mq_bring_up (Fixture *f, uint64_t features);

/* Gives pair @pair @count receive buffers. */
void mq_give_rx (Fixture *f, unsigned pair, unsigned count);

/* Sends @frame on pair @pair's transmit queue; returns once the device gave the buffer back. */
void mq_transmit (Fixture *f, unsigned pair, const uint8_t *frame, gsize len);

/* A command on the control queue from @buffers; the device's answer, or -1 when it returned the chain
 * without one. */
int control (Fixture *f, const TestBuffer *buffers, unsigned n);

/* VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET @pairs, as Linux sends it: class and command, the count, the ack. */
int set_pairs (Fixture *f, unsigned pairs);

/* The TAP backend's tests (test-virtio-net-tap.c), as root in a network namespace of the test's own. */
void virtio_net_add_tap_tests (void);
