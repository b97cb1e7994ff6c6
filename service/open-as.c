/* open-as.c — opening a file with the rights of the user who named it: a forked child takes that user's
 * uid, primary group and supplementary groups, opens the file, and passes the descriptor back over a
 * socket pair.  Everything the child needs is prepared before the fork; after it, the child only makes
 * system calls. */
#include "open-as.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define GROUPS_MAX VIREO_GROUPS_MAX

gboolean
vireo_identity_init (VireoIdentity *identity, gint64 uid)
{
  struct passwd pw, *found = NULL;
  char buffer[4096];

  memset (identity, 0, sizeof *identity);
  if (uid == VIREO_OWN_UID || (uid_t) uid == geteuid ())
    return TRUE;
  if (uid < 0 || uid > G_MAXUINT32)
    return FALSE;
  identity->change = TRUE;
  identity->uid = (uid_t) uid;
  identity->n_groups = GROUPS_MAX;
  /* The user's groups as their login would have them; a uid with no account has none but its own. */
  if (getpwuid_r ((uid_t) uid, &pw, buffer, sizeof buffer, &found) != 0 || found == NULL)
    {
      identity->groups[0] = (gid_t) uid;
      identity->n_groups = 1;
      identity->gid = (gid_t) uid;
    }
  else
    {
      identity->gid = pw.pw_gid;
      if (getgrouplist (pw.pw_name, pw.pw_gid, identity->groups, &identity->n_groups) < 0)
        identity->n_groups = 0; /* more than GROUPS_MAX: fewer rights, never more */
    }
  return TRUE;
}

void
vireo_identity_assume_in_child (gpointer data)
{
  const VireoIdentity *identity = data;

  if (identity->change
      && (setgroups ((size_t) identity->n_groups, identity->groups) < 0
          || setresgid (identity->gid, identity->gid, identity->gid) < 0
          || setresuid (identity->uid, identity->uid, identity->uid) < 0))
    _exit (126);
  /* After the change of identity, which clears it. */
  if (!identity->outlive_parent)
    prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static int
receive_fd (int sock, int *child_errno)
{
  char control[CMSG_SPACE (sizeof (int))];
  int err = 0;
  struct iovec iov = { .iov_base = &err, .iov_len = sizeof err };
  struct msghdr message = {
    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control
  };
  struct cmsghdr *cmsg;
  ssize_t n;

  do
    n = recvmsg (sock, &message, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n != (ssize_t) sizeof err)
    {
      *child_errno = n < 0 ? errno : EIO;
      return -1;
    }
  for (cmsg = CMSG_FIRSTHDR (&message); cmsg; cmsg = CMSG_NXTHDR (&message, cmsg))
    if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS
        && cmsg->cmsg_len == CMSG_LEN (sizeof (int)))
      {
        int fd;
        memcpy (&fd, CMSG_DATA (cmsg), sizeof fd);
        return fd;
      }
  *child_errno = err ? err : EIO;
  return -1;
}

static void __attribute__ ((noreturn))
child_open (int sock, uid_t uid, gid_t gid, const gid_t *groups, int n_groups, const char *path, int flags)
{
  int fd = -1, err = 0;
  char control[CMSG_SPACE (sizeof (int))];
  struct iovec iov = { .iov_base = &err, .iov_len = sizeof err };
  struct msghdr message = { .msg_iov = &iov, .msg_iovlen = 1 };

  if (setgroups ((size_t) n_groups, groups) < 0 || setresgid (gid, gid, gid) < 0
      || setresuid (uid, uid, uid) < 0)
    err = EPERM;
  else if ((fd = open (path, flags)) < 0)
    err = errno;
  if (fd >= 0)
    {
      struct cmsghdr *cmsg;
      memset (control, 0, sizeof control);
      message.msg_control = control;
      message.msg_controllen = sizeof control;
      cmsg = CMSG_FIRSTHDR (&message);
      cmsg->cmsg_level = SOL_SOCKET;
      cmsg->cmsg_type = SCM_RIGHTS;
      cmsg->cmsg_len = CMSG_LEN (sizeof (int));
      memcpy (CMSG_DATA (cmsg), &fd, sizeof fd);
    }
  _exit (sendmsg (sock, &message, MSG_NOSIGNAL) == (ssize_t) sizeof err ? 0 : 1);
}

int
vireo_open_as (gint64 uid, const char *path, int flags)
{
  struct passwd pw, *found = NULL;
  char buffer[4096];
  gid_t groups[GROUPS_MAX];
  int n_groups = GROUPS_MAX;
  int pair[2], fd, child_errno = 0, status;
  pid_t pid;

  flags |= O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  if (uid == VIREO_OWN_UID || (uid_t) uid == geteuid ())
    return open (path, flags);
  if (uid < 0 || uid > G_MAXUINT32)
    {
      errno = EINVAL;
      return -1;
    }

  /* The user's groups as their login would have them; a uid with no account has none but its own. */
  if (getpwuid_r ((uid_t) uid, &pw, buffer, sizeof buffer, &found) != 0 || found == NULL)
    {
      groups[0] = (gid_t) uid;
      n_groups = 1;
      pw.pw_gid = (gid_t) uid;
    }
  else if (getgrouplist (pw.pw_name, pw.pw_gid, groups, &n_groups) < 0)
    n_groups = 0; /* more than GROUPS_MAX: fewer rights, never more */

  if (socketpair (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair) < 0)
    return -1;
  pid = fork ();
  if (pid < 0)
    {
      int saved = errno;
      close (pair[0]);
      close (pair[1]);
      errno = saved;
      return -1;
    }
  if (pid == 0)
    {
      close (pair[0]);
      child_open (pair[1], (uid_t) uid, pw.pw_gid, groups, n_groups, path, flags);
    }
  close (pair[1]);
  fd = receive_fd (pair[0], &child_errno);
  close (pair[0]);
  while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
    ;
  if (fd < 0)
    errno = child_errno;
  return fd;
}
