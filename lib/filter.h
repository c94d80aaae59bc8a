#ifndef FILTER_H
#define FILTER_H
/* filter.h: the filters of the delivery settings (doc/settings.md): a
   filter is a list of conditions, OR-ed; a condition is a header name and
   a regular expression its value must match as a whole (Java's matches():
   the pattern is anchored at both ends).  The header name matches without
   regard to case; "To" means the envelope recipient (lower-cased), not the
   To: field.  Other values are the first field of that name, unfolded,
   RFC 2047 words decoded to UTF-8, control bytes made spaces, bytes that
   are not UTF-8 made '?' (lib/dqhdr.h).  A missing field matches nothing.
   Headers that may occur several times (Received, ...) are refused when a
   filter is made, as are patterns PCRE2 cannot compile (with its message
   and the offset).  Patterns are compiled once (JIT when available); a
   match that exceeds PCRE2's match limit counts as no match. */
#include <stddef.h>
#include "buf.h"

#define FILTER_NAME_MAX 50           /* bytes of a filter name */
#define FILTER_HEADER_MAX 100        /* bytes of a header name */
#define FILTER_PATTERN_MAX 1000      /* bytes of one pattern */
#define FILTER_COND_MAX 32           /* conditions in one filter */
#define FILTER_MATCH_LIMIT 1000000   /* PCRE2 match limit per match */

struct filter;

/* 1 if a filter may name header; 0 with the reason in err (appended). */
int filter_header_ok(const char *header, struct buf *err);
/* 1 if name is a usable filter name (1..FILTER_NAME_MAX bytes, no control
   characters); 0 with the reason in err. */
int filter_name_ok(const char *name, struct buf *err);
/* 1 if pattern compiles; 0 with PCRE2's reason and offset in err. */
int filter_pattern_ok(const char *pattern, struct buf *err);

/* Compile n conditions (header[i], pattern[i]) into *f.  0, or -1 with
   errno EINVAL and the reason in err (bad header, bad pattern, n out of
   1..FILTER_COND_MAX), or ENOMEM. */
int filter_new(struct filter **f, const char *const *header,
               const char *const *pattern, size_t n, struct buf *err);
void filter_free(struct filter *f);

/* One message seen by filters: its header, its envelope recipient, and
   the values already looked up (each header decoded once per message). */
struct filter_val;
struct filter_msg {
  const char *msg;                   /* the message (header, perhaps body) */
  size_t len;
  const char *rcpt;                  /* envelope recipient, or 0 */
  struct buf to;                     /* rcpt lower-cased */
  int has_to;                        /* to is made */
  struct filter_val *val;
  size_t nval, cap;
};
/* msg[0..len) CRLF or LF lines; the header ends at the first empty line. */
void filter_msg_init(struct filter_msg *fm, const char *msg, size_t len, const char *rcpt);
/* Another recipient of the same message (header values stay cached). */
void filter_msg_rcpt(struct filter_msg *fm, const char *rcpt);
void filter_msg_free(struct filter_msg *fm);

/* 1 if one condition of f matches, 0 if none, -1 ENOMEM. */
int filter_match(const struct filter *f, struct filter_msg *fm);
/* The index of the first filter of f[0..n) that matches, -1 if none,
   -2 on ENOMEM.  Null entries are skipped. */
long filter_first(struct filter *const *f, size_t n, struct filter_msg *fm);
#endif
