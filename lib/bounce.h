#ifndef BOUNCE_H
#define BOUNCE_H
/* bounce.h: take a bounce message apart.  bounce_parse() walks the MIME
   tree of one message (multipart, base64, quoted-printable, charsets to
   UTF-8), reads RFC 3464 delivery-status fields, and otherwise scans the
   free-form text that qmail, Exim, Sendmail, Exchange, Gmail, Yahoo,
   Japanese carriers and others send, and gives per failed recipient: the
   address, the Action and Status fields, the diagnostic text and the text
   around it (where the SMTP stage is named).  It also says when a message
   is not a bounce (auto-reply, feedback report, success notice).
   Classifying the diagnostic is classify.h's job. */
#include <stddef.h>
#include "buf.h"
#include "bounce_mime.h"

#define BOUNCE_MSG_MAX   (20 * 1024 * 1024) /* larger messages are refused */
#define BOUNCE_RCPT_MAX  64                 /* recipients reported per message */
#define BOUNCE_PART_MAX  256                /* MIME parts looked at */
#define BOUNCE_DEPTH_MAX 8                  /* nesting of multipart parts */
#define BOUNCE_NEST_MAX  3                  /* bounces inside bounces looked into */
#define BOUNCE_FIELD_MAX 4096               /* header fields read per entity */
#define BOUNCE_TEXT_MAX  (256 * 1024)       /* human-readable report text kept */
#define BOUNCE_ADDR_MAX  256
#define BOUNCE_DIAG_MAX  2048
#define BOUNCE_CTX_MAX   512

/* What the message is (struct bounce.kind). */
enum bounce_kind {
  BOUNCE_FAILURE = 0,     /* a bounce: rcpt[] says who and why */
  BOUNCE_AUTOREPLY,       /* vacation, out-of-office, other RFC 3834 replies */
  BOUNCE_FEEDBACK,        /* ARF feedback report (complaint) */
  BOUNCE_DELIVERED,       /* a DSN that reports success only */
  BOUNCE_OTHER            /* not recognisably a bounce */
};

struct bounce_rcpt {
  char addr[BOUNCE_ADDR_MAX];   /* failed recipient */
  char action[16];              /* DSN Action, lowercase ("failed", "delayed"), or "" */
  char status[16];              /* DSN Status X.Y.Z, or "" */
  char dtype[16];               /* Diagnostic-Code type, lowercase ("smtp", "x-unix"), or "" */
  char rmta[BOUNCE_ADDR_MAX];   /* Remote-MTA, or "" */
  char diag[BOUNCE_DIAG_MAX];   /* diagnostic text, one line, UTF-8 */
  char ctx[BOUNCE_CTX_MAX];     /* report text about this recipient, one line */
};

struct bounce {
  enum bounce_kind kind;
  int nrcpt;
  struct bounce_rcpt rcpt[BOUNCE_RCPT_MAX];
  char subject[256];            /* decoded Subject of the report */
  char from[256];               /* From of the report, unfolded */
  /* working state, reused from one message to the next */
  struct buf msg, text, dec, tmp, dsn, inner;
  struct mime_convs convs;      /* charset converters kept open */
  const char *inner_p;          /* the first message/rfc822 part, undecoded */
  size_t inner_n;
  char inner_cte[32];
  const char *hdr_p;            /* the returned message or its header, undecoded */
  size_t hdr_n;
  char hdr_cte[32];
  int parts, is_report, is_feedback, saw_orig;
  char failed[BOUNCE_ADDR_MAX]; /* X-Failed-Recipients (first) */
  char failed_list[1024];       /* X-Failed-Recipients, lowercase */
  char orig_to[BOUNCE_ADDR_MAX];/* To: of the returned message */
  int autosub, autoreply_hdr, null_sender;
};

void bounce_init(struct bounce *b);
void bounce_free(struct bounce *b);
/* Parse the message p[0..n).  0 with b filled in (b->kind says whether it
   is a bounce), -1 with errno: EFBIG over BOUNCE_MSG_MAX, ENOMEM. */
int bounce_parse(struct bounce *b, const char *p, size_t n);
/* Name of a kind for people: "bounce", "auto-reply", "feedback-report",
   "delivered", "not-a-bounce". */
const char *bounce_kind_name(enum bounce_kind k);
#endif
