/* spice-test-client.h — a spice-client-glib client for the SPICE tests (test-spice.c, test-spice-vm.c): opened
 * over an fd per channel or a unix socket, what it shows, and the tolerance spice-server's warnings need. */
#pragma once

#include "test-util.h"
#include "display/spice.h"
#include "vireo-worker-generated.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <signal.h>
#include <spice-client.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Generous: a deadline only keeps a broken test from hanging, it is not a timing assertion. */
#define WAIT_SECONDS 60

#define WAIT_FOR(condition, what) VIREO_TEST_WAIT_FOR (condition, what, WAIT_SECONDS)

/* A new connection to the server under test (hv_spice_open_client, hv_vm_open_display, OpenDisplay). */
typedef int (*OpenFunc) (gpointer data, GError **error);

typedef struct
{
  /* Where every channel gets its connection when the session was opened with an fd, or NULL. */
  OpenFunc open;
  gpointer open_data;
  SpiceSession *session;
  SpiceMainChannel *main;
  SpiceDisplayChannel *display;
  SpiceInputsChannel *inputs;
  gboolean inputs_open;
  unsigned primary_creates;
  unsigned primary_destroys;
  unsigned invalidates;
} Client;

int client_new_connection (Client *client);

void client_init (Client *client);

/* Connects through a connection from @open, and further ones for each channel. */
void client_open (Client *client, OpenFunc open, gpointer data);

void client_connect_unix (Client *client, const char *path);

void client_close (Client *client);

gboolean client_get_primary (Client *client, SpiceDisplayPrimary *primary);

gboolean client_has_size (Client *client, int width, int height);

/* The client's copy of the screen equals @pixels (xRGB, @width x @height), the X byte aside. */
gboolean client_shows (Client *client, const uint32_t *pixels, int width, int height);

int client_mouse_mode (Client *client);

/* spice-server warns when a client goes away abruptly ("Connection reset by peer"), which closing a
 * client with data in flight does, and when it cannot listen, which a test provokes: its warnings go to
 * stderr and are no failures. */
void print_spice_warning (const char *domain, GLogLevelFlags level, const char *message, gpointer data);

/* GLib resets the fatal handler for every test. */
void tolerate_spice_warnings (void);

char *make_socket_path (char **dir);

/* Reads a binary PPM (P6, maxval 255) as xRGB. */
uint32_t *read_ppm (const char *path, int *width, int *height);

/* What spicy-screenshot, a stock client, is shown on the SPICE socket @path (1024x768 expected), as xRGB;
 * its file goes into @dir and is removed again. */
uint32_t *take_screenshot (const char *tool, const char *path, const char *dir);

/* The tests of test-spice-vm.c. */
void spice_add_vm_tests (void);
