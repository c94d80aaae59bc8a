#ifndef DMARC_H
#define DMARC_H
/* dmarc.h: DMARC policy records (RFC 7489 6.3, 6.4): the record a tenant
   publishes at _dmarc.DOMAIN, and a parser for what is published there
   (doc/spf-dmarc.md).  The parser is ours (a tag list is a few lines;
   libopendmarc would bring its own DNS and a policy engine we do not
   need); t/fuzz/dmarc.c fuzzes it.

   Parsing follows 6.3 and 6.6.3: "v=DMARC1" must be the first tag, or
   the text is no DMARC record; tags are "name=value" separated by ';'
   with white space allowed around each; unknown tags are ignored; a
   known tag with a bad value, a missing p=, or a repeated tag makes the
   record invalid (with the reason).  Keywords compare without regard to
   case; v= is exact. */
#include <stddef.h>
#include "buf.h"

#define DMARC_TXT_MAX 4096           /* bytes of record looked at */
#define DMARC_URI_MAX 8              /* rua / ruf URIs kept */
#define DMARC_URI_LEN 320

enum dmarc_policy { DMARC_NONE = 0, DMARC_QUARANTINE, DMARC_REJECT };
enum dmarc_rc { DMARC_OK = 0, DMARC_NOT_DMARC, DMARC_INVALID };

struct dmarc_rec {
  int p, sp;                         /* enum dmarc_policy; sp -1 when absent (p applies) */
  char adkim, aspf;                  /* 'r' relaxed (default) or 's' strict */
  int pct;                           /* 0..100, default 100 */
  long ri;                           /* report interval, seconds, default 86400 */
  char fo[16];                       /* default "0" */
  char rua[DMARC_URI_MAX][DMARC_URI_LEN];
  size_t nrua;
  char ruf[DMARC_URI_MAX][DMARC_URI_LEN];
  size_t nruf;
};

/* Parse txt[0..n) (the TXT record's strings joined).  DMARC_OK (r
   filled), DMARC_NOT_DMARC, or DMARC_INVALID with the reason appended to
   why. */
int dmarc_parse(const char *txt, size_t n, struct dmarc_rec *r, struct buf *why);
const char *dmarc_policy_name(int p);          /* "none", "quarantine", "reject" */
int dmarc_policy_parse(const char *s);         /* enum, or -1 */
/* The record to publish: "v=DMARC1; p=POLICY; rua=mailto:RUA; adkim=r;
   aspf=r" into out.  0, or -1 EINVAL (rua not an address) / ENOMEM. */
int dmarc_record(int policy, const char *rua, struct buf *out);
/* 1 if r's rua names mailto:addr (address compared without regard to
   case, a "!size" limit ignored), 0 if not. */
int dmarc_has_rua(const struct dmarc_rec *r, const char *addr);
#endif
