#ifndef EVENT_KEY_H
#define EVENT_KEY_H
/* event_key.h: the key layouts of the event tables (doc/tables.md), for
   lib/event*.c (and lib/report.c's use of the map) only; everyone else
   goes through event.h and report.h.
     event       P TS                         -> the record (event.c)
     event_id    TENANT \0 ID \0 TS           -> COMP \0 STATUS
     event_ix    P 'r' RCPT \0 TS             -> STATUS ERROR      recipient
                 P 'd' DOMAIN \0 TS           -> STATUS ERROR      its domain
                 P 's' SENDER \0 TS           -> STATUS ERROR      envelope sender
                 P 'f' TS                     -> ERROR             failed (error log)
                 P 'w' TS                     -> ERROR             deferred
     event_mid   TENANT \0 MESSAGE-ID \0 ID   -> empty
     event_addr  P 's' SUFFIX \0 PREFIX       -> empty  (PREFIX SUFFIX = a recipient;
                                                 PREFIX is 0, 3, 6 ... bytes long, up to
                                                 the end of the local part + 2)
                 P 'l' RCPT                   -> empty  (longer than EVENT_ADDR_SUFFIX_MAX)
                 P 'D' DOMAIN                 -> empty  (the partition's domains)
     event_stat  TENANT \0 'm' SLOT \0 COMP \0 USER            -> counters
                 TENANT \0 'q' SLOT \0 COMP \0 USER            -> counters
                 TENANT \0 'D' SLOT \0 DOMAIN \0 COMP \0 USER  -> counters
   P is TENANT \0 COMP \0; TS is EVENT_TS bytes: microseconds since the
   epoch and a sequence number, each 8 bytes big-endian, so byte order is
   time order.  RCPT, DOMAIN, SENDER: lower case (ASCII).  SLOT: the slot's
   first second, %012lld.  STATUS: one digit; ERROR: decimal, "" for 0. */
#include <stddef.h>
#include "buf.h"
#include "event.h"
#include "tbl.h"

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
#define ADDR_DOMAIN 'D'

#define EVENT_ADDR_SUFFIX_MAX 96   /* longer recipients: whole-address entry only */
#define EVENT_TS 16                /* bytes of TS */
#define EVENT_ADDR_STEP 3          /* a suffix entry every this many bytes */
#define EVENT_TIME_MAX 999999999999LL
#define EVENT_TXN_TRIES 20

/* ts = microseconds us and sequence seq, big-endian. */
void evk_ts(unsigned char *ts, long long us, unsigned long long seq);
long long evk_ts_us(const unsigned char *ts);
/* t (unix seconds) clamped to 0 .. EVENT_TIME_MAX. */
long long evk_clamp(long long t);
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
/* The address table: how many suffix entries rcpt (lower case) has, the
   key of the j-th (at byte j * EVENT_ADDR_STEP), and the keys P TYPE S
   ('l', 'D'). */
size_t evk_addr_positions(const char *rcpt);
int evk_addr_key(struct buf *k, const char *tenant, const char *comp, const char *rcpt, size_t i);
int evk_addr_other(struct buf *k, const char *tenant, const char *comp, int type, const char *s);
/* 1 for a failure by error status 10 or 11 (suppressed, unsubscribed). */
int evk_is_blocked(int status, int error);
/* Count one event in c (event.h: enum event_counter). */
void evk_count(struct event_counts *c, int status, int error, int late);
/* Counter rows: "1" \0 then EVC_N decimals, each \0-ended. */
int evk_counts_encode(struct buf *v, const struct event_counts *c);
int evk_counts_decode(struct event_counts *c, const void *v, size_t vn);
int evk_statkey(struct buf *k, const char *tenant, int kind, long long slot,
                const char *domain, const char *comp, const char *user);
/* The head of a record: time, status, error, without decoding the rest.
   0, or -1 if malformed. */
int evk_head(const void *v, size_t vn, long long *time, int *status, int *error);

/* The index entries (event_id, event_ix) of a record as decoded, at ts. */
struct evk_ent {
  const char *table;
  struct buf k, v;
};
struct evk_ents {
  struct evk_ent e[5];
  size_t n;
  struct buf rcpt, sender;         /* lower case */
  const char *domain;              /* in rcpt */
};
int evk_ents_build(struct evk_ents *x, const struct event *e, const unsigned char *ts);
void evk_ents_free(struct evk_ents *x);
/* k = the event_mid key of e: 0, 1 when e has no Message-ID, -1. */
int evk_midkey(struct buf *k, const struct event *e);

/* 1 if a key of table starts with prefix (inside x, may be 0), 0 if
   none does, -1. */
int evk_any(struct tbl *t, struct tbl_txn *x, const char *table, const void *prefix, size_t n);

/* tbl_walk in short transactions of EVK_CHUNK keys each, so that a long
   walk never holds its read locks for long; fn is called for a chunk's
   entries after its transaction ended, so it may use tbl itself.  Same
   arguments and results as tbl_walk (x is always 0). */
#define EVK_CHUNK 256
int evk_walk(struct tbl *t, const char *table, const void *from, size_t fromn, int reverse,
             tbl_fn *fn, void *ctx);

/* A small hash map from byte strings to fixed-size values (zeroed when
   created), for grouping and de-duplication. */
struct evk_map {
  struct evk_slot *slot;
  size_t cap, n, vsize;
};
struct evk_slot {
  char *k;                         /* NUL-terminated copy; 0: free */
  size_t kn;
  void *v;
};
void evk_map_init(struct evk_map *m, size_t vsize);
/* The value of k, created if absent (*created = 1); 0 on ENOMEM. */
void *evk_map_get(struct evk_map *m, const void *k, size_t kn, int *created);
void *evk_map_find(const struct evk_map *m, const void *k, size_t kn);
void evk_map_free(struct evk_map *m);
#endif
