#ifndef SMTPC_H
#define SMTPC_H
/* smtpc.h: the client side of one SMTP connection (RFC 5321), with
   STARTTLS (RFC 3207, OpenSSL, opportunistic: the peer's certificate is
   not verified) and the pure helpers it needs (reply parsing, EHLO
   keywords, dot-stuffing), which t/unit-smtpc.c tests.

   The socket is non-blocking; every read of a reply and every write has a
   deadline of c->timeout seconds.  Functions return a reply code
   (100..599), 0, or -1 with errno: ETIMEDOUT (deadline), ECONNRESET (peer
   closed), EPROTO (malformed reply, TLS failure), EMSGSIZE (reply over the
   limits), others from the system.  Writes use MSG_NOSIGNAL on plain
   sockets; the caller ignores SIGPIPE for TLS. */
#include <stddef.h>
#include <sys/socket.h>
#include "buf.h"

#define SMTPC_LINE_MAX 2048          /* one reply line, CRLF included */
#define SMTPC_REPLY_LINES_MAX 200    /* lines in one multi-line reply */
#define SMTPC_IN_MAX 8192            /* read buffer */

#define SMTPC_EXT_STARTTLS   0x01
#define SMTPC_EXT_8BITMIME   0x02
#define SMTPC_EXT_SMTPUTF8   0x04
#define SMTPC_EXT_PIPELINING 0x08
#define SMTPC_EXT_SIZE       0x10
#define SMTPC_EXT_ENHANCED   0x20    /* ENHANCEDSTATUSCODES */

struct smtpc {
  int fd;                            /* -1 when closed */
  void *ssl;                         /* SSL *, 0 until STARTTLS */
  int timeout;                       /* seconds for a reply or a write */
  int code;                          /* code of the last reply */
  struct buf reply;                  /* last reply: its lines, '\n' after each, no CR */
  unsigned ext;                      /* SMTPC_EXT_* of the last 2xx EHLO */
  unsigned long long size_max;       /* SIZE value, 0 if none given */
  char local_ip[46], remote_ip[46];  /* text forms, after smtpc_connect */
  char in[SMTPC_IN_MAX];
  size_t inpos, inlen;
};

void smtpc_init(struct smtpc *c, int timeout);
/* Connect to sa within connect_timeout seconds.  0 or -1 (ETIMEDOUT,
   ECONNREFUSED, ...).  Fills local_ip and remote_ip. */
int smtpc_connect(struct smtpc *c, const struct sockaddr *sa, socklen_t salen,
                  int connect_timeout);
/* The same from the local address local (IPv4 or IPv6 text, bound before
   connecting: a sending IP); local 0, or of another family than sa: the
   kernel's choice.  A local address that is not ours fails (EADDRNOTAVAIL). */
int smtpc_connect_from(struct smtpc *c, const struct sockaddr *sa, socklen_t salen,
                       const char *local, int connect_timeout);
/* Read one whole reply into c->reply; its code, or -1. */
int smtpc_reply(struct smtpc *c);
/* Write p[0..n) (no CRLF added).  0 or -1. */
int smtpc_put(struct smtpc *c, const void *p, size_t n);
/* Send line + CRLF and read the reply: its code, or -1. */
int smtpc_cmd(struct smtpc *c, const char *line);
/* EHLO name (falling back to HELO when EHLO gets 5xx); sets c->ext.
   The reply code, or -1. */
int smtpc_ehlo(struct smtpc *c, const char *name);
/* A client TLS context (no certificate verification), or 0 (errno ENOMEM). */
void *smtpc_tls_ctx(void);
void smtpc_tls_ctx_free(void *ctx);
/* STARTTLS: send it; on 220 do the handshake (sni: the server name, may
   be 0).  The reply code (220 once TLS is up), or -1 (EPROTO: the
   handshake failed; the connection is then unusable). */
int smtpc_starttls(struct smtpc *c, void *ctx, const char *sni);
/* Send message p[0..n) (CRLF lines) dot-stuffed, then the final ".". 0 or -1. */
int smtpc_data(struct smtpc *c, const char *p, size_t n);
/* QUIT (reply read but not required) and close. */
void smtpc_quit(struct smtpc *c);
void smtpc_close(struct smtpc *c);       /* close without QUIT; frees reply */
/* Last reply as one line (its lines joined by a space) appended to out. */
int smtpc_reply_text(const struct smtpc *c, struct buf *out);

/* --- pure helpers --- */
/* One reply line s[0..n) without CRLF: *code (200..599 style, 3 digits)
   and *last (1 if "ddd " or just "ddd", 0 if "ddd-").  0 or -1 EPROTO. */
int smtpc_reply_line(const char *s, size_t n, int *code, int *last);
/* EHLO reply lines ('\n' separated, as in c->reply) to SMTPC_EXT_* bits;
   *size the SIZE value (0 if absent or none). */
unsigned smtpc_ehlo_parse(const char *reply, size_t n, unsigned long long *size);

/* Dot-stuffing state across chunks of one message. */
struct smtpc_dot {
  int bol;                           /* at the beginning of a line */
  int cr;                            /* last byte was CR */
};
#define SMTPC_DOT_INIT { 1, 0 }
/* Append p[0..n) to out with a '.' doubled at each line start and bare LF
   or CR turned into CRLF.  0 or -1 ENOMEM. */
int smtpc_dotstuff(struct buf *out, struct smtpc_dot *d, const char *p, size_t n);
/* Append the end of data: CRLF if the last line was not ended, ".\r\n". */
int smtpc_dotstuff_end(struct buf *out, struct smtpc_dot *d);
#endif
