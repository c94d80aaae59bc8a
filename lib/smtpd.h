#ifndef SMTPD_H
#define SMTPD_H
/* smtpd.h: the SMTP server's protocol pieces, without I/O: command lines,
   MAIL/RCPT paths and their ESMTP parameters, the DATA byte stream (end
   of data, dot-unstuffing, line and size limits), SASL PLAIN/LOGIN
   decoding, the Received header, and the session slots that bound the
   number of concurrent sessions.  smtp-recv drives them; t/fuzz/smtpd.c
   and t/unit-smtpd.c test them. */
#include <stddef.h>
#include <time.h>
#include "buf.h"

#define SMTPD_LINE_MAX 512          /* command line with CRLF (RFC 5321 4.5.3.1.4) */
#define SMTPD_PATH_LINE_MAX 1000    /* MAIL/RCPT line with CRLF (DESIGN.md 5, addr.h) */
#define SMTPD_AUTH_LINE_MAX 12288   /* AUTH line and SASL responses (RFC 4954 4) */
#define SMTPD_TEXT_LINE_MAX 1000    /* message text line with CRLF (RFC 5321 4.5.3.1.6) */
#define SMTPD_HELO_MAX 255          /* EHLO/HELO argument */
#define SMTPD_USER_MAX 255          /* SMTP AUTH user name */

enum smtpd_verb {
  SMTPD_UNKNOWN, SMTPD_HELO, SMTPD_EHLO, SMTPD_MAIL, SMTPD_RCPT, SMTPD_DATA,
  SMTPD_RSET, SMTPD_NOOP, SMTPD_QUIT, SMTPD_VRFY, SMTPD_EXPN, SMTPD_HELP,
  SMTPD_STARTTLS, SMTPD_AUTH,
  SMTPD_FORBIDDEN                   /* an HTTP or proxy request: hang up */
};

struct smtpd_cmd {
  enum smtpd_verb verb;
  const char *arg;                  /* after the verb and its spaces; not NUL-terminated */
  size_t len;                       /* without trailing spaces and CRLF */
};

/* Split one command line p[0..n) (its CRLF or LF included or not).
   0, or -1 EINVAL for a line holding a NUL or other control character
   (TAB excepted), or a verb glued to its argument. */
int smtpd_cmd_parse(struct smtpd_cmd *c, const char *p, size_t n);
/* Longest line (CRLF included) allowed for the verb. */
size_t smtpd_line_max(enum smtpd_verb v);

/* A MAIL FROM or RCPT TO argument. */
struct smtpd_path {
  struct buf addr;                  /* internal form (addr.h), NUL-terminated */
  unsigned long long size;          /* SIZE=, when has_size */
  int has_size, is_8bitmime, is_smtputf8;
};
#define SMTPD_PATH_ZERO { BUF_ZERO, 0, 0, 0, 0 }

enum smtpd_path_err {
  SMTPD_OK = 0,
  SMTPD_ESYNTAX,                    /* 501: not FROM:<...> / TO:<...> */
  SMTPD_EADDR,                      /* 553: address malformed */
  SMTPD_EUTF8,                      /* 553 5.6.7: non-ASCII address without SMTPUTF8 */
  SMTPD_EPARAM,                     /* 555: parameter we do not offer */
  SMTPD_EVALUE,                     /* 501: bad or repeated parameter value */
  SMTPD_ENOMEM                      /* 451 */
};
/* Parse arg[0..n) of MAIL (is_mail) or RCPT.  is_esmtp: the session began
   with EHLO (parameters allowed).  utf8_ok for RCPT: the transaction's MAIL
   had SMTPUTF8 (for MAIL the command's own parameter decides).  MAIL takes
   SIZE=n, BODY=7BIT|8BITMIME, SMTPUTF8 and AUTH=... (ignored); RCPT none. */
int smtpd_path_parse(struct smtpd_path *pa, const char *arg, size_t n,
                     int is_mail, int is_esmtp, int utf8_ok);
void smtpd_path_free(struct smtpd_path *pa);
/* The reply line (no CRLF) for an error of smtpd_path_parse. */
const char *smtpd_path_reply(int err, int is_mail);

/* The message text after DATA, fed as it arrives.  The end is CR LF . CR LF
   and nothing else: a bare CR or LF never starts a line that could end the
   message (SMTP smuggling); it is passed on as it is.  A leading dot is
   removed from "..", ".x" lines after CRLF. */
struct smtpd_data {
  int state;
  size_t linelen;                   /* text bytes of the current line */
  unsigned long long size;          /* bytes passed on so far */
  int is_long;                      /* a line was over SMTPD_TEXT_LINE_MAX */
  int is_done;                      /* the end of data was read */
};
void smtpd_data_init(struct smtpd_data *d);
/* Feed p[0..n); append the message bytes to out (0: count only).  Returns
   the bytes used: all n, or fewer when the end of data came before (what
   follows is the next command), or (size_t)-1 on ENOMEM. */
size_t smtpd_data_feed(struct smtpd_data *d, const char *p, size_t n, struct buf *out);

/* SASL.  Base64 text p[0..n) decoded into out (emptied first); "=" is an
   empty response.  0, or -1 EINVAL. */
int smtpd_b64_decode(struct buf *out, const char *p, size_t n);
/* A decoded PLAIN response "authzid NUL user NUL password" (in b): user and
   password pointed to in b.  The authzid must be empty or the user.  0, or
   -1 EINVAL. */
int smtpd_plain_split(const struct buf *b, const char **user, const char **pass);
/* 1 if a user name is acceptable: 1..SMTPD_USER_MAX bytes, printable
   (ASCII or UTF-8 bytes), no spaces or controls. */
int smtpd_user_ok(const char *u, size_t n);
/* 1 if an EHLO/HELO argument is acceptable: 1..SMTPD_HELO_MAX printable
   US-ASCII bytes without spaces. */
int smtpd_helo_ok(const char *h, size_t n);

/* The protocol word of a Received header (RFC 3848, RFC 6531 7.2):
   SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA, UTF8SMTP... */
const char *smtpd_proto(int is_esmtp, int is_tls, int is_auth, int is_utf8);
enum smtpd_received { SMTPD_RCVD_NONE, SMTPD_RCVD_SHORT, SMTPD_RCVD_NORMAL };
/* Append the Received header (CRLF-terminated, folded) to b:
     SHORT:  Received: from HELO by HOST; DATE
     NORMAL: Received: from HELO (RDNS [IP]) by HOST with PROTO; DATE
   rdns 0 or "" means unknown (the IP is shown).  NONE appends nothing. */
int smtpd_received(struct buf *b, enum smtpd_received style, const char *helo,
                   const char *rdns, const char *ip, const char *host,
                   const char *proto, time_t now);

/* Session slots: files 0..n-1 in dir (created as needed), each held with
   an exclusive flock by at most one session.  Tries from slot start % n
   on.  Returns the fd holding the lock (close-on-exec; keep it open for
   the session), or -1 with errno EBUSY when every slot is taken. */
int smtpd_slot_take(const char *dir, unsigned long n, unsigned long start);
#endif
