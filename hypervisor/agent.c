/* agent.c — the QEMU guest agent client (agent.h): a small state machine on an fd watch and a timeout,
 * sending guest-sync-delimited then the command, and picking the answers out of the agent's JSON lines. */
#include "agent.h"

#include <errno.h>
#include <glib-unix.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The longest line taken from the agent (guest-info's list of commands is a few KiB). */
#define LINE_MAX_BYTES (64 * 1024)

typedef enum
{
  STATE_SYNC,    /* waiting for the 0xFF that starts the answer to guest-sync-delimited */
  STATE_SYNCED,  /* reading lines up to the one returning our id */
  STATE_COMMAND, /* reading the command's answer */
} CallState;

struct _HvAgentCall
{
  int fd;
  char *command;
  guint64 sync_id;
  CallState state;
  GByteArray *out; /* not yet written */
  GByteArray *line;
  GSource *watch;
  gpointer fd_tag;
  GSource *timer;
  HvAgentReply reply;
  gpointer user_data;
};

static void
call_free (HvAgentCall *call)
{
  if (call->watch)
    {
      g_source_destroy (call->watch);
      g_source_unref (call->watch);
    }
  if (call->timer)
    {
      g_source_destroy (call->timer);
      g_source_unref (call->timer);
    }
  g_byte_array_unref (call->out);
  g_byte_array_unref (call->line);
  g_free (call->command);
  g_free (call);
}

static void
call_finish (HvAgentCall *call, const HvAgentResult *result, GError *error)
{
  call->reply (result, error, call->user_data);
  g_clear_error (&error);
  call_free (call);
}

static void call_fail (HvAgentCall *call, gint code, const char *format, ...) G_GNUC_PRINTF (3, 4);

static void
call_fail (HvAgentCall *call, gint code, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  call_finish (call, NULL, g_error_new (HV_ERROR, code, "guest agent (%s): %s", call->command, message));
}

/* The text of the value of "@key" in the JSON object @line (the first such key), up to where the value
 * ends; NULL when absent.  Enough for the agent's answers, whose values are numbers, strings, or
 * objects and arrays taken whole. */
static char *
json_value (const char *line, const char *key)
{
  g_autofree char *quoted = g_strdup_printf ("\"%s\"", key);
  const char *p = strstr (line, quoted);
  const char *start;
  int depth = 0;
  gboolean in_string = FALSE;

  if (p == NULL)
    return NULL;
  p += strlen (quoted);
  while (*p == ' ' || *p == '\t')
    p++;
  if (*p != ':')
    return NULL;
  p++;
  while (*p == ' ' || *p == '\t')
    p++;
  start = p;
  for (; *p; p++)
    {
      if (in_string)
        {
          if (*p == '\\' && p[1])
            p++;
          else if (*p == '"')
            {
              in_string = FALSE;
              if (depth == 0)
                return g_strndup (start, p + 1 - start);
            }
          continue;
        }
      if (*p == '"')
        in_string = TRUE;
      else if (*p == '{' || *p == '[')
        depth++;
      else if (*p == '}' || *p == ']')
        {
          if (depth == 0)
            break;
          if (--depth == 0)
            return g_strndup (start, p + 1 - start);
        }
      else if (*p == ',' && depth == 0)
        break;
    }
  if (depth != 0 || in_string || p == start)
    return NULL;
  return g_strstrip (g_strndup (start, p - start));
}

static void
send_command (HvAgentCall *call)
{
  g_autofree char *text = g_strdup_printf ("{\"execute\":\"%s\"}\n", call->command);

  g_byte_array_append (call->out, (const guint8 *) text, (guint) strlen (text));
  call->state = STATE_COMMAND;
}

/* One whole line from the agent. */
static gboolean
handle_line (HvAgentCall *call, const char *line)
{
  g_autofree char *value = json_value (line, "return");
  g_autofree char *error = json_value (line, "error");

  if (call->state == STATE_SYNCED)
    {
      /* Answers to someone else's commands may come first; only our id ends the wait. */
      if (value && g_ascii_strtoull (value, NULL, 10) == call->sync_id)
        send_command (call);
      return TRUE;
    }
  if (value)
    {
      HvAgentResult result = { value, -1 };
      char *end;
      gint64 number = g_ascii_strtoll (value, &end, 10);

      if (end != value && *end == '\0' && number >= 0)
        result.number = number;
      call_finish (call, &result, NULL);
      return FALSE;
    }
  if (error)
    {
      g_autofree char *desc = json_value (error, "desc");
      call_fail (call, HV_ERROR_FAILED, "%s", desc ? desc : error);
      return FALSE;
    }
  call_fail (call, HV_ERROR_FAILED, "an answer that is neither a return nor an error");
  return FALSE;
}

/* Takes what came in; FALSE once the call has ended. */
static gboolean
handle_input (HvAgentCall *call, const guint8 *data, gsize len)
{
  for (gsize i = 0; i < len; i++)
    {
      if (call->state == STATE_SYNC)
        {
          if (data[i] == 0xff)
            call->state = STATE_SYNCED;
          continue;
        }
      if (data[i] == '\n')
        {
          g_byte_array_append (call->line, (const guint8 *) "", 1);
          if (!handle_line (call, (const char *) call->line->data))
            return FALSE;
          g_byte_array_set_size (call->line, 0);
          continue;
        }
      if (data[i] == 0xff || data[i] == '\0')
        continue;
      if (call->line->len >= LINE_MAX_BYTES)
        {
          call_fail (call, HV_ERROR_FAILED, "a line longer than %u bytes", LINE_MAX_BYTES);
          return FALSE;
        }
      g_byte_array_append (call->line, data + i, 1);
    }
  return TRUE;
}

static gboolean
call_io (HvAgentCall *call)
{
  guint8 buffer[4096];

  while (call->out->len > 0)
    {
      ssize_t n = send (call->fd, call->out->data, call->out->len, MSG_NOSIGNAL);

      if (n < 0 && errno == ENOTSOCK)
        n = write (call->fd, call->out->data, call->out->len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        break;
      if (n < 0)
        {
          call_fail (call, HV_ERROR_FAILED, "the channel is closed (%s)", g_strerror (errno));
          return G_SOURCE_REMOVE;
        }
      g_byte_array_remove_range (call->out, 0, (guint) n);
    }
  for (;;)
    {
      ssize_t n = read (call->fd, buffer, sizeof buffer);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        break;
      if (n <= 0)
        {
          call_fail (call, HV_ERROR_FAILED, "the channel is closed");
          return G_SOURCE_REMOVE;
        }
      if (!handle_input (call, buffer, (gsize) n))
        return G_SOURCE_REMOVE;
      /* The command went out while handling input: write it before reading on. */
      if (call->out->len > 0)
        break;
    }
  g_source_modify_unix_fd (call->watch, call->fd_tag, G_IO_IN | (call->out->len ? G_IO_OUT : 0));
  return G_SOURCE_CONTINUE;
}

typedef struct
{
  GSource source;
  HvAgentCall *call;
} CallSource;

static gboolean
call_source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  return call_io (((CallSource *) source)->call);
}

static GSourceFuncs call_source_funcs = {
  .dispatch = call_source_dispatch,
};

static gboolean
call_timeout (gpointer user_data)
{
  HvAgentCall *call = user_data;

  call_fail (call, HV_ERROR_TIMED_OUT, "no guest agent answered");
  return G_SOURCE_REMOVE;
}

HvAgentCall *
hv_agent_call (int fd, const char *command, unsigned timeout_ms, GMainContext *context, HvAgentReply reply,
               gpointer user_data)
{
  HvAgentCall *call;
  g_autofree char *sync = NULL;

  g_return_val_if_fail (command != NULL && strchr (command, '"') == NULL && strchr (command, '\\') == NULL,
                        NULL);
  call = g_new0 (HvAgentCall, 1);
  if (context == NULL)
    context = g_main_context_get_thread_default ();
  call->fd = fd;
  call->command = g_strdup (command);
  /* A random id below 2^53, so that an agent keeping JSON numbers as doubles returns it unchanged. */
  call->sync_id = ((guint64) g_random_int () << 21 ^ g_random_int ()) & ((G_GUINT64_CONSTANT (1) << 53) - 1);
  call->state = STATE_SYNC;
  call->out = g_byte_array_new ();
  call->line = g_byte_array_new ();
  call->reply = reply;
  call->user_data = user_data;

  /* The 0xFF first makes an agent drop any half-read command before this one. */
  sync = g_strdup_printf ("\xff{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":%" G_GUINT64_FORMAT
                          "}}\n",
                          call->sync_id);
  g_byte_array_append (call->out, (const guint8 *) sync, (guint) strlen (sync));
  g_unix_set_fd_nonblocking (fd, TRUE, NULL);

  call->watch = g_source_new (&call_source_funcs, sizeof (CallSource));
  ((CallSource *) call->watch)->call = call;
  call->fd_tag = g_source_add_unix_fd (call->watch, fd, G_IO_IN | G_IO_OUT);
  g_source_set_static_name (call->watch, "vireo guest agent");
  g_source_attach (call->watch, context);
  call->timer = g_timeout_source_new (timeout_ms);
  g_source_set_callback (call->timer, call_timeout, call, NULL);
  g_source_attach (call->timer, context);
  return call;
}

void
hv_agent_call_cancel (HvAgentCall *call)
{
  if (call)
    call_free (call);
}
