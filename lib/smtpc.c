/* smtpc.c: SMTP client connection (see smtpc.h).  Non-blocking socket,
   poll() with a deadline for every reply and write, OpenSSL for STARTTLS.
   Replies are kept line by line in c->reply for the caller's logs and for
   the EHLO keywords; nothing here decides what a reply means. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include "smtpc.h"

#define DATA_CHUNK 65536

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until fd is ready for events or the deadline passes. */
static int wait_fd(int fd, short events, long long deadline)
{
  for (;;) {
    struct pollfd p;
    long long left = deadline - now_ms();
    int r;
    if (left <= 0) return errno = ETIMEDOUT, -1;
    p.fd = fd;
    p.events = events;
    p.revents = 0;
    r = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
    if (r > 0) return 0;
    if (r == -1 && errno != EINTR) return -1;
  }
}

void smtpc_init(struct smtpc *c, int timeout)
{
  memset(c, 0, sizeof *c);
  c->fd = -1;
  c->timeout = timeout > 0 ? timeout : 300;
}

static void ipstr(const struct sockaddr_storage *ss, char *out, size_t n)
{
  const void *a = ss->ss_family == AF_INET6
    ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
    : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
  if (!inet_ntop(ss->ss_family, a, out, (socklen_t)n)) out[0] = 0;
}

int smtpc_connect(struct smtpc *c, const struct sockaddr *sa, socklen_t salen,
                  int connect_timeout)
{
  return smtpc_connect_from(c, sa, salen, 0, connect_timeout);
}

/* Bind fd to the address local (text) when it is of family af. */
static int bind_local(int fd, int af, const char *local)
{
  struct sockaddr_in in4;
  struct sockaddr_in6 in6;
  if (!local || !*local) return 0;
  if (af == AF_INET) {
    memset(&in4, 0, sizeof in4);
    in4.sin_family = AF_INET;
    if (inet_pton(AF_INET, local, &in4.sin_addr) != 1) return 0;
    return bind(fd, (struct sockaddr *)&in4, sizeof in4);
  }
  if (af == AF_INET6) {
    memset(&in6, 0, sizeof in6);
    in6.sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, local, &in6.sin6_addr) != 1) return 0;
    return bind(fd, (struct sockaddr *)&in6, sizeof in6);
  }
  return 0;
}

int smtpc_connect_from(struct smtpc *c, const struct sockaddr *sa, socklen_t salen,
                       const char *local, int connect_timeout)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int fd, err = 0, e;
  socklen_t errlen = sizeof err;
  long long deadline = now_ms() + 1000LL * (connect_timeout > 0 ? connect_timeout : 30);
  fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd == -1) return -1;
  /* The sending IP (bind before connect); the port stays the kernel's. */
  if (bind_local(fd, sa->sa_family, local) == -1) goto fail;
  if (connect(fd, sa, salen) == -1) {
    if (errno != EINPROGRESS) goto fail;
    if (wait_fd(fd, POLLOUT, deadline) == -1) goto fail;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) == -1) goto fail;
    if (err) { errno = err; goto fail; }
  }
  /* Commands and data are written whole, never byte by byte: no Nagle. */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
  if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) ipstr(&ss, c->local_ip, sizeof c->local_ip);
  memset(&ss, 0, sizeof ss);
  memcpy(&ss, sa, salen < sizeof ss ? salen : sizeof ss);
  ipstr(&ss, c->remote_ip, sizeof c->remote_ip);
  c->fd = fd;
  c->inpos = c->inlen = 0;
  return 0;
fail:
  e = errno;
  close(fd);
  errno = e;
  return -1;
}

/* Read some bytes into c->in (which is empty).  >0, or -1. */
static ssize_t fill(struct smtpc *c, long long deadline)
{
  for (;;) {
    if (c->ssl) {
      int r, err;
      ERR_clear_error();
      r = SSL_read(c->ssl, c->in, (int)sizeof c->in);
      if (r > 0) return r;
      err = SSL_get_error(c->ssl, r);
      if (err == SSL_ERROR_WANT_READ) { if (wait_fd(c->fd, POLLIN, deadline) == -1) return -1; continue; }
      if (err == SSL_ERROR_WANT_WRITE) { if (wait_fd(c->fd, POLLOUT, deadline) == -1) return -1; continue; }
      if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && r == 0)) return errno = ECONNRESET, -1;
      if (err == SSL_ERROR_SYSCALL && errno) return -1;
      return errno = EPROTO, -1;
    } else {
      ssize_t r = read(c->fd, c->in, sizeof c->in);
      if (r > 0) return r;
      if (r == 0) return errno = ECONNRESET, -1;
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      if (wait_fd(c->fd, POLLIN, deadline) == -1) return -1;
    }
  }
}

int smtpc_put(struct smtpc *c, const void *p, size_t n)
{
  const char *s = p;
  long long deadline = now_ms() + 1000LL * c->timeout;
  if (c->fd == -1) return errno = ENOTCONN, -1;
  while (n) {
    if (c->ssl) {
      int r, err, chunk = n > 1 << 30 ? 1 << 30 : (int)n;
      ERR_clear_error();
      r = SSL_write(c->ssl, s, chunk);
      if (r > 0) { s += r; n -= (size_t)r; continue; }
      err = SSL_get_error(c->ssl, r);
      if (err == SSL_ERROR_WANT_READ) { if (wait_fd(c->fd, POLLIN, deadline) == -1) return -1; continue; }
      if (err == SSL_ERROR_WANT_WRITE) { if (wait_fd(c->fd, POLLOUT, deadline) == -1) return -1; continue; }
      if (err == SSL_ERROR_SYSCALL && errno) return -1;
      return errno = ECONNRESET, -1;
    } else {
      ssize_t r = send(c->fd, s, n, MSG_NOSIGNAL);
      if (r >= 0) { s += r; n -= (size_t)r; continue; }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      if (wait_fd(c->fd, POLLOUT, deadline) == -1) return -1;
    }
  }
  return 0;
}

int smtpc_reply_line(const char *s, size_t n, int *code, int *last)
{
  if (n < 3 || s[0] < '1' || s[0] > '5' || s[1] < '0' || s[1] > '9'
      || s[2] < '0' || s[2] > '9')
    return errno = EPROTO, -1;
  if (n > 3 && s[3] != ' ' && s[3] != '-') return errno = EPROTO, -1;
  *code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
  *last = n == 3 || s[3] == ' ';
  return 0;
}

int smtpc_reply(struct smtpc *c)
{
  char line[SMTPC_LINE_MAX];
  size_t len = 0, nlines = 0;
  int code = 0, first = -1, last = 0, toolong = 0;
  long long deadline = now_ms() + 1000LL * c->timeout;
  if (c->fd == -1) return errno = ENOTCONN, -1;
  buf_trunc(&c->reply, 0);
  for (;;) {
    char ch;
    if (c->inpos == c->inlen) {
      ssize_t r = fill(c, deadline);
      if (r == -1) return -1;
      c->inpos = 0;
      c->inlen = (size_t)r;
    }
    ch = c->in[c->inpos++];
    if (ch != '\n') {
      if (len < sizeof line) line[len++] = ch;
      else toolong = 1;
      continue;
    }
    if (len && line[len - 1] == '\r') len--;
    if (toolong || ++nlines > SMTPC_REPLY_LINES_MAX) return errno = EMSGSIZE, -1;
    if (smtpc_reply_line(line, len, &code, &last) == -1) return -1;
    if (first == -1) first = code;
    else if (code != first) return errno = EPROTO, -1;
    if (buf_add(&c->reply, line, len) == -1 || buf_addc(&c->reply, '\n') == -1) return -1;
    len = 0;
    if (last) break;
  }
  c->code = code;
  return code;
}

int smtpc_cmd(struct smtpc *c, const char *line)
{
  size_t n = strlen(line);
  char crlf[2] = { '\r', '\n' };
  /* One write for line and CRLF keeps a pipelining server's reads whole. */
  struct buf b = BUF_ZERO;
  int r;
  if (buf_add(&b, line, n) == -1 || buf_add(&b, crlf, 2) == -1) { buf_free(&b); return -1; }
  r = smtpc_put(c, b.s, b.len);
  buf_free(&b);
  if (r == -1) return -1;
  return smtpc_reply(c);
}

unsigned smtpc_ehlo_parse(const char *reply, size_t n, unsigned long long *size)
{
  static const struct { const char *kw; unsigned bit; } kws[] = {
    { "STARTTLS", SMTPC_EXT_STARTTLS }, { "8BITMIME", SMTPC_EXT_8BITMIME },
    { "SMTPUTF8", SMTPC_EXT_SMTPUTF8 }, { "PIPELINING", SMTPC_EXT_PIPELINING },
    { "SIZE", SMTPC_EXT_SIZE }, { "ENHANCEDSTATUSCODES", SMTPC_EXT_ENHANCED },
  };
  unsigned ext = 0;
  size_t i = 0, lineno = 0;
  *size = 0;
  while (i < n) {
    const char *l = reply + i, *nl = memchr(l, '\n', n - i);
    size_t len = nl ? (size_t)(nl - l) : n - i, k, kwlen;
    i += len + 1;
    /* The first line is the greeting ("250-name ..."), not a keyword. */
    if (lineno++ == 0 || len < 5) continue;
    l += 4;
    len -= 4;
    for (kwlen = 0; kwlen < len && l[kwlen] != ' ' && l[kwlen] != '='; kwlen++) ;
    for (k = 0; k < sizeof kws / sizeof kws[0]; k++) {
      if (strlen(kws[k].kw) != kwlen || strncasecmp(l, kws[k].kw, kwlen)) continue;
      ext |= kws[k].bit;
      if (kws[k].bit == SMTPC_EXT_SIZE && kwlen < len) {
        unsigned long long v = 0;
        size_t j;
        for (j = kwlen + 1; j < len && l[j] >= '0' && l[j] <= '9'; j++)
          if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (unsigned)(l[j] - '0'), &v)) {
            v = 0;
            break;
          }
        *size = v;
      }
    }
  }
  return ext;
}

int smtpc_ehlo(struct smtpc *c, const char *name)
{
  struct buf b = BUF_ZERO;
  int code;
  c->ext = 0;
  c->size_max = 0;
  if (buf_printf(&b, "EHLO %s", name) == -1) return -1;
  code = smtpc_cmd(c, b.s);
  if (code >= 500 && code < 600) {
    buf_trunc(&b, 0);
    if (buf_printf(&b, "HELO %s", name) == -1) { buf_free(&b); return -1; }
    code = smtpc_cmd(c, b.s);
  } else if (code >= 200 && code < 300) {
    c->ext = smtpc_ehlo_parse(c->reply.s, c->reply.len, &c->size_max);
  }
  buf_free(&b);
  return code;
}

void *smtpc_tls_ctx(void)
{
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return errno = ENOMEM, (void *)0;
  /* Opportunistic TLS (RFC 7435): any certificate is better than plain
     text, and refusing one would only send the mail in clear. */
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, 0);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  return ctx;
}

void smtpc_tls_ctx_free(void *ctx) { SSL_CTX_free(ctx); }

int smtpc_starttls(struct smtpc *c, void *ctx, const char *sni)
{
  long long deadline;
  SSL *ssl;
  int code = smtpc_cmd(c, "STARTTLS");
  if (code != 220) return code;
  /* Bytes after the 220 would be a plain-text injection (CVE-2011-0411). */
  if (c->inpos != c->inlen) return errno = EPROTO, -1;
  ssl = SSL_new(ctx);
  if (!ssl) return errno = ENOMEM, -1;
  if (SSL_set_fd(ssl, c->fd) != 1) { SSL_free(ssl); return errno = EPROTO, -1; }
  if (sni && *sni) SSL_set_tlsext_host_name(ssl, sni);
  deadline = now_ms() + 1000LL * c->timeout;
  for (;;) {
    int r, err;
    ERR_clear_error();
    r = SSL_connect(ssl);
    if (r == 1) break;
    err = SSL_get_error(ssl, r);
    if ((err == SSL_ERROR_WANT_READ && wait_fd(c->fd, POLLIN, deadline) == 0)
        || (err == SSL_ERROR_WANT_WRITE && wait_fd(c->fd, POLLOUT, deadline) == 0))
      continue;
    SSL_free(ssl);
    return errno = EPROTO, -1;
  }
  c->ssl = ssl;
  return 220;
}

int smtpc_dotstuff(struct buf *out, struct smtpc_dot *d, const char *p, size_t n)
{
  size_t i = 0;
  while (i < n) {
    size_t j;
    char ch;
    if (d->cr) {
      d->cr = 0;
      d->bol = 1;
      if (buf_add(out, "\r\n", 2) == -1) return -1;
      if (p[i] == '\n') { i++; continue; }
    }
    ch = p[i];
    if (ch == '\r') { d->cr = 1; i++; continue; }
    if (ch == '\n') {
      if (buf_add(out, "\r\n", 2) == -1) return -1;
      d->bol = 1;
      i++;
      continue;
    }
    if (d->bol && ch == '.' && buf_addc(out, '.') == -1) return -1;
    for (j = i; j < n && p[j] != '\r' && p[j] != '\n'; j++) ;
    if (buf_add(out, p + i, j - i) == -1) return -1;
    d->bol = 0;
    i = j;
  }
  return 0;
}

int smtpc_dotstuff_end(struct buf *out, struct smtpc_dot *d)
{
  if (d->cr) {
    d->cr = 0;
    d->bol = 1;
    if (buf_add(out, "\r\n", 2) == -1) return -1;
  }
  if (!d->bol && buf_add(out, "\r\n", 2) == -1) return -1;
  d->bol = 1;
  return buf_add(out, ".\r\n", 3);
}

int smtpc_data(struct smtpc *c, const char *p, size_t n)
{
  struct smtpc_dot d = SMTPC_DOT_INIT;
  struct buf b = BUF_ZERO;
  size_t off = 0;
  int r = 0;
  /* The end of data goes in the same write as the last chunk: a small
     write of its own would wait for the peer's delayed ACK. */
  do {
    size_t chunk = n - off > DATA_CHUNK ? DATA_CHUNK : n - off;
    buf_trunc(&b, 0);
    if (smtpc_dotstuff(&b, &d, p + off, chunk) == -1) r = -1;
    off += chunk;
    if (r == 0 && off == n && smtpc_dotstuff_end(&b, &d) == -1) r = -1;
    if (r == 0) r = smtpc_put(c, b.s, b.len);
  } while (off < n && r == 0);
  buf_free(&b);
  return r;
}

int smtpc_reply_text(const struct smtpc *c, struct buf *out)
{
  size_t i;
  for (i = 0; i < c->reply.len; i++) {
    char ch = c->reply.s[i];
    if (ch == '\n') {
      if (i + 1 == c->reply.len) break;
      ch = ' ';
    } else if (ch == '\t' || ch == '\r' || ch == 0) {
      ch = ' ';
    }
    if (buf_addc(out, ch) == -1) return -1;
  }
  return 0;
}

void smtpc_close(struct smtpc *c)
{
  if (c->ssl) {
    SSL_shutdown(c->ssl);          /* one close_notify, no waiting for the peer's */
    SSL_free(c->ssl);
    c->ssl = 0;
  }
  if (c->fd != -1) close(c->fd);
  c->fd = -1;
  c->inpos = c->inlen = 0;
  buf_free(&c->reply);
}

void smtpc_quit(struct smtpc *c)
{
  int t = c->timeout;
  if (c->fd != -1) {
    c->timeout = t > 10 ? 10 : t;  /* a slow goodbye is not worth waiting for */
    smtpc_cmd(c, "QUIT");
    c->timeout = t;
  }
  smtpc_close(c);
}
