/* injectc.c: one message to queue-inject, over the server's socket or by
   running it (injectc.h).  Every wait is bounded by c->timeout; a write to
   a reader that went away fails with EPIPE (the socket is written with
   MSG_NOSIGNAL; for the pipe the caller ignores SIGPIPE). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include "injectc.h"
#include "injectp.h"
#include "io.h"
#include "spool.h"

void injectc_init(struct injectc *c)
{
  memset(c, 0, sizeof *c);
  c->fd = c->envfd = -1;
  c->pid = -1;
}

int injectc_used_socket(const struct injectc *c) { return c->is_socket; }

/* Send a frame: its head, then p[0..n). */
static int frame(int fd, char type, const char *p, size_t n)
{
  char head[INJECTP_HEAD_MAX];
  size_t hlen = injectp_head(head, type, n), total = hlen + n, off = 0;
  while (off < total) {
    struct iovec v[2];
    struct msghdr m;
    ssize_t w;
    int k = 0;
    if (off < hlen) {
      v[k].iov_base = head + off;
      v[k++].iov_len = hlen - off;
    }
    v[k].iov_base = (char *)p + (off > hlen ? off - hlen : 0);
    v[k++].iov_len = total - (off > hlen ? off : hlen);
    memset(&m, 0, sizeof m);
    m.msg_iov = v;
    m.msg_iovlen = (size_t)k;
    w = sendmsg(fd, &m, MSG_NOSIGNAL);
    if (w == -1) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) errno = ETIMEDOUT;   /* SO_SNDTIMEO */
      return -1;
    }
    off += (size_t)w;
  }
  return 0;
}

/* Read one line (up to '\n', which is removed) into b[0..max).  0, or -1
   (ETIMEDOUT, EPROTO for an end or a line too long). */
static int read_line(int fd, char *b, size_t max, int timeout)
{
  size_t n = 0;
  for (;;) {
    struct pollfd pf;
    ssize_t r;
    pf.fd = fd;
    pf.events = POLLIN;
    r = poll(&pf, 1, timeout > 0 ? timeout * 1000 : -1);
    if (r == 0) return errno = ETIMEDOUT, -1;
    if (r == -1) {
      if (errno == EINTR) continue;
      return -1;
    }
    r = read(fd, b + n, max - 1 - n);
    if (r == -1 && errno == EINTR) continue;
    if (r == -1) return -1;
    if (r == 0) break;
    n += (size_t)r;
    if (memchr(b, '\n', n) || n == max - 1) break;
  }
  b[n] = 0;
  if (!n || b[n - 1] != '\n') return errno = EPROTO, -1;
  b[--n] = 0;
  return 0;
}

static int sock_start(struct injectc *c, const char *sock, const char *env, size_t n)
{
  struct sockaddr_un sa;
  struct timeval tv;
  size_t len = strlen(sock);
  int fd;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (len >= sizeof sa.sun_path) return errno = ENAMETOOLONG, -1;
  memcpy(sa.sun_path, sock, len + 1);
  if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) return -1;
  /* Linux applies the send time limit to connect() as well. */
  tv.tv_sec = c->timeout;
  tv.tv_usec = 0;
  if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == -1
      || connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1
      || frame(fd, 'E', env, n) == -1) {
    int e = errno;
    close(fd);
    return errno = e, -1;
  }
  c->fd = fd;
  c->is_socket = 1;
  return 0;
}

/* Run queue-inject with a pipe on its fd 0 for the message and a socket
   on its fd 1 for the envelope and its answer. */
static int exec_start(struct injectc *c, const char *prog, const char *env, size_t n)
{
  int p[2] = { -1, -1 }, sp[2] = { -1, -1 };
  pid_t pid = -1;
  buf_trunc(&c->env, 0);
  if (buf_add(&c->env, env, n) == -1) return -1;
  if (pipe(p) == 0 && fd_cloexec(p[0]) == 0 && fd_cloexec(p[1]) == 0
      && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0 && (pid = fork()) == 0) {
    char *argv[2];
    argv[0] = (char *)prog;
    argv[1] = 0;
    if (dup2(p[0], 0) == -1 || dup2(sp[1], 1) == -1) _exit(111);
    signal(SIGPIPE, SIG_DFL);
    execv(prog, argv);
    _exit(111);                        /* the caller reports queue-inject's 111 */
  }
  if (p[0] != -1) close(p[0]);
  if (sp[1] != -1) close(sp[1]);
  if (pid == -1) {
    int e = errno;
    if (p[1] != -1) close(p[1]);
    if (sp[0] != -1) close(sp[0]);
    return errno = e, -1;
  }
  c->fd = p[1];
  c->envfd = sp[0];
  c->pid = pid;
  c->is_socket = 0;
  return 0;
}

int injectc_start(struct injectc *c, enum injectc_how how, const char *sock,
                  const char *prog, const char *env, size_t n, int timeout)
{
  injectc_abort(c);
  c->timeout = timeout;
  c->is_broken = 0;
  c->why[0] = 0;
  if (how != INJECTC_EXEC) {
    if (sock_start(c, sock, env, n) == 0) {
      c->is_active = 1;
      return 0;
    }
    if (how == INJECTC_SOCKET) return -1;
  }
  if (exec_start(c, prog, env, n) == -1) return -1;
  c->is_active = 1;
  return 0;
}

int injectc_write(struct injectc *c, const char *p, size_t n)
{
  if (!c->is_active || c->is_broken) return -1;
  while (c->is_socket && n) {
    size_t k = n < INJECTP_DATA_MAX ? n : INJECTP_DATA_MAX;
    if (frame(c->fd, 'D', p, k) == -1) break;
    p += k;
    n -= k;
  }
  if (c->is_socket ? n == 0 : write_all(c->fd, p, n) == 0) return 0;
  c->is_broken = 1;
  return -1;
}

/* queue-inject's exit status (-1: no normal exit). */
static int wait_exit(pid_t pid)
{
  int st;
  while (waitpid(pid, &st, 0) == -1)
    if (errno != EINTR) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int finish_socket(struct injectc *c, char *id, size_t idmax)
{
  char line[INJECTP_REPLY_MAX];
  int r;
  /* After a refused write the server has answered already: read that. */
  if (!c->is_broken && frame(c->fd, '.', "", 0) == -1) c->is_broken = 1;
  r = read_line(c->fd, line, sizeof line, c->timeout);
  close(c->fd);
  c->fd = -1;
  if (r == -1) {
    snprintf(c->why, sizeof c->why, "inject server: %s", errno == EPROTO ? "no answer" : strerror(errno));
    return 111;
  }
  if (spool_id_ok(line) && strlen(line) < idmax) {
    memcpy(id, line, strlen(line) + 1);
    return 0;
  }
  snprintf(c->why, sizeof c->why, "inject server: %s", line);
  return strncmp(line, "100 ", 4) == 0 ? 100 : 111;
}

static int finish_exec(struct injectc *c, char *id, size_t idmax)
{
  int st = -1, code;
  close(c->fd);
  c->fd = -1;
  if (!c->is_broken && write_all(c->envfd, c->env.s, c->env.len) == 0) {
    shutdown(c->envfd, SHUT_WR);
    if (read_line(c->envfd, id, idmax, c->timeout) == 0 && spool_id_ok(id)) st = 0;
    else if (errno == ETIMEDOUT) kill(c->pid, SIGKILL);
  }
  close(c->envfd);
  c->envfd = -1;
  code = wait_exit(c->pid);
  c->pid = -1;
  if (code == 0 && st == 0) return 0;
  snprintf(c->why, sizeof c->why, "queue-inject exit=%d%s", code, code == 0 ? " without an id" : "");
  return code == 100 ? 100 : 111;
}

int injectc_finish(struct injectc *c, char *id, size_t idmax)
{
  int r;
  if (!c->is_active) {
    snprintf(c->why, sizeof c->why, "no message begun");
    return 111;
  }
  r = c->is_socket ? finish_socket(c, id, idmax) : finish_exec(c, id, idmax);
  c->is_active = 0;
  return r;
}

void injectc_abort(struct injectc *c)
{
  int e = errno;
  if (c->fd != -1) close(c->fd);
  if (c->envfd != -1) close(c->envfd);
  c->fd = c->envfd = -1;
  /* queue-inject sees no envelope and keeps nothing; the server sees the
     connection end before the end frame and removes tmp/ID. */
  if (c->pid != -1) wait_exit(c->pid);
  c->pid = -1;
  c->is_active = 0;
  errno = e;
}
