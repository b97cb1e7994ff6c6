/* agent.h — the host side of the QEMU guest agent protocol (JSON lines on the virtio-serial port
 * org.qemu.guest_agent.0): one command at a time, synchronised first with guest-sync-delimited so that
 * nothing left over from an earlier exchange is taken for the answer, answered or failed within a
 * timeout, on the caller's GMainContext without ever blocking it. */
#pragma once

#include "hv-limits.h"

G_BEGIN_DECLS

/* The name of the port the agent listens on (a virtio-serial device's "ports"). */
#define HV_AGENT_PORT "org.qemu.guest_agent.0"

typedef struct _HvAgentCall HvAgentCall;

typedef struct
{
  /* The JSON text of the answer's "return" value ("3", "{}", "\"frozen\""). */
  const char *value;
  /* The value as a number when it is one (guest-fsfreeze-freeze and -thaw answer how many file
   * systems they froze or thawed), else -1. */
  gint64 number;
} HvAgentResult;

/* @result on success; @error otherwise: HV_ERROR_TIMED_OUT ("no guest agent answered") when nothing
 * came in time, HV_ERROR_FAILED with the agent's own description when it answered with an error,
 * HV_ERROR_FAILED when the channel is closed or the answer is not the protocol's. */
typedef void (*HvAgentReply) (const HvAgentResult *result, const GError *error, gpointer user_data);

/* Sends @command ("guest-fsfreeze-freeze", with no arguments) on @fd, the host end of the agent's
 * port (not owned; made non-blocking), after a guest-sync-delimited with a random id, all within
 * @timeout_ms.  @reply is called once, from @context (NULL: the thread-default one), unless the call
 * is cancelled first.  One call at a time on an fd. */
HvAgentCall *hv_agent_call (int fd, const char *command, unsigned timeout_ms, GMainContext *context,
                            HvAgentReply reply, gpointer user_data);
/* Ends a call before it replied: @reply is not called.  Not after the reply (the call is freed then). */
void hv_agent_call_cancel (HvAgentCall *call);

G_END_DECLS
