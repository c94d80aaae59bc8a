#ifndef EVENT_H
#define EVENT_H
/* event.h: delivery events (the delivery and error logs) in the tables of
   tbl.h, with the indexes the reports search by and the statistics they
   count (doc/tables.md, doc/reports.md).

   One event per message, recipient and state change: queued, succeeded,
   failed, deferred.  event_add stores the record, its index entries and
   its counters in one transaction.  Records are kept per tenant and
   composition in time order; the indexes find them by recipient (exact,
   and by substring through the table of the partition's addresses),
   destination domain, envelope sender, failure, deferral, our message id
   and Message-ID.  Counters are kept per UTC minute and quarter hour, so
   that a day in any time zone is a sum of whole slots.  lib/report.h
   builds the searches and the reports on this. */
#include <stddef.h>
#include "buf.h"
#include "tbl.h"

enum event_status { EV_QUEUED = 1, EV_SUCCEEDED, EV_FAILED, EV_DEFERRED };

/* Error statuses of DESIGN.md section 5. */
#define ERR_HOST_UNKNOWN 1
#define ERR_USER_UNKNOWN 2
#define ERR_RETRY_TIMEOUT 3
#define ERR_POLICY 4
#define ERR_MAILBOX_FULL 5
#define ERR_FORWARD 6
#define ERR_SERVER_CONFIG 7
#define ERR_TOO_LARGE 8
#define ERR_BAD_ADDRESS 9
#define ERR_SUPPRESSED 10
#define ERR_UNSUBSCRIBED 11
#define ERR_OTHER 99

struct event {
  long long time;            /* unix seconds */
  unsigned usec;             /* sub-second order */
  enum event_status status;
  int error;                 /* error status, 0 when none */
  const char *tenant, *composition;   /* composition 0 or "": "default" */
  const char *id;            /* our message id (spool id) */
  const char *message_id;    /* Message-ID header, with <>, or "" */
  const char *sender;        /* envelope sender */
  const char *from;          /* header From address, or "" */
  const char *rcpt;
  const char *subject;       /* decoded Subject, or "" */
  const char *api_data;      /* X-Api-Data header, or "" */
  const char *reply;         /* SMTP reply or diagnostic, or "" */
  const char *remote;        /* remote host name [ip], or "" */
  const char *sender_ip;     /* our outbound IP, or "" */
  const char *source_ip;     /* relay source / API client IP, or "" */
  const char *user;          /* API / SMTP AUTH user, or "" */
};

const char *event_status_name(enum event_status s);   /* "queued", ... */
int event_status_parse(const char *s);                 /* -1 if unknown */

/* Record e with its index entries and counters inside x; with x == 0 in
   a transaction of its own (retried on deadlock).  Strings may be 0 for
   "".  0 or -1 (EINVAL: no tenant or id, bad names or status). */
int event_add(struct tbl *t, struct tbl_txn *x, const struct event *e);
/* The same for n events in one transaction, each counter row written
   once (the cheaper way to record a batch). */
int event_add_many(struct tbl *t, struct tbl_txn *x, const struct event *e, size_t n);

/* The entries event_add writes for in, for a loader that writes each
   table in key order (report-import -S): fn(ctx, table, key, value, how)
   for the record, its index entries, the Message-ID entry and the
   address table entries (how EVENT_ENTRY_ONCE: to be written if absent,
   many events give the same), and the three counter rows (how
   EVENT_ENTRY_COUNT: the value is counts to add).  seq makes the key
   unique (event_add uses tbl_uniq); late: a failure is a late bounce (the
   caller knows the events before).  fn returns 0 or -1.  0 or -1. */
#define EVENT_ENTRY_PUT 0
#define EVENT_ENTRY_ONCE 1
#define EVENT_ENTRY_COUNT 2
typedef int event_entry_fn(void *ctx, const char *table, const void *k, size_t kn,
                           const void *v, size_t vn, int how);
int event_entries(const struct event *in, unsigned long long seq, int late,
                  event_entry_fn *fn, void *ctx);

/* Decode one stored record (v, vn as tbl_walk gives it) into e; strings
   point into scratch.  0 or -1 EINVAL. */
int event_decode(struct event *e, const void *v, size_t vn, struct buf *scratch);

/* Call fn for each event of message id (our id), oldest first.  fn
   returning non-zero stops: > 0 is returned, < 0 gives -1. */
typedef int event_fn(void *ctx, const struct event *e);
int event_by_id(struct tbl *t, const char *tenant, const char *id, event_fn *fn, void *ctx);
/* Call fn for each event of tenant with from <= time <= to (unix
   seconds), oldest first, or newest first with reverse.  fn as above. */
int event_range(struct tbl *t, const char *tenant, long long from, long long to,
                int reverse, event_fn *fn, void *ctx);

/* ---- counters (table event_stat) ---- */

/* One set per slot, tenant, composition and API user (and destination
   domain, for the domain rows).  FAILED counts failures that are neither
   blocked (error status 10 or 11: BLOCKED) nor late bounces (a failure
   of a recipient whose success was recorded before: LATE).  ERR + i
   counts every failure by error status (event_err_index). */
enum event_counter {
  EVC_QUEUED, EVC_SUCCEEDED, EVC_FAILED, EVC_DEFERRED, EVC_BLOCKED, EVC_LATE, EVC_ERR
};
#define EVC_NERR 12
#define EVC_N (EVC_ERR + EVC_NERR)
struct event_counts { unsigned long long n[EVC_N]; };
int event_err_index(int error);      /* 1..11 -> 0..10, anything else -> 11 (99) */
int event_err_code(int index);       /* the inverse */

#define EVENT_SLOT_MINUTE 'm'         /* 60 s slots */
#define EVENT_SLOT_QUARTER 'q'        /* 900 s slots */
#define EVENT_SLOT_DOMAIN 'D'         /* 900 s slots per destination domain */
#define EVENT_MINUTE 60
#define EVENT_QUARTER 900

/* Call fn for each counter row of tenant of kind with from <= slot < to
   (the slot's first second), in slot order; domain is "" except for
   EVENT_SLOT_DOMAIN.  Read in short transactions of a few hundred rows.
   fn as for event_range. */
typedef int event_stat_fn(void *ctx, long long slot, const char *domain, const char *comp,
                          const char *user, const struct event_counts *c);
int event_stat_walk(struct tbl *t, const char *tenant, int kind, long long from, long long to,
                    event_stat_fn *fn, void *ctx);

/* ---- what is there ---- */

typedef int event_name_fn(void *ctx, const char *name);
/* Compositions of tenant that have events; tenants that have events or
   counters.  In byte order.  fn as above. */
int event_comps(struct tbl *t, const char *tenant, event_name_fn *fn, void *ctx);
int event_tenants(struct tbl *t, event_name_fn *fn, void *ctx);
/* Our ids of the messages of tenant with this Message-ID (as stored:
   with its angle brackets).  fn as above. */
int event_ids_of_message(struct tbl *t, const char *tenant, const char *message_id,
                         event_name_fn *fn, void *ctx);
/* Where s (compared in ASCII lower case) occurs in the recipients of
   partition tenant/comp: domain_fn for each destination domain with s in
   "@DOMAIN" (all its recipients match), addr_fn for each other recipient
   (lower case) that contains s, each once, at most max of those: 0 when
   that was all, 1 when there are more than max (addr_fn saw max) or s
   is too short for the table (3 bytes or less), -1. */
int event_addr_find(struct tbl *t, const char *tenant, const char *comp, const char *s,
                    size_t max, event_name_fn *addr_fn, event_name_fn *domain_fn, void *ctx);

/* ---- scans: events from index ranges, merged in time order ---- */

enum event_ix {
  EVENT_IX_TIME,             /* every event of the partition */
  EVENT_IX_RCPT,             /* value: a recipient, exact (case ignored) */
  EVENT_IX_DOMAIN,           /* value: a destination domain (case ignored) */
  EVENT_IX_SENDER,           /* value: an envelope sender (case ignored) */
  EVENT_IX_FAILED,           /* failures: the error log */
  EVENT_IX_DEFERRED,
  EVENT_IX_ID                /* value: our message id; comp may be 0 (any) */
};
struct event_scan;
/* 1: e is wanted; 0: not. */
typedef int event_match_fn(void *ctx, const struct event *e);
/* A scan of tenant's events with from <= time < to (unix seconds), newest
   first unless oldest_first.  Add ranges, then take events one by one:
   each range is read in short transactions of up to a few hundred keys,
   so that a scan never holds locks for long (and sees events committed
   while it runs, as a log does).  0 or -1. */
int event_scan_new(struct event_scan **s, struct tbl *t, const char *tenant,
                   long long from, long long to, int oldest_first);
int event_scan_add(struct event_scan *s, enum event_ix ix, const char *comp, const char *value);
/* Only events with this status (0: any) and error status (0: any), and
   for which fn (may be 0) says 1. */
void event_scan_filter(struct event_scan *s, int status, int error, event_match_fn *fn, void *ctx);
/* 1 and the next event in e (strings valid until the next call), 0 at
   the end, -1 on error. */
int event_scan_next(struct event_scan *s, struct event *e);
/* Pass over the next n index entries without reading their records (a
   later page): exact only when the filters are all decided by the index,
   i.e. status and error status on any range but an ID range, and fn on
   the time range.  0 or -1. */
int event_scan_skip(struct event_scan *s, size_t n);
void event_scan_free(struct event_scan *s);

/* ---- loading in key order (lib/event_bulk.c) ---- */

/* For large loads into a quiet installation (restores, benchmarks): the
   entries of event_add, the records written at once (give events in time
   order), every other table kept in memory (some 300 bytes an event) and
   written in key order by event_bulk_finish, in large transactions
   committed lazily (checkpoint afterwards).  event_bulk_finish may be
   called every so many events (event_bulk_pending) to bound the memory;
   the loader goes on after it.  Late bounces are those of successes
   loaded before by the same loader.  0 or -1. */
struct event_bulk;
int event_bulk_new(struct event_bulk **b, struct tbl *t);
int event_bulk_add(struct event_bulk *b, const struct event *e);
size_t event_bulk_pending(const struct event_bulk *b);
int event_bulk_finish(struct event_bulk *b);
void event_bulk_free(struct event_bulk *b);

/* ---- purge (lib/event_purge.c) and verification (lib/event_verify.c) ---- */

/* 1: the events of message id must stay (deliver still has it). */
typedef int event_keep_fn(void *ctx, const char *id);
struct event_purge {
  size_t removed;            /* events removed */
  size_t kept;               /* events left for keep() */
  size_t addresses;          /* recipients gone from the address table */
  size_t messages;           /* Message-ID entries removed */
  int resumed;               /* resume is valid: start after it */
  unsigned char resume[16];
};
/* Remove up to max of the oldest events of tenant/comp older than before
   (unix seconds), with their index entries, in one transaction.  keep
   may be 0.  1: there may be more; 0: none left older than before; -1. */
int event_purge(struct tbl *t, const char *tenant, const char *comp, long long before,
                size_t max, event_keep_fn *keep, void *ctx, struct event_purge *p);
/* Time of the oldest event of tenant/comp at or after the resume point
   of p (p may be 0): 0 found, 1 none, -1. */
int event_oldest(struct tbl *t, const char *tenant, const char *comp,
                 const struct event_purge *p, long long *time);
/* Remove up to max counter rows of tenant of kind with slot < before, in
   one transaction; *removed counts them.  1 more may remain, 0 done, -1. */
int event_stat_purge(struct tbl *t, const char *tenant, int kind, long long before,
                     size_t max, size_t *removed);

struct event_verify {
  unsigned long long events;       /* records read */
  unsigned long long missing;      /* index entries a record should have but has not */
  unsigned long long orphans;      /* index entries without their record */
  unsigned long long counters;     /* counter rows that differ from a recount */
  unsigned long long bad;          /* records that do not decode */
};
/* Check tenant's indexes and counters against its records (a recount of
   every counter row in from <= slot < to).  0 (see v) or -1. */
int event_verify(struct tbl *t, const char *tenant, long long from, long long to,
                 struct event_verify *v);
#endif
