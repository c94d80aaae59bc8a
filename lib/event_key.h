#ifndef EVENT_KEY_H
#define EVENT_KEY_H
/* event_key.h: the key layouts of the event tables (doc/tables.md), for
   lib/event.c, lib/event_scan.c, lib/event_purge.c only; everyone else
   goes through event.h and report.h.
     event       P TS                         -> the record (event.c)
     event_id    TENANT \0 ID \0 TS           -> COMP \0 STATUS
     event_ix    P 'r' RCPT \0 TS             -> STATUS ERROR      recipient
                 P 'd' DOMAIN \0 TS           -> STATUS ERROR      its domain
                 P 's' SENDER \0 TS           -> STATUS ERROR      envelope sender
                 P 'f' TS                     -> ERROR             failed (error log)
                 P 'w' TS                     -> ERROR             deferred
     event_mid   TENANT \0 MESSAGE-ID \0 ID   -> empty
     event_addr  P 's' SUFFIX \0 PREFIX       -> empty  (PREFIX SUFFIX = a recipient)
                 P 'l' RCPT                   -> empty  (longer than EVENT_ADDR_SUFFIX_MAX)
     event_stat  TENANT \0 'm' SLOT \0 COMP \0 USER            -> counters
                 TENANT \0 'q' SLOT \0 COMP \0 USER            -> counters
                 TENANT \0 'D' SLOT \0 DOMAIN \0 COMP \0 USER  -> counters
   P is TENANT \0 COMP \0; TS is EVENT_TS bytes: microseconds since the
   epoch and a sequence number, each 8 bytes big-endian, so byte order is
   time order.  RCPT, DOMAIN, SENDER: lower case (ASCII).  SLOT: the slot's
   first second, %012lld.  STATUS: one digit; ERROR: decimal, "" for 0. */
#include <stddef.h>
#include "buf.h"

#define EVT_EVENT "event"
#define EVT_ID "event_id"
#define EVT_IX "event_ix"
#define EVT_MID "event_mid"
#define EVT_ADDR "event_addr"
#define EVT_STAT "event_stat"

#define IX_RCPT 'r'
#define IX_DOMAIN 'd'
#define IX_SENDER 's'
#define IX_FAILED 'f'
#define IX_DEFERRED 'w'
#define ADDR_SUFFIX 's'
#define ADDR_LONG 'l'

#define EVENT_ADDR_SUFFIX_MAX 96   /* longer recipients: whole-address entry only */
#define EVENT_TIME_MAX 999999999999LL
#define EVENT_TXN_TRIES 20

/* ts = microseconds us and sequence seq, big-endian. */
void evk_ts(unsigned char *ts, long long us, unsigned long long seq);
long long evk_ts_us(const unsigned char *ts);
/* k = TENANT \0 COMP \0 (replacing its content). */
int evk_part(struct buf *k, const char *tenant, const char *comp);
/* Append s in ASCII lower case (without NUL). */
int evk_lower(struct buf *b, const char *s);
/* The domain of a (lower-case) address: after its last '@', or "". */
const char *evk_domain(const char *addr);
/* Index value STATUS ERROR into v (replacing). */
int evk_ixval(struct buf *v, int status, int error);
/* Parse an index value: 0, or -1 if malformed. */
int evk_ixval_parse(const void *v, size_t vn, int *status, int *error);
/* 1 if s is a valid tenant or composition name for a key. */
int evk_name_ok(const char *s);
/* Delete-or-absent: tbl_del returning 0 or 1 is fine. */
#endif
