#ifndef EVENT_H
#define EVENT_H
/* event.h: delivery events (the delivery and error logs) in the tables of tbl.h.

   One event per message, recipient and state change: queued, succeeded,
   failed, deferred.  Stored in table "event" keyed by tenant, time and a
   sequence number; indexes by message id for "show a message's events".
   (The report store issue extends the indexes; the record stays.) */
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
  const char *tenant, *composition;
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

/* Record e inside x (x may be 0).  Strings may be 0 for "".  0 or -1. */
int event_add(struct tbl *t, struct tbl_txn *x, const struct event *e);

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
#endif
