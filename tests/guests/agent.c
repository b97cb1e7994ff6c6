/* agent.c — a fake QEMU guest agent on the virtio-serial port org.qemu.guest_agent.0: prints
 * "agent ready" once the port is open, then reads JSON lines and answers guest-sync-delimited (0xFF
 * first), guest-sync, guest-ping, guest-info, guest-fsfreeze-status, guest-fsfreeze-freeze and
 * guest-fsfreeze-thaw (one pretend file system: "agent: freeze" / "agent: thaw" on COM1) as qemu-ga
 * does; guest-shutdown prints "agent: done" and powers off.  A 0xFF byte drops a half-read line, as
 * in qemu-ga.  Commands are matched by name only, arguments other than the sync id are ignored. */
#include "kit.h"

#define LINE_MAX 1024

static KitVirtioSerial serial;
static int port;
static char line[LINE_MAX];
static unsigned line_len;
static bool frozen;

static const char *
find (const char *haystack, const char *needle)
{
  size_t n = strlen (needle);

  for (; *haystack; haystack++)
    if (memcmp (haystack, needle, n) == 0)
      return haystack;
  return NULL;
}

static bool
is_command (const char *name)
{
  char quoted[64];

  kit_snprintf (quoted, sizeof quoted, "\"%s\"", name);
  return find (line, quoted) != NULL;
}

static void
answer (const char *text)
{
  kit_virtio_serial_write (&serial, port, text, strlen (text));
}

/* The digits of the "id" argument, or "0". */
static void
sync_id (char *out, size_t size)
{
  const char *p = find (line, "\"id\"");
  size_t n = 0;

  if (p)
    {
      p += 4;
      while (*p == ' ' || *p == ':')
        p++;
      while (*p >= '0' && *p <= '9' && n + 1 < size)
        out[n++] = *p++;
    }
  if (n == 0)
    out[n++] = '0';
  out[n] = '\0';
}

static void
handle_line (void)
{
  char reply[512];
  char id[24];

  line[line_len] = '\0';
  if (line_len == 0)
    return;
  if (is_command ("guest-sync-delimited"))
    {
      sync_id (id, sizeof id);
      kit_snprintf (reply, sizeof reply, "\xff{\"return\": %s}\n", id);
      answer (reply);
    }
  else if (is_command ("guest-sync"))
    {
      sync_id (id, sizeof id);
      kit_snprintf (reply, sizeof reply, "{\"return\": %s}\n", id);
      answer (reply);
    }
  else if (is_command ("guest-ping"))
    answer ("{\"return\": {}}\n");
  else if (is_command ("guest-info"))
    answer ("{\"return\": {\"version\": \"vireo-test-agent 1\", \"supported_commands\": ["
            "{\"enabled\": true, \"name\": \"guest-sync-delimited\", \"success-response\": true}, "
            "{\"enabled\": true, \"name\": \"guest-ping\", \"success-response\": true}, "
            "{\"enabled\": true, \"name\": \"guest-fsfreeze-status\", \"success-response\": true}, "
            "{\"enabled\": true, \"name\": \"guest-fsfreeze-freeze\", \"success-response\": true}, "
            "{\"enabled\": true, \"name\": \"guest-fsfreeze-thaw\", \"success-response\": true}]}}\n");
  else if (is_command ("guest-fsfreeze-status"))
    answer (frozen ? "{\"return\": \"frozen\"}\n" : "{\"return\": \"thawed\"}\n");
  else if (is_command ("guest-fsfreeze-freeze"))
    {
      if (frozen)
        answer (
            "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Command guest-fsfreeze-freeze has been "
            "disabled: the agent is in frozen state\"}}\n");
      else
        {
          frozen = true;
          kit_printf ("agent: freeze\n");
          answer ("{\"return\": 1}\n");
        }
    }
  else if (is_command ("guest-fsfreeze-thaw"))
    {
      kit_printf (frozen ? "agent: thaw\n" : "agent: thaw (not frozen)\n");
      answer (frozen ? "{\"return\": 1}\n" : "{\"return\": 0}\n");
      frozen = false;
    }
  else if (is_command ("guest-shutdown"))
    {
      kit_printf ("agent: done\n");
      kit_poweroff ();
    }
  else
    answer ("{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command has not been found\"}}\n");
}

static long
serve (void *unused)
{
  static uint8_t buffer[KIT_SERIAL_BUFFER];

  for (;;)
    {
      size_t n = kit_virtio_serial_read (&serial, port, buffer, sizeof buffer);

      if (n == 0)
        {
          cpu_pause ();
          continue;
        }
      for (size_t i = 0; i < n; i++)
        {
          if (buffer[i] == 0xff)
            line_len = 0;
          else if (buffer[i] == '\n')
            {
              handle_line ();
              line_len = 0;
            }
          else if (line_len + 1 < LINE_MAX)
            line[line_len++] = (char) buffer[i];
        }
    }
  return 0;
}

static long
start (void *unused)
{
  if (!kit_virtio_serial_init (&serial, 0))
    return -1;
  port = kit_virtio_serial_open (&serial, "org.qemu.guest_agent.0");
  return port;
}

void
guest_main (void)
{
  if (kit_run_user (start, NULL) < 0)
    {
      kit_printf ("agent: FAIL no port org.qemu.guest_agent.0\n");
      kit_poweroff ();
    }
  kit_printf ("agent ready\n");
  kit_run_user (serve, NULL);
  kit_poweroff ();
}
