#ifndef REPORT_H
#define REPORT_H
/* report.h: the searches and reports of the delivery and error logs
   (spec/api.md sections 4-5, spec/console.md section 7) on the event
   store of event.h, and their output as a table, CSV or JSON.  Used by
   bin/report and the CGI programs.  Design and figures: doc/reports.md.

   Time: every range is [from, to) in unix seconds.  Dates and times are
   read and written in the process's time zone (localtime_r, mktime): a
   program sets TZ once, in main(), to the tenant's (or API user's) zone
   before it calls these; the library never touches the environment. */
#include <stddef.h>
#include "buf.h"
#include "event.h"
#include "tbl.h"

#define REPORT_ZONE_DEFAULT "Asia/Tokyo"
#define REPORT_ZONEINFO "/usr/share/zoneinfo"
#define REPORT_ROWS_MAX 100000    /* rows of one page */
#define REPORT_ADDR_MAX 2000      /* recipients a substring search merges */

/* ---- dates (process time zone) ---- */

/* 1 if name is a time zone: [A-Za-z0-9_+-] parts joined by '/', no "..",
   and a file of that name under dir (REPORT_ZONEINFO). */
int report_zone_ok(const char *dir, const char *name);
/* "YYYY-MM-DD", "YYYY-MM-DD HH:MM" or "YYYY-MM-DD HH:MM:SS" (also with
   'T') to local time: 0, or -1 EINVAL. */
int report_parse_time(const char *s, long long *t);
/* Local midnights of n consecutive days from y-m-d: b[0..n]. */
int report_days(int y, int m, int d, size_t n, long long *b);
/* The local date of t. */
int report_date(long long t, int *y, int *m, int *d);
/* t as "YYYY-MM-DD HH:MM:SS" (seconds 0: "YYYY-MM-DD HH:MM"; date_only:
   "YYYY-MM-DD"), local time, into out (n >= 20). */
void report_time_text(long long t, int seconds, int date_only, char *out, size_t n);
/* "30m", "6h", "1d", "90" (minutes) to seconds: 0, or -1 EINVAL. */
int report_parse_period(const char *s, long long *secs);

/* ---- the delivery and error logs ---- */

#define REPORT_FULL_RCPT 1        /* exact match instead of a substring */
#define REPORT_FULL_SENDER 2
#define REPORT_FULL_FROM 4
#define REPORT_FULL_API_DATA 8

struct report_query {
  const char *tenant;
  const char *comp;               /* 0: every composition */
  const char *user;               /* 0: any; else only this API user's mail */
  long long from, to;             /* from <= time < to */
  int errors;                     /* the error log: failures only */
  int status;                     /* 0 any, or enum event_status */
  int error;                      /* 0 any, or an error status */
  const char *rcpt;               /* recipient (case ignored) */
  const char *sender;             /* envelope sender (Return-Path) */
  const char *from_addr;          /* header From */
  const char *api_data;           /* X-Api-Data */
  const char *subject;            /* substring */
  const char *message_id;         /* exact; with or without <> */
  const char *id;                 /* our message id, exact */
  const char *domain;             /* destination domain, exact (case ignored) */
  unsigned full;                  /* REPORT_FULL_*: substring otherwise */
  size_t page, rows;              /* p and r; rows 0: every match, no paging */
  int oldest_first;               /* newest first otherwise */
  size_t addr_max;                /* 0: REPORT_ADDR_MAX (tests set others) */
};

/* How a list was found, for diagnostics and the benchmark. */
struct report_plan {
  const char *path;               /* "time", "rcpt", "rcpt-substring", "domain", ... */
  size_t ranges;                  /* index ranges merged */
};

/* Call fn for each event of page q->page (q->rows a page) of the events
   that match q, in time order.  *more (may be 0): 1 if a later page has
   events.  fn as event.h's (non-zero stops).  0, or -1 (EINVAL: bad
   query). */
int report_list(struct tbl *t, const struct report_query *q, event_fn *fn, void *ctx,
                int *more, struct report_plan *plan);

/* ---- statistics ---- */

/* Counters summed over [b[i], b[i+1]) for i < n into out[i], of tenant,
   composition comp (0: all) and API user (0: all).  Bounds on quarter
   hours are read from the quarter-hour rows, others (whole minutes) from
   the minute rows; anything else is EINVAL. */
int report_stats(struct tbl *t, const char *tenant, const char *comp, const char *user,
                 const long long *b, size_t n, struct event_counts *out);
/* The statistics record of spec/api.md 4.3. */
unsigned long long report_valid(const struct event_counts *c);     /* succeeded + failed */

struct report_domain {
  char *domain;
  struct event_counts c;
};
/* Counters per destination domain in [from, to), rounded outward to
   quarter hours; domain (0: all) picks one.  Sorted by traffic, busiest
   first.  *out is malloc'd: report_domains_free. */
int report_domains(struct tbl *t, const char *tenant, const char *comp, const char *user,
                   long long from, long long to, const char *domain,
                   struct report_domain **out, size_t *n);
void report_domains_free(struct report_domain *d, size_t n);

/* ---- output ---- */

enum report_format { REPORT_TABLE, REPORT_CSV, REPORT_JSON };
int report_format_parse(const char *s);                     /* -1 if unknown */

/* Rows of named columns: TABLE is tab-separated with a header line (TAB
   and line ends inside a value become spaces), CSV is RFC 4180 with a
   header line, JSON is {"ROOT":[{"col":value,...},...]} (numeric columns
   as numbers).  Text is UTF-8; invalid sequences become U+FFFD. */
struct report_out {
  enum report_format fmt;
  const char *root;
  const char *const *cols;
  const int *numeric;             /* per column, may be 0 */
  size_t ncols, rows;
  struct buf *b;
};
int report_out_begin(struct report_out *o, struct buf *b, enum report_format fmt,
                     const char *root, const char *const *cols, const int *numeric, size_t ncols);
int report_out_row(struct report_out *o, const char *const *vals);
int report_out_end(struct report_out *o);

/* The columns of the delivery log and the error log (spec/api.md 4.3);
   with all, our own after them. */
#define REPORT_LOG_COLS_MAX 16
size_t report_log_cols(int errors, int all, const char **cols);
/* The values of e for those columns; text (times) goes into scratch,
   which must stay until the row is written. */
size_t report_log_row(int errors, int all, const struct event *e, char *scratch, size_t n,
                      const char **vals);
#endif
