/* unit-tls: lib/tls.c over a socketpair, the peer in a child process:
   clear-text lines and the line limit, the read timeout, TLS server and
   client handshakes with t/data/tls (verified by name or not), lines and
   a large write under TLS, and refusal of clear input left before TLS. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "buf.h"
#include "tls.h"
#include "tap.h"

static char cert[4096], key[4096];
static struct tls a, b;               /* big: not on the stack */

/* Run fn(fd) in a child on one end of a new socketpair; the parent gets
   the other end in *fd.  The child's exit status is fn's result. */
static pid_t peer(int *fd, int (*fn)(int))
{
  int sv[2];
  pid_t pid;
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1) return -1;
  pid = fork();
  if (pid == 0) {
    close(sv[0]);
    _exit(fn(sv[1]));
  }
  close(sv[1]);
  *fd = sv[0];
  return pid;
}

static int status(pid_t pid)
{
  int st;
  if (waitpid(pid, &st, 0) == -1) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 99;
}

static int clear_writer(int fd)
{
  char big[3000];
  memset(big, 'x', sizeof big);
  if (tls_init(&b, fd, fd, 5) == -1) return 1;
  if (tls_puts(&b, "EHLO a\r\nNOOP\n") || tls_write(&b, big, sizeof big) || tls_puts(&b, "\r\nQUIT\r\nrest"))
    return 2;
  return tls_flush(&b) == -1 ? 3 : 0;
}

static int silent(int fd)
{
  char c;
  return read(fd, &c, 1) == 0 ? 0 : 1;      /* wait for the parent to close */
}

static int tls_client(int fd)
{
  struct buf l = BUF_ZERO;
  char big[100000];
  if (tls_init(&b, fd, fd, 5) == -1 || tls_client_init(&b, cert) == -1) return 1;
  if (tls_start(&b, "localhost") == -1) return 2;
  if (!tls_verified(&b)) return 3;
  if (tls_puts(&b, "hello over tls\r\n") == -1 || tls_flush(&b) == -1) return 4;
  if (tls_getline(&b, &l, 100) != 1 || strcmp(l.s, "reply\r\n")) return 5;
  memset(big, 'y', sizeof big);
  big[sizeof big - 1] = '\n';
  if (tls_write_all(&b, big, sizeof big) == -1) return 6;
  tls_close(&b);
  buf_free(&l);
  return 0;
}

static int tls_client_wrong_name(int fd)
{
  if (tls_init(&b, fd, fd, 5) == -1 || tls_client_init(&b, cert) == -1) return 1;
  if (tls_start(&b, "other.test") == -1) return 2;
  if (tls_verified(&b)) return 3;        /* handshake fine, but not verified */
  tls_close(&b);
  return 0;
}

int main(int argc, char **argv)
{
  struct buf l = BUF_ZERO;
  const char *slash = argc > 0 ? strrchr(argv[0], '/') : 0;
  int dl = slash ? (int)(slash - argv[0]) : 1, fd, r;
  const char *d = slash ? argv[0] : ".";
  pid_t pid;
  size_t total = 0;

  signal(SIGPIPE, SIG_IGN);
  snprintf(cert, sizeof cert, "%.*s/data/tls/cert.pem", dl, d);
  snprintf(key, sizeof key, "%.*s/data/tls/key.pem", dl, d);
  plan(19);

  pid = peer(&fd, clear_writer);
  ok(tls_init(&a, fd, fd, 5) == 0, "clear init");
  ok(tls_getline(&a, &l, 512) == 1 && strcmp(l.s, "EHLO a\r\n") == 0, "line with CRLF");
  ok(tls_getline(&a, &l, 512) == 1 && strcmp(l.s, "NOOP\n") == 0, "line with bare LF");
  r = tls_getline(&a, &l, 512);
  ok(r == -1 && errno == E2BIG, "3002-byte line over 512: E2BIG");
  ok(tls_getline(&a, &l, 512) == 1 && strcmp(l.s, "QUIT\r\n") == 0, "in step after the long line");
  ok(tls_getline(&a, &l, 512) == 0 && strcmp(l.s, "rest") == 0, "end of input with a partial line");
  ok(status(pid) == 0, "writer done");
  close(fd);

  pid = peer(&fd, silent);
  tls_init(&a, fd, fd, 1);
  r = tls_getline(&a, &l, 512);
  ok(r == -1 && errno == ETIMEDOUT, "silent peer: ETIMEDOUT after the timeout");
  close(fd);
  status(pid);

  pid = peer(&fd, tls_client);
  tls_init(&a, fd, fd, 5);
  ok(tls_server_init(&a, cert, key) == 0, "server certificate loaded");
  ok(!tls_is_on(&a) && tls_start(&a, 0) == 0 && tls_is_on(&a), "server handshake");
  ok(strncmp(tls_version(&a), "TLSv1.", 6) == 0 && *tls_cipher(&a), "version and cipher known");
  ok(tls_getline(&a, &l, 100) == 1 && strcmp(l.s, "hello over tls\r\n") == 0, "line under TLS");
  ok(tls_write_all(&a, "reply\r\n", 7) == 0, "write under TLS");
  while ((r = tls_getline(&a, &l, 200000)) == 1) total += l.len;
  ok(r == 0 && total == 100000, "100000-byte line under TLS, then end of input");
  ok(status(pid) == 0, "client: handshake, verified as localhost, I/O");
  tls_close(&a);
  close(fd);

  pid = peer(&fd, tls_client_wrong_name);
  tls_init(&a, fd, fd, 5);
  tls_server_init(&a, cert, key);
  ok(tls_start(&a, 0) == 0 && status(pid) == 0, "client: wrong name is not verified");
  tls_close(&a);
  close(fd);

  pid = peer(&fd, clear_writer);
  tls_init(&a, fd, fd, 5);
  tls_getline(&a, &l, 512);
  tls_server_init(&a, cert, key);
  ok(tls_start(&a, 0) == -1 && errno == EPROTO, "clear input left unread: no handshake");
  tls_drop(&a);
  ok(tls_pending(&a) == 0, "dropped");
  tls_close(&a);
  close(fd);
  status(pid);

  ok(tls_server_init(&a, "/nonexistent/cert.pem", key) == -1 && errno == ENOENT, "missing certificate");
  buf_free(&l);
  return done();
}
