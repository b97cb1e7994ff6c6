/* spice-server.c — the SPICE server's life: libspice-server set up and run on a thread of its own
 * ("spice") with its own GMainContext, new client connections, and shutting it down. */
#include "spice-private.h"
#include "spice-module.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* The core's error domain (hv.h), defined here as in limits.c: the module does not link the core, and
 * a quark is one per name throughout the process. */
G_DEFINE_QUARK (hv - error - quark, hv_error)

/* Remembers the socket spice bound, so that only that file is removed later. */
static gboolean
secure_socket (HvSpice *spice, GError **error)
{
  struct stat st;

  if (chmod (spice->socket_path, 0600) < 0 || stat (spice->socket_path, &st) < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "the SPICE socket %s: %s", spice->socket_path,
                   g_strerror (saved));
      return FALSE;
    }
  spice->socket_bound = TRUE;
  spice->socket_dev = st.st_dev;
  spice->socket_ino = st.st_ino;
  return TRUE;
}

static gboolean
start_server (HvSpice *spice, GError **error)
{
  QXLDevMemSlot slot = { 0 };
  int status;

  spice->core = hv_spice_core_interface;
  spice->server = spice_server_new ();
  /* Connections are handed out by the VM's owner (a socketpair end, or a socket only its user may
   * open), so there is no ticket; and they are local, so pixels go uncompressed and exact. */
  spice_server_set_noauth (spice->server);
  spice_server_set_image_compression (spice->server, SPICE_IMAGE_COMPRESSION_OFF);
  spice_server_set_jpeg_compression (spice->server, SPICE_WAN_COMPRESSION_NEVER);
  spice_server_set_zlib_glz_compression (spice->server, SPICE_WAN_COMPRESSION_NEVER);
  spice_server_set_streaming_video (spice->server, SPICE_STREAM_VIDEO_OFF);
  spice_server_set_agent_mouse (spice->server, 0);
  if (spice->socket_path)
    {
      mode_t old_umask;

      spice_server_set_addr (spice->server, spice->socket_path, SPICE_ADDR_FLAG_UNIX_ONLY);
      /* The socket is created owner-only from the start, not chmod-ed after others could connect. */
      old_umask = umask (0177);
      status = spice_server_init (spice->server, &spice->core);
      umask (old_umask);
    }
  else
    status = spice_server_init (spice->server, &spice->core);
  if (status != 0)
    {
      if (spice->socket_path)
        g_set_error (error, HV_ERROR, HV_ERROR_FAILED,
                     "the SPICE server cannot listen on %s (is the folder writable?)", spice->socket_path);
      else
        g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "the SPICE server cannot start");
      return FALSE;
    }
  if (spice->socket_path && !secure_socket (spice, error))
    return FALSE;

  spice->qxl.base.sif = &hv_spice_qxl_interface.base;
  spice->qxl.id = 0;
  spice->keyboard.base.sif = &hv_spice_keyboard_interface.base;
  spice->tablet.base.sif = &hv_spice_tablet_interface.base;
  if (spice_server_add_interface (spice->server, &spice->qxl.base) != 0
      || spice_server_add_interface (spice->server, &spice->keyboard.base) != 0
      || spice_server_add_interface (spice->server, &spice->tablet.base) != 0)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "the SPICE server refused the display or input");
      return FALSE;
    }
  slot.virt_end = ~(uintptr_t) 0;
  spice_qxl_add_memslot (&spice->qxl, &slot);
  spice_server_vm_start (spice->server);

  hv_spice_display_start (spice);
  return TRUE;
}

static void
stop_server (HvSpice *spice)
{
  hv_spice_display_stop (spice);
  if (spice->server)
    {
      /* Stops spice's worker thread; the Updates it still held are freed with the rest. */
      spice_server_destroy (spice->server);
      spice->server = NULL;
#if SPICE_SERVER_VERSION == 0x000f01
      /* spice-server 0.15.1 allocates the keyboard's state (g_new0) when the interface is added, and
       * neither frees it on destroy nor supports removing the interface: a leak per server otherwise. */
      g_clear_pointer (&spice->keyboard.st, g_free);
#endif
    }
}

static gpointer
spice_thread (gpointer data)
{
  HvSpice *spice = data;
  GError *error = NULL;
  gboolean ok;

  /* Before spice-server makes its own threads, so that they inherit what the hook confines. */
  if (spice->backend.thread_started)
    spice->backend.thread_started ();
  g_main_context_push_thread_default (spice->context);
  ok = start_server (spice, &error);
  if (!ok)
    stop_server (spice);

  g_mutex_lock (&spice->setup_lock);
  spice->setup_done = TRUE;
  spice->setup_error = error;
  g_cond_signal (&spice->setup_cond);
  g_mutex_unlock (&spice->setup_lock);

  if (ok)
    {
      g_main_loop_run (spice->loop);
      stop_server (spice);
    }
  g_main_context_pop_thread_default (spice->context);
  return NULL;
}

static void
spice_destroy (HvSpice *spice)
{
  if (spice->socket_bound)
    {
      struct stat st;

      /* Only if the path is still our socket, not something put there since. */
      if (stat (spice->socket_path, &st) == 0 && st.st_dev == spice->socket_dev
          && st.st_ino == spice->socket_ino)
        unlink (spice->socket_path);
    }
  hv_spice_display_clear (spice);
  g_clear_pointer (&spice->loop, g_main_loop_unref);
  g_clear_pointer (&spice->context, g_main_context_unref);
  g_mutex_clear (&spice->setup_lock);
  g_cond_clear (&spice->setup_cond);
  g_clear_pointer (&spice->connections, g_array_unref);
  g_free (spice->socket_path);
  g_free (spice);
}

static HvSpice *
module_server_new (const HvSpiceBackend *backend, const char *socket_path, GError **error)
{
  HvSpice *spice = g_new0 (HvSpice, 1);
  GError *local = NULL;

  spice->backend = *backend;
  spice->socket_path = g_strdup (socket_path);
  g_mutex_init (&spice->setup_lock);
  g_cond_init (&spice->setup_cond);
  hv_spice_display_init (spice);
  spice->context = g_main_context_new ();
  spice->loop = g_main_loop_new (spice->context, FALSE);

  spice->thread = g_thread_try_new ("spice", spice_thread, spice, &local);
  if (spice->thread == NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot start the SPICE thread: %s", local->message);
      g_error_free (local);
      spice_destroy (spice);
      return NULL;
    }

  g_mutex_lock (&spice->setup_lock);
  while (!spice->setup_done)
    g_cond_wait (&spice->setup_cond, &spice->setup_lock);
  g_mutex_unlock (&spice->setup_lock);
  if (spice->setup_error)
    {
      g_propagate_error (error, spice->setup_error);
      g_thread_join (spice->thread);
      spice_destroy (spice);
      return NULL;
    }
  return spice;
}

static gboolean
quit_on_thread (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static void
module_server_free (HvSpice *spice)
{
  if (spice == NULL)
    return;
  g_main_context_invoke (spice->context, quit_on_thread, spice->loop);
  g_thread_join (spice->thread);
  spice_destroy (spice);
}

typedef struct
{
  HvSpice *spice;
  int fd;
  int status;
  gboolean too_many;
  gboolean done;
  GMutex lock;
  GCond cond;
} AddClient;

/* Forgets the connections the server has closed since. */
static void
prune_connections (HvSpice *spice)
{
  for (guint i = spice->connections->len; i > 0; i--)
    {
      SpiceConnection *c = &g_array_index (spice->connections, SpiceConnection, i - 1);
      struct stat st;
      if (fstat (c->fd, &st) < 0 || st.st_ino != c->ino)
        g_array_remove_index_fast (spice->connections, i - 1);
    }
}

static gboolean
add_client_on_thread (gpointer data)
{
  AddClient *call = data;
  HvSpice *spice = call->spice;
  struct stat st;

  if (spice->connections == NULL)
    spice->connections = g_array_new (FALSE, FALSE, sizeof (SpiceConnection));
  prune_connections (spice);
  if (spice->connections->len >= HV_SPICE_CONNECTIONS_MAX)
    call->too_many = TRUE;
  else if ((call->status = spice_server_add_client (spice->server, call->fd, 1)) == 0
           && fstat (call->fd, &st) == 0)
    g_array_append_val (spice->connections, ((SpiceConnection){ call->fd, st.st_ino }));
  g_mutex_lock (&call->lock);
  call->done = TRUE;
  g_cond_signal (&call->cond);
  g_mutex_unlock (&call->lock);
  return G_SOURCE_REMOVE;
}

static int
module_open_client (HvSpice *spice, GError **error)
{
  AddClient call = { .spice = spice };
  int pair[2];

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot make a socket for the display: %s",
                   g_strerror (saved));
      return -1;
    }

  /* spice-server is not thread-safe: the connection is added on its own thread. */
  call.fd = pair[0];
  g_mutex_init (&call.lock);
  g_cond_init (&call.cond);
  g_main_context_invoke (spice->context, add_client_on_thread, &call);
  g_mutex_lock (&call.lock);
  while (!call.done)
    g_cond_wait (&call.cond, &call.lock);
  g_mutex_unlock (&call.lock);
  g_mutex_clear (&call.lock);
  g_cond_clear (&call.cond);

  if (call.too_many)
    {
      close (pair[0]);
      close (pair[1]);
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE,
                   "the display has %d connections open, the most it takes; close a viewer first",
                   HV_SPICE_CONNECTIONS_MAX);
      return -1;
    }
  if (call.status != 0)
    {
      /* The server did not take the socket. */
      close (pair[0]);
      close (pair[1]);
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "the SPICE server refused a new connection");
      return -1;
    }
  return pair[1];
}

/* What spice-module.c looks up: the module's only exported symbol (everything else is built hidden). */
__attribute__ ((visibility ("default"))) const HvSpiceModule hv_spice_module = {
  .abi = HV_SPICE_MODULE_ABI,
  .version = VIREO_VERSION,
  .server_new = module_server_new,
  .server_free = module_server_free,
  .open_client = module_open_client,
};
