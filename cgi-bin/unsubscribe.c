/* unsubscribe: the one-click unsubscribe endpoint (RFC 8058), a CGI
   program (RFC 3875) behind any web server (doc/programs/unsubscribe.md).
   The List-Unsubscribe URL deliver puts in marked mail carries a signed
   token (lib/dsetunsub.h) in its query, t=TOKEN.
     POST: a genuine token adds its recipient to the tenant's unsubscribe
           list for the token's filter (later mail: status 11); 200.
     GET:  a page that names the address and asks for confirmation with a
           POST button (a GET never unsubscribes: link scanners fetch URLs).
   A forged or damaged token: 403; no token or a malformed request: 400;
   the database or the secret unusable: 503.  Errors are plain text, or
   JSON when the client accepts application/json.
   Environment: the CGI variables, CMC_HOME.  Input: the body on fd 0.
   Exit 0 whenever a response was written (the status says the rest). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "buf.h"
#include "cgi.h"
#include "die.h"
#include "dsetunsub.h"
#include "home.h"
#include "io.h"
#include "suppress.h"
#include "tbl.h"
#include "tenant.h"
#include "verp.h"

static int want_json;

static void respond(const char *status, const char *type, const char *extra, const char *body)
{
  struct buf o = BUF_ZERO;
  if (buf_printf(&o, "Status: %s\r\nContent-Type: %s\r\nCache-Control: no-store\r\n%s\r\n%s",
                 status, type, extra ? extra : "", body) == -1
      || write_all(1, o.s, o.len) == -1)
    die_sys(EXIT_TEMP, "unable to write the response", 0);
  buf_free(&o);
  exit(0);
}

/* An error response; msg is our own fixed text (no request data in it). */
static _Noreturn void error(const char *status, const char *msg, const char *extra)
{
  struct buf b = BUF_ZERO;
  if (want_json) buf_printf(&b, "{\"error\":\"%s\"}\n", msg);
  else buf_printf(&b, "error: %s\n", msg);
  respond(status, want_json ? "application/json" : "text/plain; charset=utf-8", extra, b.s ? b.s : "");
  exit(0);
}

static void page(const char *token, const struct dsetunsub *u, int done)
{
  struct buf b = BUF_ZERO;
  buf_adds(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<title>Unsubscribe</title></head><body>\n");
  if (done) {
    buf_adds(&b, "<p>The address <b>");
    cgi_html(&b, u->rcpt.s);
    buf_adds(&b, "</b> has been unsubscribed.</p>\n");
  } else {
    buf_adds(&b, "<p>Unsubscribe <b>");
    cgi_html(&b, u->rcpt.s);
    buf_adds(&b, "</b> from this mail?</p>\n<form method=\"post\" action=\"?t=");
    cgi_html(&b, token);
    buf_adds(&b, "\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"
                 "<input type=\"hidden\" name=\"page\" value=\"1\">"
                 "<button type=\"submit\">Unsubscribe</button></form>\n");
  }
  if (buf_adds(&b, "</body></html>\n") == -1) die_sys(EXIT_TEMP, "out of memory", 0);
  respond("200 OK", "text/html; charset=utf-8", 0, b.s);
}

int main(void)
{
  const char *method = getenv("REQUEST_METHOD"), *qs = getenv("QUERY_STRING");
  const char *accept = getenv("HTTP_ACCEPT"), *home = getenv("CMC_HOME"), *token;
  char dbdir[4096], secret[4096];
  struct cgi form = CGI_ZERO;
  struct buf body = BUF_ZERO, line = BUF_ZERO;
  struct dsetunsub u;
  struct verp_key key;
  struct tbl *db;
  size_t len;
  int is_post, r;
  prog = "unsubscribe";
  memset(&u, 0, sizeof u);
  want_json = accept && strstr(accept, "application/json") != 0;
  if (!home || !*home) home = HOME_DEFAULT;
  if (home_path(dbdir, sizeof dbdir, home, "db") == -1
      || home_path(secret, sizeof secret, home, DSETUNSUB_SECRET) == -1)
    error("500 Internal Server Error", "bad configuration", 0);
  if (!method) error("400 Bad Request", "not a CGI request", 0);
  is_post = !strcmp(method, "POST");
  if (!is_post && strcmp(method, "GET"))
    error("405 Method Not Allowed", "use POST (or GET for the confirmation page)", "Allow: GET, POST\r\n");
  if (qs && strlen(qs) > CGI_QUERY_MAX) error("414 URI Too Long", "query too long", 0);
  if (qs && cgi_parse(&form, qs, strlen(qs)) == -1) error("400 Bad Request", "malformed query", 0);
  if (is_post) {
    if (cgi_length(getenv("CONTENT_LENGTH"), CGI_BODY_MAX, &len) == -1)
      error(errno == EFBIG ? "413 Content Too Large" : "400 Bad Request", "bad request body length", 0);
    if (read_all(0, &body, len) == -1 && errno != EFBIG) error("400 Bad Request", "unreadable body", 0);
    if (body.len > len) buf_trunc(&body, len);
    /* RFC 8058 bodies come form-encoded or multipart; only the former can
       carry the token too.  Multipart bodies are not needed: ignored. */
    if (cgi_type_is(getenv("CONTENT_TYPE"), "application/x-www-form-urlencoded")
        && cgi_parse(&form, body.s ? body.s : "", body.len) == -1)
      error("400 Bad Request", "malformed form", 0);
  }
  token = cgi_get(&form, "t");
  if (!token || !*token) error("400 Bad Request", "no token", 0);
  if (strlen(token) > DSETUNSUB_TOKEN_MAX) error("403 Forbidden", "invalid token", 0);
  if (verp_key_load(&key, secret) == -1) {
    warn_sys("unable to read ", secret);
    error("503 Service Unavailable", "temporarily unavailable", "Retry-After: 60\r\n");
  }
  r = dsetunsub_check(&key, token, strlen(token), &u);
  if (r == -1) error("503 Service Unavailable", "out of memory", "Retry-After: 60\r\n");
  if (r == 0) {
    warn("refused a forged or damaged token", 0);
    error("403 Forbidden", "invalid token", 0);
  }
  if (!is_post) page(token, &u, 0);

  if (tbl_open(&db, dbdir, 0) == -1) {
    warn_sys("unable to open ", dbdir);
    error("503 Service Unavailable", "temporarily unavailable", "Retry-After: 60\r\n");
  }
  r = suppress_unsub_add(db, 0, u.tenant.s, u.comp.s, u.rcpt.s, u.filter.s, (long long)time(0));
  if (r == -1) {
    int e = errno;
    warn_sys("unable to add to the unsubscribe list: ", u.rcpt.s);
    tbl_close(db);
    if (e == EINVAL) error("400 Bad Request", "unusable address", 0);
    error("503 Service Unavailable", "temporarily unavailable", "Retry-After: 60\r\n");
  }
  tbl_close(db);
  if (buf_printf(&line, "unsubscribe tenant=%s comp=%s filter=\"%s\" rcpt=%s%s\n", u.tenant.s,
                 u.comp.s, u.filter.s, u.rcpt.s, r == 1 ? " again=1" : "") == 0)
    write_all(2, line.s, line.len);
  if (cgi_get(&form, "page")) page(token, &u, 1);
  if (want_json) respond("200 OK", "application/json", 0, "{\"result\":\"unsubscribed\"}\n");
  respond("200 OK", "text/plain; charset=utf-8", 0, "unsubscribed\n");
  return 0;
}
