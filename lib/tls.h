#ifndef TLS_H
#define TLS_H
/* tls.h: buffered I/O on one connection, in clear or under TLS (OpenSSL),
   with a time limit on every wait.  Server mode (smtp-recv's STARTTLS on
   fds 0/1) and client mode (an SMTP client's STARTTLS) share the code.
   The fds are made non-blocking and never closed here.  Output is buffered
   until tls_flush, or until a read has to wait for the peer (so pipelined
   replies go out together).  Errors: -1 with errno (ETIMEDOUT when the
   peer was silent for the timeout, EPROTO for a TLS failure, whose OpenSSL
   text is in t->err).  Write to a peer that closed: EPIPE (the caller
   ignores SIGPIPE). */
#include <stddef.h>
#include <sys/types.h>
#include "buf.h"

#define TLS_RBUF 16384             /* input buffer */
#define TLS_WBUF 16384             /* output buffer */
#define TLS_ERR_MAX 160            /* t->err, OpenSSL's reason text */

struct ssl_ctx_st;                 /* OpenSSL's SSL_CTX and SSL */
struct ssl_st;

struct tls {
  int rfd, wfd;
  int timeout;                     /* seconds a wait may last; 0: forever */
  int is_server;
  struct ssl_ctx_st *ctx;          /* set by tls_server_init/tls_client_init */
  struct ssl_st *ssl;              /* set once tls_start succeeded */
  size_t rpos, rlen;               /* unread input is rbuf[rpos..rlen) */
  size_t wlen;
  char err[TLS_ERR_MAX];
  char rbuf[TLS_RBUF];
  char wbuf[TLS_WBUF];
};

/* Clear-text I/O on rfd/wfd (may be equal), made non-blocking.  0 or -1. */
int tls_init(struct tls *t, int rfd, int wfd, int timeout);
/* Get ready for TLS as a server with this certificate chain and key (PEM
   files), TLS 1.2 or later.  No I/O.  0, or -1 (errno from the files, or
   EPROTO with t->err). */
int tls_server_init(struct tls *t, const char *certfile, const char *keyfile);
/* Get ready for TLS as a client.  cafile: 0 to skip verification
   (opportunistic TLS), "" for the system's CAs, or a PEM file.  The
   handshake never fails for an unverified peer: ask tls_verified. */
int tls_client_init(struct tls *t, const char *cafile);
/* Handshake now, on what follows in the byte stream.  Unread clear-text
   input must have been dropped (tls_drop) or consumed first: it is refused
   with EPROTO, never carried into the TLS session.  servername: client SNI
   and name to verify (0: none).  0 or -1. */
int tls_start(struct tls *t, const char *servername);
int tls_is_on(const struct tls *t);
const char *tls_version(const struct tls *t);   /* "TLSv1.3", or "" */
const char *tls_cipher(const struct tls *t);    /* cipher name, or "" */
int tls_verified(const struct tls *t);          /* client: 1 if the peer's name and chain verified */
/* Release TLS state (close_notify sent, best effort).  The fds stay open. */
void tls_close(struct tls *t);

/* Input.  tls_peek: make input available (waiting for it if none is
   buffered) and point *p at it: *n > 0, or *n == 0 at end of input;
   nothing is consumed.  0 or -1. */
int tls_peek(struct tls *t, const char **p, size_t *n);
void tls_consume(struct tls *t, size_t n);      /* n <= what tls_peek gave */
size_t tls_pending(const struct tls *t);        /* input buffered, unread */
void tls_drop(struct tls *t);                   /* forget buffered input */
ssize_t tls_read(struct tls *t, void *p, size_t n);  /* 0 at end of input */
/* Read one line, up to and including '\n', into b (emptied first).
   1: a line of at most max bytes.  0: end of input (b holds any partial
   line).  -1: error, or errno E2BIG for a longer line, which was read to
   its '\n' and thrown away so the stream stays in step. */
int tls_getline(struct tls *t, struct buf *b, size_t max);

/* Output, buffered.  0 or -1. */
int tls_write(struct tls *t, const void *p, size_t n);
int tls_puts(struct tls *t, const char *s);
int tls_flush(struct tls *t);
int tls_write_all(struct tls *t, const void *p, size_t n);  /* write + flush */
#endif
