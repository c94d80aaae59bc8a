#ifndef DQHDR_H
#define DQHDR_H
/* dqhdr.h: the header fields deliver copies into every event of a message
   (From address, decoded Subject, Message-ID, X-Api-Data), taken from the
   message as it lies in the spool (CRLF lines).  Values are unfolded, and
   made safe for one-line records: CR, LF, TAB and other control bytes
   become spaces, bytes that are not UTF-8 become '?'. */
#include <stddef.h>
#include "buf.h"

#define DQHDR_SCAN_MAX (1024 * 1024)  /* header bytes looked at */
#define DQHDR_VALUE_MAX 4096          /* bytes kept of one value */

struct dqhdr {
  struct buf from, subject, message_id, api_data;
};
#define DQHDR_ZERO { BUF_ZERO, BUF_ZERO, BUF_ZERO, BUF_ZERO }

/* Fill h from msg[0..n) (fields absent give "").  0 or -1 ENOMEM. */
int dqhdr_parse(struct dqhdr *h, const char *msg, size_t n);
void dqhdr_free(struct dqhdr *h);

/* First field name (case-insensitive) of msg[0..n), unfolded, trimmed,
   raw bytes, appended to out.  1 found, 0 absent, -1 ENOMEM. */
int dqhdr_field(const char *msg, size_t n, const char *name, struct buf *out);
/* The address of a From-style value: inside <...>, else the value without
   comments; appended to out.  0 or -1. */
int dqhdr_addr(const char *v, size_t n, struct buf *out);
/* Decode RFC 2047 encoded words (=?charset?B|Q?text?=) of v[0..n) to UTF-8
   with iconv, dropping the white space between adjacent encoded words;
   words that cannot be decoded stay as they are.  0 or -1 ENOMEM. */
int dqhdr_decode(const char *v, size_t n, struct buf *out);
/* Append v[0..n) to out made safe as described above. */
int dqhdr_clean(const char *v, size_t n, struct buf *out);
#endif
