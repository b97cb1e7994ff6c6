/* test-agent.c — the guest agent client against a fake agent on a socket: sync then freeze and thaw in
 * order, stale answers skipped, the agent's errors passed on, and a silent or missing agent reported
 * as such within the timeout instead of hanging. */
#include "agent.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct
{
  int fd;
  gboolean silent;
  gboolean stale; /* answers an old command before the sync */
  GString *log;   /* the commands it ran, one a line */
} FakeAgent;

static void
agent_send (FakeAgent *agent, const char *text)
{
  g_assert_cmpint (write (agent->fd, text, strlen (text)), ==, (gssize) strlen (text));
}

/* Reads JSON lines and answers them the way qemu-ga does, until the socket closes. */
static gpointer
fake_agent_thread (gpointer data)
{
  FakeAgent *agent = data;
  GString *line = g_string_new (NULL);
  char c;

  while (read (agent->fd, &c, 1) == 1)
    {
      const char *id;

      if (c == (char) 0xff)
        {
          g_string_truncate (line, 0);
          continue;
        }
      if (c != '\n')
        {
          g_string_append_c (line, c);
          continue;
        }
      if (agent->silent)
        ;
      else if ((id = strstr (line->str, "\"id\":")) != NULL && strstr (line->str, "guest-sync-delimited"))
        {
          g_autofree char *answer = g_strdup_printf ("\xff{\"return\": %" G_GUINT64_FORMAT "}\n",
                                                     g_ascii_strtoull (id + 5, NULL, 10));
          if (agent->stale)
            agent_send (agent, "{\"return\": 7}\n{\"return\": 12}\n");
          agent_send (agent, answer);
        }
      else if (strstr (line->str, "\"guest-fsfreeze-freeze\""))
        {
          g_string_append (agent->log, "freeze\n");
          agent_send (agent, "{\"return\": 2}\n");
        }
      else if (strstr (line->str, "\"guest-fsfreeze-thaw\""))
        {
          g_string_append (agent->log, "thaw\n");
          agent_send (agent, "{\"return\": 2}\n");
        }
      else if (strstr (line->str, "\"guest-ping\""))
        agent_send (agent, "{\"return\": {}}\n");
      else
        agent_send (agent,
                    "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command has not been "
                    "found\"}}\n");
      g_string_truncate (line, 0);
    }
  g_string_free (line, TRUE);
  return NULL;
}

typedef struct
{
  gboolean done;
  char *value;
  gint64 number;
  GError *error;
} Outcome;

static void
on_reply (const HvAgentResult *result, const GError *error, gpointer user_data)
{
  Outcome *outcome = user_data;

  outcome->done = TRUE;
  if (result)
    {
      outcome->value = g_strdup (result->value);
      outcome->number = result->number;
    }
  else
    outcome->error = g_error_copy (error);
}

static void
call (int fd, const char *command, unsigned timeout_ms, Outcome *outcome)
{
  memset (outcome, 0, sizeof *outcome);
  hv_agent_call (fd, command, timeout_ms, NULL, on_reply, outcome);
  while (!outcome->done)
    g_main_context_iteration (NULL, TRUE);
}

static void
outcome_clear (Outcome *outcome)
{
  g_free (outcome->value);
  g_clear_error (&outcome->error);
}

static void
run_with_agent (FakeAgent *agent, void (*body) (int fd, FakeAgent *agent))
{
  int fds[2];
  GThread *thread;

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM, 0, fds), ==, 0);
  agent->fd = fds[1];
  agent->log = g_string_new (NULL);
  thread = g_thread_new ("fake agent", fake_agent_thread, agent);
  body (fds[0], agent);
  shutdown (fds[0], SHUT_RDWR);
  g_thread_join (thread);
  close (fds[0]);
  close (fds[1]);
  g_string_free (agent->log, TRUE);
}

static void
freeze_thaw_body (int fd, FakeAgent *agent)
{
  Outcome outcome;

  call (fd, "guest-fsfreeze-freeze", 5000, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_cmpint (outcome.number, ==, 2);
  outcome_clear (&outcome);
  call (fd, "guest-fsfreeze-thaw", 5000, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_cmpint (outcome.number, ==, 2);
  outcome_clear (&outcome);
  call (fd, "guest-ping", 5000, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_cmpstr (outcome.value, ==, "{}");
  g_assert_cmpint (outcome.number, ==, -1);
  outcome_clear (&outcome);
  g_assert_cmpstr (agent->log->str, ==, "freeze\nthaw\n");
}

static void
test_freeze_thaw (void)
{
  FakeAgent agent = { 0 };

  run_with_agent (&agent, freeze_thaw_body);
}

static void
test_stale_answers (void)
{
  FakeAgent agent = { .stale = TRUE };

  run_with_agent (&agent, freeze_thaw_body);
}

static void
error_body (int fd, FakeAgent *agent)
{
  Outcome outcome;

  call (fd, "guest-no-such-command", 5000, &outcome);
  g_assert_error (outcome.error, HV_ERROR, HV_ERROR_FAILED);
  g_assert_nonnull (strstr (outcome.error->message, "The command has not been found"));
  outcome_clear (&outcome);
}

static void
test_agent_error (void)
{
  FakeAgent agent = { 0 };

  run_with_agent (&agent, error_body);
}

static void
silent_body (int fd, FakeAgent *agent)
{
  Outcome outcome;
  gint64 start = g_get_monotonic_time ();

  call (fd, "guest-fsfreeze-freeze", 200, &outcome);
  g_assert_error (outcome.error, HV_ERROR, HV_ERROR_TIMED_OUT);
  g_assert_nonnull (strstr (outcome.error->message, "no guest agent answered"));
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  g_assert_cmpstr (agent->log->str, ==, "");
  outcome_clear (&outcome);
}

static void
test_silent_agent (void)
{
  FakeAgent agent = { .silent = TRUE };

  run_with_agent (&agent, silent_body);
}

/* Nobody at the other end: a closed channel, said at once. */
static void
test_no_agent (void)
{
  Outcome outcome;
  int fds[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM, 0, fds), ==, 0);
  close (fds[1]);
  call (fds[0], "guest-fsfreeze-freeze", 5000, &outcome);
  g_assert_error (outcome.error, HV_ERROR, HV_ERROR_FAILED);
  outcome_clear (&outcome);
  close (fds[0]);
}

/* A cancelled call never replies and leaves nothing behind on the context. */
static void
test_cancel (void)
{
  Outcome outcome = { 0 };
  int fds[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM, 0, fds), ==, 0);
  hv_agent_call_cancel (hv_agent_call (fds[0], "guest-ping", 50, NULL, on_reply, &outcome));
  g_usleep (100000);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_false (outcome.done);
  close (fds[0]);
  close (fds[1]);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/agent/freeze-thaw", test_freeze_thaw);
  g_test_add_func ("/agent/stale-answers", test_stale_answers);
  g_test_add_func ("/agent/agent-error", test_agent_error);
  g_test_add_func ("/agent/silent-agent", test_silent_agent);
  g_test_add_func ("/agent/no-agent", test_no_agent);
  g_test_add_func ("/agent/cancel", test_cancel);
  return g_test_run ();
}
