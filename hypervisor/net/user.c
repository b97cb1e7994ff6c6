/* user.c — user-mode networking for a NIC: libslirp's NAT (DHCP, DNS, TFTP, port forwards) on the
 * NIC's I/O thread.  slirp's sockets are polled by a GSource on that context (prepare asks slirp what
 * to poll, dispatch lets it act) and its timers are timeouts there; slirp has no locks of its own, so
 * every call into it is made with the NIC's lock held (the NIC's calls hold it already; our sources
 * take it), and its callbacks run with it held.
 *
 * Restricted mode is ours: libslirp's (restricted=1) drops every UDP datagram from the guest but DHCP
 * and TFTP, replies through a UDP port forward included (libslirp 4.7 udp_input), so here the guest
 * may send slirp only ARP, DHCP, TFTP and pings to the gateway, and answers to the peers that reached
 * it through a port forward; the DNS proxy and IPv6 are off.  Nothing else reaches slirp, so nothing
 * leaves the host. */
#include "net/user.h"
#include "iothread.h"

#include <arpa/inet.h>
#include <errno.h>
#include <slirp/libslirp.h>
#include <string.h>

#include "lazy-lib.h"

/* libslirp, mapped when the first NIC is made (lazy-lib.h): a machine without one maps none of it.
 * The calls below keep their names; each goes through the table (a macro does not expand itself). */
static struct
{
  __typeof__ (slirp_new) *slirp_new;
  __typeof__ (slirp_cleanup) *slirp_cleanup;
  __typeof__ (slirp_input) *slirp_input;
  __typeof__ (slirp_pollfds_fill) *slirp_pollfds_fill;
  __typeof__ (slirp_pollfds_poll) *slirp_pollfds_poll;
  __typeof__ (slirp_add_hostfwd) *slirp_add_hostfwd;
  __typeof__ (slirp_handle_timer) *slirp_handle_timer;
} slirp_fn;

static const char *const slirp_symbols[] = {
  "slirp_new",          "slirp_cleanup",     "slirp_input",        "slirp_pollfds_fill",
  "slirp_pollfds_poll", "slirp_add_hostfwd", "slirp_handle_timer", NULL,
};

static HvLazyLib slirp_lib = HV_LAZY_LIB_INIT ("libslirp.so.0", slirp_symbols, &slirp_fn);

#define slirp_new          (slirp_fn.slirp_new)
#define slirp_cleanup      (slirp_fn.slirp_cleanup)
#define slirp_input        (slirp_fn.slirp_input)
#define slirp_pollfds_fill (slirp_fn.slirp_pollfds_fill)
#define slirp_pollfds_poll (slirp_fn.slirp_pollfds_poll)
#define slirp_add_hostfwd  (slirp_fn.slirp_add_hostfwd)
#define slirp_handle_timer (slirp_fn.slirp_handle_timer)

#define ETH_HEADER_LEN   14
#define ETH_TYPE_IPV4    0x0800
#define ETH_TYPE_ARP     0x0806
#define IP_PROTO_ICMP    1
#define IP_PROTO_TCP     6
#define IP_PROTO_UDP     17
#define PORT_DHCP_SERVER 67
#define PORT_TFTP        69

/* The peers a restricted guest may answer: the last ones that reached it through a forward. */
#define PEERS_MAX 64

typedef struct
{
  uint8_t proto;
  uint16_t guest_port;
  uint32_t peer_addr; /* network order, as in the frame */
  uint16_t peer_port;
} Peer;

typedef struct
{
  HvNetUser *user;
  SlirpTimerId id;
  void *cb_opaque;
  GSource *source; /* armed: a timeout on the context */
} NetTimer;

typedef struct
{
  GSource source;
  HvNetUser *user;
} SlirpSource;

struct _HvNetUser
{
  GMainContext *context;
  void (*lock) (void *opaque);
  void (*unlock) (void *opaque);
  void (*receive) (void *opaque, const uint8_t *frame, gsize len);
  void *opaque;
  char *tftp_path;
  gboolean restricted;
  uint32_t gateway; /* 10.0.2.2, network order */
  HvNetHostForward *forwards;
  unsigned n_forwards;

  /* Guarded by the NIC's lock. */
  Slirp *slirp;
  gboolean closing;     /* being freed: slirp is not called any more */
  GArray *pollfds;      /* GPollFD: what the source polls, slirp's wishes when they last changed */
  GArray *next_pollfds; /* GPollFD: slirp's wishes as prepare gathers them */
  GSource *slirp_source;
  GPtrArray *timers;    /* NetTimer */
  gint64 poll_deadline; /* monotonic µs by which slirp wants its timers run */
  Peer peers[PEERS_MAX];
  unsigned n_peers;
  unsigned next_peer;
};

/* ---- Restricted mode ---- */

static uint16_t
get_be16 (const uint8_t *p)
{
  return (uint16_t) (p[0] << 8 | p[1]);
}

/* The IPv4 protocol, addresses and ports of @frame (ports 0 when not TCP or UDP); FALSE when it is not a
 * well-formed IPv4 frame. */
static gboolean
parse_ipv4 (const uint8_t *frame, gsize len, uint8_t *proto, uint32_t *src, uint32_t *dst, uint16_t *sport,
            uint16_t *dport)
{
  const uint8_t *ip = frame + ETH_HEADER_LEN;
  gsize ihl;

  if (len < ETH_HEADER_LEN + 20 || get_be16 (frame + 12) != ETH_TYPE_IPV4 || (ip[0] >> 4) != 4)
    return FALSE;
  ihl = (gsize) (ip[0] & 0xf) * 4;
  if (ihl < 20 || len < ETH_HEADER_LEN + ihl)
    return FALSE;
  *proto = ip[9];
  memcpy (src, ip + 12, 4);
  memcpy (dst, ip + 16, 4);
  *sport = *dport = 0;
  if ((*proto == IP_PROTO_TCP || *proto == IP_PROTO_UDP) && len >= ETH_HEADER_LEN + ihl + 4
      && (get_be16 (ip + 6) & 0x1fff) == 0)
    {
      *sport = get_be16 (ip + ihl);
      *dport = get_be16 (ip + ihl + 2);
    }
  return TRUE;
}

static gboolean
is_forwarded_port (HvNetUser *user, uint8_t proto, uint16_t guest_port)
{
  for (unsigned i = 0; i < user->n_forwards; i++)
    if (user->forwards[i].guest_port == guest_port && user->forwards[i].udp == (proto == IP_PROTO_UDP))
      return TRUE;
  return FALSE;
}

/* A frame slirp sends the guest: if a peer reached a forwarded port, the guest may answer it. */
static void
note_peer_locked (HvNetUser *user, const uint8_t *frame, gsize len)
{
  uint8_t proto;
  uint32_t src, dst;
  uint16_t sport, dport;
  Peer peer;

  if (!parse_ipv4 (frame, len, &proto, &src, &dst, &sport, &dport) || dport == 0
      || !is_forwarded_port (user, proto, dport))
    return;
  peer = (Peer){ proto, dport, src, sport };
  for (unsigned i = 0; i < user->n_peers; i++)
    if (memcmp (&user->peers[i], &peer, sizeof peer) == 0)
      return;
  user->peers[user->next_peer] = peer;
  user->next_peer = (user->next_peer + 1) % PEERS_MAX;
  user->n_peers = MIN (user->n_peers + 1, PEERS_MAX);
}

/* Whether a restricted guest may send @frame. */
static gboolean
may_send_locked (HvNetUser *user, const uint8_t *frame, gsize len)
{
  uint8_t proto;
  uint32_t src, dst;
  uint16_t sport, dport;

  if (get_be16 (frame + 12) == ETH_TYPE_ARP)
    return TRUE;
  if (!parse_ipv4 (frame, len, &proto, &src, &dst, &sport, &dport))
    return FALSE;
  if (proto == IP_PROTO_UDP && dport == PORT_DHCP_SERVER)
    return TRUE;
  if (dst == user->gateway && ((proto == IP_PROTO_UDP && dport == PORT_TFTP) || proto == IP_PROTO_ICMP))
    return TRUE;
  if (sport == 0)
    return FALSE;
  for (unsigned i = 0; i < user->n_peers; i++)
    if (user->peers[i].proto == proto && user->peers[i].guest_port == sport && user->peers[i].peer_addr == dst
        && user->peers[i].peer_port == dport)
      return TRUE;
  return FALSE;
}

/* ---- libslirp on the context ---- */

/* A frame for the guest (lock held: slirp runs only with it). */
static ssize_t
slirp_send_packet (const void *buf, size_t len, void *opaque)
{
  HvNetUser *user = opaque;

  if (!user->closing)
    {
      if (user->restricted)
        note_peer_locked (user, buf, len);
      user->receive (user->opaque, buf, len);
    }
  return (ssize_t) len;
}

static void
slirp_guest_error (const char *msg, void *opaque)
{
  g_debug ("slirp: the guest sent something the network refuses: %s", msg);
}

static int64_t
slirp_clock_get_ns (void *opaque)
{
  return g_get_monotonic_time () * 1000;
}

static gboolean
timer_fire (gpointer data)
{
  NetTimer *timer = data;
  HvNetUser *user = timer->user;

  user->lock (user->opaque);
  if (!user->closing)
    {
      g_clear_pointer (&timer->source, g_source_unref);
      slirp_handle_timer (user->slirp, timer->id, timer->cb_opaque);
    }
  user->unlock (user->opaque);
  return G_SOURCE_REMOVE;
}

static void
timer_disarm (NetTimer *timer)
{
  if (timer->source)
    {
      g_source_destroy (timer->source);
      g_clear_pointer (&timer->source, g_source_unref);
    }
}

static void *
slirp_timer_new_opaque (SlirpTimerId id, void *cb_opaque, void *opaque)
{
  HvNetUser *user = opaque;
  NetTimer *timer = g_new0 (NetTimer, 1);

  timer->user = user;
  timer->id = id;
  timer->cb_opaque = cb_opaque;
  g_ptr_array_add (user->timers, timer);
  return timer;
}

static void
slirp_timer_free (void *data, void *opaque)
{
  HvNetUser *user = opaque;
  NetTimer *timer = data;

  timer_disarm (timer);
  g_ptr_array_remove_fast (user->timers, timer);
  g_free (timer);
}

/* @expire_ms is on slirp_clock_get_ns's clock, in milliseconds. */
static void
slirp_timer_mod (void *data, int64_t expire_ms, void *opaque)
{
  HvNetUser *user = opaque;
  NetTimer *timer = data;
  int64_t delay = expire_ms - g_get_monotonic_time () / 1000;

  timer_disarm (timer);
  if (user->closing)
    return;
  timer->source = g_timeout_source_new ((guint) CLAMP (delay, 0, G_MAXINT));
  g_source_set_callback (timer->source, timer_fire, timer, NULL);
  g_source_attach (timer->source, user->context);
}

static void
slirp_register_poll_fd (int fd, void *opaque)
{
  /* Nothing: the sockets to watch are asked for anew before every poll (slirp_pollfds_fill). */
}

static void
slirp_unregister_poll_fd (int fd, void *opaque)
{
}

static void
slirp_notify (void *opaque)
{
  HvNetUser *user = opaque;
  g_main_context_wakeup (user->context);
}

static const SlirpCb slirp_callbacks = {
  .send_packet = slirp_send_packet,
  .guest_error = slirp_guest_error,
  .clock_get_ns = slirp_clock_get_ns,
  .timer_free = slirp_timer_free,
  .timer_mod = slirp_timer_mod,
  .register_poll_fd = slirp_register_poll_fd,
  .unregister_poll_fd = slirp_unregister_poll_fd,
  .notify = slirp_notify,
  .timer_new_opaque = slirp_timer_new_opaque,
};

static int
slirp_add_poll (int fd, int events, void *opaque)
{
  HvNetUser *user = opaque;
  GPollFD pfd = { .fd = fd };

  if (events & SLIRP_POLL_IN)
    pfd.events |= G_IO_IN;
  if (events & SLIRP_POLL_OUT)
    pfd.events |= G_IO_OUT;
  if (events & SLIRP_POLL_PRI)
    pfd.events |= G_IO_PRI;
  if (events & SLIRP_POLL_ERR)
    pfd.events |= G_IO_ERR;
  if (events & SLIRP_POLL_HUP)
    pfd.events |= G_IO_HUP;
  g_array_append_val (user->next_pollfds, pfd);
  return (int) user->next_pollfds->len - 1;
}

static int
slirp_get_revents (int idx, void *opaque)
{
  HvNetUser *user = opaque;
  int events = 0;
  gushort revents;

  if (idx < 0 || (guint) idx >= user->pollfds->len)
    return 0;
  revents = g_array_index (user->pollfds, GPollFD, idx).revents;
  if (revents & G_IO_IN)
    events |= SLIRP_POLL_IN;
  if (revents & G_IO_OUT)
    events |= SLIRP_POLL_OUT;
  if (revents & G_IO_PRI)
    events |= SLIRP_POLL_PRI;
  if (revents & G_IO_ERR)
    events |= SLIRP_POLL_ERR;
  if (revents & G_IO_HUP)
    events |= SLIRP_POLL_HUP;
  return events;
}

static gboolean
same_polls (GArray *a, GArray *b)
{
  if (a->len != b->len)
    return FALSE;
  for (guint i = 0; i < a->len; i++)
    {
      const GPollFD *x = &g_array_index (a, GPollFD, i), *y = &g_array_index (b, GPollFD, i);
      if (x->fd != y->fd || x->events != y->events)
        return FALSE;
    }
  return TRUE;
}

/* The slirp source: prepare asks slirp what to poll and for how long, dispatch lets it act on what the
 * poll found (and run its TCP timers, which need a call at least every timeout). */
static gboolean
slirp_source_prepare (GSource *source, gint *timeout)
{
  HvNetUser *user = ((SlirpSource *) source)->user;
  uint32_t slirp_timeout = 1000;

  user->lock (user->opaque);
  if (user->closing)
    {
      /* The source may be destroyed already (hv_net_user_free sets closing first): leave it alone. */
      user->unlock (user->opaque);
      *timeout = -1;
      return FALSE;
    }
  g_array_set_size (user->next_pollfds, 0);
  slirp_pollfds_fill (user->slirp, &slirp_timeout, slirp_add_poll, user);
  /* GLib wakes the context up whenever a poll is added or removed, so redoing the set on every prepare
   * made each iteration wake the next: the thread never slept and took a CPU from the guest.  The set
   * changes only when slirp's wishes do (a socket made or closed, output waiting). */
  if (!same_polls (user->pollfds, user->next_pollfds))
    {
      GArray *old = user->pollfds;

      for (guint i = 0; i < old->len; i++)
        g_source_remove_poll (source, &g_array_index (old, GPollFD, i));
      user->pollfds = user->next_pollfds;
      user->next_pollfds = old;
      /* The array is complete: the GPollFDs stay where they are until the set changes again. */
      for (guint i = 0; i < user->pollfds->len; i++)
        g_source_add_poll (source, &g_array_index (user->pollfds, GPollFD, i));
    }
  else
    for (guint i = 0; i < user->pollfds->len; i++)
      g_array_index (user->pollfds, GPollFD, i).revents = 0;
  slirp_timeout = MIN (slirp_timeout, 1000);
  user->poll_deadline = g_get_monotonic_time () + (gint64) slirp_timeout * 1000;
  user->unlock (user->opaque);
  *timeout = (gint) slirp_timeout;
  return slirp_timeout == 0;
}

static gboolean
slirp_source_check (GSource *source)
{
  HvNetUser *user = ((SlirpSource *) source)->user;
  gboolean ready;

  user->lock (user->opaque);
  ready = g_get_monotonic_time () >= user->poll_deadline;
  for (guint i = 0; !ready && i < user->pollfds->len; i++)
    if (g_array_index (user->pollfds, GPollFD, i).revents)
      ready = TRUE;
  user->unlock (user->opaque);
  return ready;
}

static gboolean
slirp_source_dispatch (GSource *source, GSourceFunc callback, gpointer data)
{
  HvNetUser *user = ((SlirpSource *) source)->user;

  user->lock (user->opaque);
  if (!user->closing)
    slirp_pollfds_poll (user->slirp, 0, slirp_get_revents, user);
  user->unlock (user->opaque);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs slirp_source_funcs = {
  .prepare = slirp_source_prepare,
  .check = slirp_source_check,
  .dispatch = slirp_source_dispatch,
};

static gboolean
start_slirp (HvNetUser *user, const HvNetUserConfig *config, GError **error)
{
  SlirpConfig cfg = {
    .version = 4,
    .in_enabled = TRUE,
    .in6_enabled = !config->restricted,
    .vprefix_len = 64,
    .tftp_path = user->tftp_path,
    /* The DNS proxy asks the host's resolver: a way out. */
    .disable_dns = config->restricted,
  };

  /* QEMU's defaults, which guests and documentation assume: 10.0.2.0/24, the host (gateway) .2, DNS
   * .3, DHCP from .15; fec0::/64 with the same host numbers. */
  inet_pton (AF_INET, "10.0.2.0", &cfg.vnetwork);
  inet_pton (AF_INET, "255.255.255.0", &cfg.vnetmask);
  inet_pton (AF_INET, "10.0.2.2", &cfg.vhost);
  user->gateway = cfg.vhost.s_addr;
  inet_pton (AF_INET, "10.0.2.3", &cfg.vnameserver);
  inet_pton (AF_INET, "10.0.2.15", &cfg.vdhcp_start);
  inet_pton (AF_INET6, "fec0::", &cfg.vprefix_addr6);
  inet_pton (AF_INET6, "fec0::2", &cfg.vhost6);
  inet_pton (AF_INET6, "fec0::3", &cfg.vnameserver6);

  user->slirp = slirp_new (&cfg, &slirp_callbacks, user);
  if (user->slirp == NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "libslirp refused the network configuration");
      return FALSE;
    }
  for (unsigned i = 0; i < config->n_forwards; i++)
    {
      const HvNetHostForward *forward = &config->forwards[i];

      errno = 0;
      if (slirp_add_hostfwd (user->slirp, forward->udp, forward->host_addr, forward->host_port,
                             forward->guest_addr, forward->guest_port)
          < 0)
        {
          int saved = errno;
          char host[INET_ADDRSTRLEN];

          inet_ntop (AF_INET, &forward->host_addr, host, sizeof host);
          g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot forward %s %s:%u to the guest: %s",
                       forward->udp ? "udp" : "tcp", host, forward->host_port,
                       saved ? g_strerror (saved) : "the port is taken");
          return FALSE;
        }
    }
  user->slirp_source = g_source_new (&slirp_source_funcs, sizeof (SlirpSource));
  ((SlirpSource *) user->slirp_source)->user = user;
  g_source_set_name (user->slirp_source, "vireo slirp");
  g_source_attach (user->slirp_source, user->context);
  return TRUE;
}

HvNetUser *
hv_net_user_new (GMainContext *context, const HvNetUserConfig *config, GError **error)
{
  HvNetUser *user;

  if (!hv_lazy_lib_load (&slirp_lib, "libslirp0", error))
    return NULL;
  user = g_new0 (HvNetUser, 1);

  user->context = g_main_context_ref (context);
  user->lock = config->lock;
  user->unlock = config->unlock;
  user->receive = config->receive;
  user->opaque = config->opaque;
  user->restricted = config->restricted;
  user->forwards = g_memdup2 (config->forwards, sizeof (HvNetHostForward) * config->n_forwards);
  user->n_forwards = config->n_forwards;
  if (config->tftp_dir >= 0)
    user->tftp_path = g_strdup_printf ("/proc/self/fd/%d", config->tftp_dir);
  user->pollfds = g_array_new (FALSE, FALSE, sizeof (GPollFD));
  user->next_pollfds = g_array_new (FALSE, FALSE, sizeof (GPollFD));
  user->timers = g_ptr_array_new ();
  if (!start_slirp (user, config, error))
    {
      hv_net_user_free (user);
      return NULL;
    }
  return user;
}

gboolean
hv_net_user_send (HvNetUser *user, const uint8_t *frame, gsize len)
{
  if (len < ETH_HEADER_LEN || (user->restricted && !may_send_locked (user, frame, len)))
    return FALSE;
  if (!user->closing)
    slirp_input (user->slirp, frame, (int) len);
  return TRUE;
}

void
hv_net_user_free (HvNetUser *user)
{
  if (user == NULL)
    return;
  /* Nothing calls slirp after this (the sources check closing); then whatever is being dispatched on
   * the context finishes before slirp goes. */
  user->lock (user->opaque);
  user->closing = TRUE;
  for (guint i = 0; i < user->timers->len; i++)
    timer_disarm (user->timers->pdata[i]);
  user->unlock (user->opaque);
  if (user->slirp_source)
    {
      g_source_destroy (user->slirp_source);
      g_source_unref (user->slirp_source);
    }
  hv_iothread_barrier (user->context);
  if (user->slirp)
    {
      user->lock (user->opaque);
      slirp_cleanup (user->slirp);
      user->unlock (user->opaque);
    }
  g_ptr_array_unref (user->timers);
  g_array_unref (user->pollfds);
  g_array_unref (user->next_pollfds);
  g_main_context_unref (user->context);
  g_free (user->forwards);
  g_free (user->tftp_path);
  g_free (user);
}
