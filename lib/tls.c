/* tls.c: buffered connection I/O in clear or under OpenSSL, with timeouts
   (see tls.h).  Every wait is a poll() of at most t->timeout seconds on a
   non-blocking fd, so a silent peer can never hold a process forever, not
   even in the middle of a TLS record or handshake. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include "io.h"
#include "tls.h"

static void note_err(struct tls *t)
{
  unsigned long e = ERR_get_error();
  if (e) ERR_error_string_n(e, t->err, sizeof t->err);
  else if (!t->err[0]) snprintf(t->err, sizeof t->err, "TLS failure");
  ERR_clear_error();
}

/* Wait until fd is ready for ev.  0, or -1 ETIMEDOUT (or poll's errno). */
static int wait_fd(const struct tls *t, int fd, short ev)
{
  struct pollfd p;
  int r;
  p.fd = fd;
  p.events = ev;
  p.revents = 0;
  do r = poll(&p, 1, t->timeout > 0 ? t->timeout * 1000 : -1);
  while (r == -1 && errno == EINTR);
  if (r == -1) return -1;
  if (r == 0) return errno = ETIMEDOUT, -1;
  return 0;   /* POLLERR/POLLHUP: the next read or write says what happened */
}

int tls_init(struct tls *t, int rfd, int wfd, int timeout)
{
  t->rfd = rfd;
  t->wfd = wfd;
  t->timeout = timeout;
  t->is_server = 0;
  t->ctx = 0;
  t->ssl = 0;
  t->rpos = t->rlen = t->wlen = 0;
  t->err[0] = 0;
  if (fd_nonblock(rfd, 1) == -1) return -1;
  if (wfd != rfd && fd_nonblock(wfd, 1) == -1) return -1;
  return 0;
}

static SSL_CTX *ctx_new(struct tls *t, const SSL_METHOD *m)
{
  SSL_CTX *c = SSL_CTX_new(m);
  if (!c) { note_err(t); errno = EPROTO; return 0; }
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  /* No compression (CRIME), no renegotiation (a client-driven CPU sink),
     and a peer that closes without close_notify is an ordinary end of
     input: SMTP has its own end (QUIT, CRLF.CRLF). */
  SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION
                         | SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  return c;
}

int tls_server_init(struct tls *t, const char *certfile, const char *keyfile)
{
  SSL_CTX *c;
  if (access(certfile, R_OK) == -1 || access(keyfile, R_OK) == -1) return -1;
  if (!(c = ctx_new(t, TLS_server_method()))) return -1;
  if (SSL_CTX_use_certificate_chain_file(c, certfile) != 1
      || SSL_CTX_use_PrivateKey_file(c, keyfile, SSL_FILETYPE_PEM) != 1
      || SSL_CTX_check_private_key(c) != 1) {
    note_err(t);
    SSL_CTX_free(c);
    return errno = EPROTO, -1;
  }
  SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (t->ctx) SSL_CTX_free(t->ctx);
  t->ctx = c;
  t->is_server = 1;
  return 0;
}

/* Verification is recorded, never fatal: the caller decides with tls_verified. */
static int verify_any(int ok, X509_STORE_CTX *x)
{
  (void)ok;
  (void)x;
  return 1;
}

int tls_client_init(struct tls *t, const char *cafile)
{
  SSL_CTX *c;
  if (!(c = ctx_new(t, TLS_client_method()))) return -1;
  if (cafile) {
    int r = *cafile ? SSL_CTX_load_verify_locations(c, cafile, 0)
                    : SSL_CTX_set_default_verify_paths(c);
    if (r != 1) {
      note_err(t);
      SSL_CTX_free(c);
      return errno = EPROTO, -1;
    }
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, verify_any);
  } else
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, 0);
  if (t->ctx) SSL_CTX_free(t->ctx);
  t->ctx = c;
  t->is_server = 0;
  return 0;
}

/* Wait as SSL_get_error says after a call that returned r.  1: retry the
   call; 0: clean end of input; -1: error. */
static int ssl_wait(struct tls *t, int r)
{
  int e = SSL_get_error(t->ssl, r);
  switch (e) {
  case SSL_ERROR_WANT_READ:
    return wait_fd(t, t->rfd, POLLIN) == -1 ? -1 : 1;
  case SSL_ERROR_WANT_WRITE:
    return wait_fd(t, t->wfd, POLLOUT) == -1 ? -1 : 1;
  case SSL_ERROR_ZERO_RETURN:
    return 0;
  case SSL_ERROR_SYSCALL:
    if (ERR_peek_error() == 0 && (r == 0 || errno == 0)) return 0;
    note_err(t);
    if (errno == 0) errno = EPROTO;
    return -1;
  default:
    note_err(t);
    return errno = EPROTO, -1;
  }
}

int tls_start(struct tls *t, const char *servername)
{
  SSL *s;
  int r, w;
  if (!t->ctx || t->ssl) return errno = EINVAL, -1;
  /* Bytes that arrived in clear before the handshake are not part of the
     TLS session (RFC 3207 section 6; the STARTTLS command injection). */
  if (t->rpos < t->rlen) return errno = EPROTO, -1;
  if (tls_flush(t) == -1) return -1;
  t->rpos = t->rlen = 0;
  if (!(s = SSL_new(t->ctx))) { note_err(t); return errno = EPROTO, -1; }
  if (SSL_set_rfd(s, t->rfd) != 1 || SSL_set_wfd(s, t->wfd) != 1) {
    note_err(t);
    SSL_free(s);
    return errno = EPROTO, -1;
  }
  if (!t->is_server && servername && *servername) {
    unsigned char ip[16];
    int ok;
    /* SNI carries host names only, never address literals (RFC 6066). */
    if (inet_pton(AF_INET, servername, ip) == 1 || inet_pton(AF_INET6, servername, ip) == 1)
      ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s), servername);
    else {
      SSL_set_tlsext_host_name(s, servername);
      SSL_set_hostflags(s, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      ok = SSL_set1_host(s, servername);
    }
    if (ok != 1) { note_err(t); SSL_free(s); return errno = EPROTO, -1; }
  }
  t->ssl = s;
  for (;;) {
    ERR_clear_error();
    errno = 0;
    r = t->is_server ? SSL_accept(s) : SSL_connect(s);
    if (r == 1) return 0;
    w = ssl_wait(t, r);
    if (w == 1) continue;
    if (w == 0) errno = ECONNRESET;
    break;
  }
  SSL_free(s);
  t->ssl = 0;
  return -1;
}

int tls_is_on(const struct tls *t) { return t->ssl != 0; }
const char *tls_version(const struct tls *t) { return t->ssl ? SSL_get_version(t->ssl) : ""; }
const char *tls_cipher(const struct tls *t)
{
  const char *c = t->ssl ? SSL_get_cipher_name(t->ssl) : 0;
  return c ? c : "";
}
int tls_verified(const struct tls *t)
{
  if (!t->ssl || t->is_server) return 0;
  if (!SSL_get0_peer_certificate(t->ssl)) return 0;
  return SSL_get_verify_result(t->ssl) == X509_V_OK;
}

void tls_close(struct tls *t)
{
  if (t->ssl) {
    /* One close_notify, without waiting for the peer's. */
    ERR_clear_error();
    if (SSL_shutdown(t->ssl) < 0) ERR_clear_error();
    SSL_free(t->ssl);
    t->ssl = 0;
  }
  if (t->ctx) {
    SSL_CTX_free(t->ctx);
    t->ctx = 0;
  }
}

/* Read at most n bytes from the connection into p, waiting if need be. */
static ssize_t raw_read(struct tls *t, char *p, size_t n)
{
  for (;;) {
    if (t->ssl) {
      int r, w;
      ERR_clear_error();
      errno = 0;
      r = SSL_read(t->ssl, p, n > 0x7fffffff ? 0x7fffffff : (int)n);
      if (r > 0) return r;
      w = ssl_wait(t, r);
      if (w == 1) continue;
      return w;
    } else {
      ssize_t r = read(t->rfd, p, n);
      if (r >= 0) return r;
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      if (wait_fd(t, t->rfd, POLLIN) == -1) return -1;
    }
  }
}

static int raw_write(struct tls *t, const char *p, size_t n)
{
  while (n) {
    if (t->ssl) {
      int r, w;
      ERR_clear_error();
      errno = 0;
      r = SSL_write(t->ssl, p, n > 0x7fffffff ? 0x7fffffff : (int)n);
      if (r > 0) { p += r; n -= (size_t)r; continue; }
      w = ssl_wait(t, r);
      if (w == 1) continue;
      if (w == 0) errno = EPIPE;
      return -1;
    } else {
      ssize_t r = write(t->wfd, p, n);
      if (r >= 0) { p += r; n -= (size_t)r; continue; }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      if (wait_fd(t, t->wfd, POLLOUT) == -1) return -1;
    }
  }
  return 0;
}

int tls_flush(struct tls *t)
{
  size_t n = t->wlen;
  if (!n) return 0;
  t->wlen = 0;
  return raw_write(t, t->wbuf, n);
}

int tls_write(struct tls *t, const void *p, size_t n)
{
  if (n > sizeof t->wbuf - t->wlen) {
    if (tls_flush(t) == -1) return -1;
    if (n > sizeof t->wbuf) return raw_write(t, p, n);
  }
  memcpy(t->wbuf + t->wlen, p, n);
  t->wlen += n;
  return 0;
}

int tls_puts(struct tls *t, const char *s) { return tls_write(t, s, strlen(s)); }

int tls_write_all(struct tls *t, const void *p, size_t n)
{
  if (tls_write(t, p, n) == -1) return -1;
  return tls_flush(t);
}

int tls_peek(struct tls *t, const char **p, size_t *n)
{
  if (t->rpos == t->rlen) {
    ssize_t r;
    /* About to wait for the peer: it must first have all our replies. */
    if (tls_flush(t) == -1) return -1;
    t->rpos = t->rlen = 0;
    r = raw_read(t, t->rbuf, sizeof t->rbuf);
    if (r == -1) return -1;
    t->rlen = (size_t)r;
  }
  *p = t->rbuf + t->rpos;
  *n = t->rlen - t->rpos;
  return 0;
}

void tls_consume(struct tls *t, size_t n)
{
  if (n > t->rlen - t->rpos) n = t->rlen - t->rpos;
  t->rpos += n;
}

size_t tls_pending(const struct tls *t) { return t->rlen - t->rpos; }
void tls_drop(struct tls *t) { t->rpos = t->rlen = 0; }

ssize_t tls_read(struct tls *t, void *p, size_t n)
{
  const char *q;
  size_t have;
  if (!n) return 0;
  if (tls_peek(t, &q, &have) == -1) return -1;
  if (have > n) have = n;
  memcpy(p, q, have);
  tls_consume(t, have);
  return (ssize_t)have;
}

int tls_getline(struct tls *t, struct buf *b, size_t max)
{
  int too_long = 0;
  buf_trunc(b, 0);
  for (;;) {
    const char *p, *nl;
    size_t n, take;
    if (tls_peek(t, &p, &n) == -1) return -1;
    if (n == 0) return 0;
    nl = memchr(p, '\n', n);
    take = nl ? (size_t)(nl - p) + 1 : n;
    if (!too_long) {
      if (take > max - b->len) {
        too_long = 1;         /* keep reading to the end of the line, keep nothing */
        buf_trunc(b, 0);
      } else if (buf_add(b, p, take) == -1)
        return -1;
    }
    tls_consume(t, take);
    if (nl) {
      if (too_long) return errno = E2BIG, -1;
      return 1;
    }
  }
}
