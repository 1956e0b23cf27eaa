/*
 * wasibin.h: write wasibin handlers in C. One header, no library.
 *
 * A wasibin plugin is a WASI command: the request arrives as CGI variables
 * (RFC 3875) in the environment and the body on stdin; the response leaves on
 * stdout as a CGI header block, a blank line and the body. This header wraps
 * both sides so that headers are always well formed: a value with CR, LF or
 * NUL is refused (the call returns -1, writes nothing and says why on stderr,
 * which the host logs) instead of splitting the header block.
 *
 *     #include "wasibin.h"
 *     int main(void) {
 *         char *name = wb_query("name");
 *         wb_header("Content-Type", "text/plain; charset=utf-8");
 *         wb_printf("Hello, %s!\n", name ? name : "world");
 *         free(name);
 *         return 0;
 *     }
 *
 * Build: clang-19 --target=wasm32-wasi -O2 -s -I guest-sdk/c -o hello.wasm hello.c
 *
 * Strings returned as `char *` are malloc'd and NUL-terminated: free() them.
 * Strings returned as `const char *` belong to the environment: never free.
 * Everything is `static inline`, so a plugin pays only for what it calls.
 */
#ifndef WASIBIN_H
#define WASIBIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The largest body wb_body() accepts; the host bounds the body too, this
 * keeps a lying CONTENT_LENGTH, or a body streamed without one, from making
 * the guest allocate without end. */
#ifndef WB_MAX_BODY
#define WB_MAX_BODY (16u * 1024u * 1024u)
#endif

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

static inline char *wb__dup(const char *s, size_t len) {
    char *out = (char *)malloc(len + 1);
    if (out) {
        memcpy(out, s, len);
        out[len] = '\0';
    }
    return out;
}

static inline int wb__hex(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static inline int wb__lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/* Case-insensitive compare of `len` bytes of `a` with the NUL-terminated `b`. */
static inline int wb__ieq(const char *a, size_t len, const char *b) {
    size_t i;
    for (i = 0; i < len; i++) {
        if (b[i] == '\0' || wb__lower((unsigned char)a[i]) != wb__lower((unsigned char)b[i])) return 0;
    }
    return b[len] == '\0';
}

/* Whether the media type of header value `ct` (before any ';') is `type`. */
static inline int wb__media_is(const char *ct, const char *type) {
    size_t n = strlen(type);
    while (*ct == ' ' || *ct == '\t') ct++;
    if (strlen(ct) < n || !wb__ieq(ct, n, type)) return 0;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t';
}

/* Decodes an application/x-www-form-urlencoded component: '+' is a space,
 * %XX a byte, a '%' without two hex digits stays literal. */
static inline char *wb_url_decode(const char *s, size_t len) {
    char *out = (char *)malloc(len + 1);
    size_t i, o = 0;
    if (!out) return NULL;
    for (i = 0; i < len; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < len && wb__hex((unsigned char)s[i + 1]) >= 0 &&
                   wb__hex((unsigned char)s[i + 2]) >= 0) {
            out[o++] = (char)(wb__hex((unsigned char)s[i + 1]) * 16 + wb__hex((unsigned char)s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* Percent-encodes all but RFC 3986's unreserved characters: safe in a URL,
 * a form and a cookie value, undone by wb_url_decode(). */
static inline char *wb_url_encode(const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(s), i, o = 0;
    char *out = (char *)malloc(len * 3 + 1);
    if (!out) return NULL;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

/* Escapes & < > " ' so that text from the request is inert inside HTML
 * content and quoted attributes. */
static inline char *wb_html_escape(const char *s) {
    size_t len = strlen(s), i, o = 0;
    char *out = (char *)malloc(len * 6 + 1);
    if (!out) return NULL;
    for (i = 0; i < len; i++) {
        const char *rep = NULL;
        switch (s[i]) {
            case '&': rep = "&amp;"; break;
            case '<': rep = "&lt;"; break;
            case '>': rep = "&gt;"; break;
            case '"': rep = "&quot;"; break;
            case '\'': rep = "&#39;"; break;
            default: break;
        }
        if (rep) {
            size_t r = strlen(rep);
            memcpy(out + o, rep, r);
            o += r;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* ------------------------------------------------------------------------ */
/* The request                                                              */
/* ------------------------------------------------------------------------ */

/* A CGI variable, or "" when absent (so it can go straight to printf). */
static inline const char *wb_env(const char *name) {
    const char *v = getenv(name);
    return v ? v : "";
}

static inline const char *wb_method(void) {
    const char *m = getenv("REQUEST_METHOD");
    return (m && *m) ? m : "GET";
}
static inline const char *wb_script_name(void) { return wb_env("SCRIPT_NAME"); }
static inline const char *wb_path_info(void) { return wb_env("PATH_INFO"); }
static inline const char *wb_query_string(void) { return wb_env("QUERY_STRING"); }
static inline const char *wb_content_type(void) { return wb_env("CONTENT_TYPE"); }

/* Request header `name` ("User-Agent"), from its HTTP_* variable; NULL when
 * absent. Repeated headers arrive joined with ", " (cookies with "; "). */
static inline const char *wb_request_header(const char *name) {
    char key[128];
    size_t i, n = strlen(name), o = 5;
    if (wb__ieq(name, n, "content-type")) return getenv("CONTENT_TYPE");
    if (wb__ieq(name, n, "content-length")) return getenv("CONTENT_LENGTH");
    if (n + 6 > sizeof key) return NULL;
    memcpy(key, "HTTP_", 5);
    for (i = 0; i < n; i++) {
        char c = name[i];
        key[o++] = (char)(c == '-' ? '_' : (c >= 'a' && c <= 'z') ? c - 32 : c);
    }
    key[o] = '\0';
    return getenv(key);
}

/* The first value of `name` in urlencoded `data` (a query string or a form
 * body), decoded; NULL when absent. */
static inline char *wb_param(const char *data, size_t len, const char *name) {
    size_t start = 0;
    while (start <= len) {
        size_t end = start, eq;
        while (end < len && data[end] != '&') end++;
        eq = start;
        while (eq < end && data[eq] != '=') eq++;
        if (eq > start || end > start) {
            char *key = wb_url_decode(data + start, eq - start);
            int match = key && strcmp(key, name) == 0;
            free(key);
            if (match) {
                size_t vstart = eq < end ? eq + 1 : end;
                return wb_url_decode(data + vstart, end - vstart);
            }
        }
        start = end + 1;
    }
    return NULL;
}

/* Query parameter `name`, decoded; NULL when absent. */
static inline char *wb_query(const char *name) {
    const char *q = wb_query_string();
    return wb_param(q, strlen(q), name);
}

/* Cookie `name` from the Cookie header, as sent (not decoded); NULL when absent. */
static inline char *wb_cookie(const char *name) {
    const char *h = getenv("HTTP_COOKIE");
    size_t n = strlen(name);
    while (h && *h) {
        const char *end = strchr(h, ';'), *eq;
        if (!end) end = h + strlen(h);
        while (h < end && (*h == ' ' || *h == '\t')) h++;
        eq = (const char *)memchr(h, '=', (size_t)(end - h));
        if (eq) {
            const char *k_end = eq, *v = eq + 1, *v_end = end;
            while (k_end > h && (k_end[-1] == ' ' || k_end[-1] == '\t')) k_end--;
            if ((size_t)(k_end - h) == n && memcmp(h, name, n) == 0) {
                while (v < v_end && (*v == ' ' || *v == '\t')) v++;
                while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t')) v_end--;
                if (v_end - v >= 2 && *v == '"' && v_end[-1] == '"') {
                    v++;
                    v_end--;
                }
                return wb__dup(v, (size_t)(v_end - v));
            }
        }
        h = *end ? end + 1 : end;
    }
    return NULL;
}

/* wb_body() without CONTENT_LENGTH: stdin to end of file, at most
 * WB_MAX_BODY bytes (NULL past it, as for a CONTENT_LENGTH over it). The
 * buffer starts small and doubles, so a body-less request allocates little
 * and a long one is copied O(log n) times. */
static inline char *wb__body_to_eof(size_t *len) {
    const size_t max = (size_t)WB_MAX_BODY;
    size_t cap = max < 4096 ? max + 1 : 4096;
    size_t got = 0;
    char *buf = (char *)malloc(cap + 1);
    if (!buf) return NULL;
    for (;;) {
        size_t n;
        if (got == cap) {
            size_t next;
            char *bigger;
            if (cap > max) { /* full at max + 1 bytes: one too many arrived */
                free(buf);
                return NULL;
            }
            next = cap > max / 2 ? max + 1 : cap * 2;
            bigger = (char *)realloc(buf, next + 1);
            if (!bigger) {
                free(buf);
                return NULL;
            }
            buf = bigger;
            cap = next;
        }
        n = fread(buf + got, 1, cap - got, stdin);
        got += n;
        /* fread returns short only at end of file or on an error. */
        if (got < cap) break;
    }
    if (ferror(stdin)) {
        free(buf);
        return NULL;
    }
    buf[got] = '\0';
    if (len) *len = got;
    return buf;
}

/* The request body, NUL-terminated (so text bodies can be used as strings),
 * its length in *len: exactly CONTENT_LENGTH bytes of stdin, none when it is
 * empty, and stdin to end of file when it is absent (the host streams a
 * chunked upload that way, with HTTP_TRANSFER_ENCODING=chunked, and gives a
 * request without a body an empty stdin). An empty body returns an empty
 * string. NULL for an invalid CONTENT_LENGTH, a body over WB_MAX_BODY, a
 * truncated body, a failed read or no memory. Read it once: stdin is
 * consumed. */
static inline char *wb_body(size_t *len) {
    const char *cl = getenv("CONTENT_LENGTH");
    unsigned long long want = 0;
    size_t got = 0;
    char *buf;
    if (!cl) return wb__body_to_eof(len);
    for (; *cl; cl++) {
        if (*cl < '0' || *cl > '9') return NULL;
        want = want * 10 + (unsigned long long)(*cl - '0');
        if (want > WB_MAX_BODY) return NULL;
    }
    buf = (char *)malloc((size_t)want + 1);
    if (!buf) return NULL;
    while (got < want) {
        size_t n = fread(buf + got, 1, (size_t)want - got, stdin);
        if (n == 0) {
            free(buf);
            return NULL;
        }
        got += n;
    }
    buf[got] = '\0';
    if (len) *len = got;
    return buf;
}

/* One part of a multipart/form-data body. Text is copied into the fixed
 * buffers (cut at their size, always NUL-terminated); `data` points into the
 * body given to wb_multipart_next(). `filename` is "" and `is_file` 0 for a
 * plain field. The filename is untrusted text, never a path to open. */
typedef struct {
    char name[256];
    char filename[256];
    char content_type[128];
    int is_file;
    const char *data;
    size_t data_len;
} wb_part;

/* Iterator state over a multipart body held in memory. */
typedef struct {
    const char *body;
    size_t len;
    size_t pos;
    char delim[80]; /* "\r\n--" + boundary */
    size_t delim_len;
    int done;
} wb_multipart;

/* Finds `needle` in `hay`; the delimiter has no CR after its first byte, so
 * this scan is linear. */
static inline const char *wb__find(const char *hay, size_t hay_len, const char *needle, size_t n) {
    size_t i;
    if (n == 0 || hay_len < n) return NULL;
    for (i = 0; i + n <= hay_len; i++) {
        if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0) return hay + i;
    }
    return NULL;
}

/* Copies parameter `param` of a header value like `form-data; name="a"` into
 * out (size cap), unquoting; returns 1 if present. */
static inline int wb__header_param(const char *v, size_t len, const char *param, char *out, size_t cap) {
    size_t i = 0, plen = strlen(param);
    /* skip the first item */
    while (i < len && v[i] != ';') i++;
    while (i < len) {
        size_t k, o = 0;
        while (i < len && (v[i] == ';' || v[i] == ' ' || v[i] == '\t')) i++;
        k = i;
        while (i < len && v[i] != '=' && v[i] != ';') i++;
        {
            size_t kend = i;
            while (kend > k && (v[kend - 1] == ' ' || v[kend - 1] == '\t')) kend--;
            if (i < len && v[i] == '=') {
                int match = (kend - k == plen) && wb__ieq(v + k, plen, param);
                i++;
                while (i < len && (v[i] == ' ' || v[i] == '\t')) i++;
                if (i < len && v[i] == '"') {
                    i++;
                    while (i < len && v[i] != '"') {
                        if (v[i] == '\\' && i + 1 < len) i++;
                        if (match && o + 1 < cap) out[o++] = v[i];
                        i++;
                    }
                    i++;
                } else {
                    while (i < len && v[i] != ';') {
                        if (match && o + 1 < cap && v[i] != ' ' && v[i] != '\t') out[o++] = v[i];
                        i++;
                    }
                }
                if (match) {
                    if (cap) out[o] = '\0';
                    return 1;
                }
            }
        }
    }
    return 0;
}

/* Starts iterating `body` of type `content_type`; returns -1 if it is not
 * multipart/form-data with a valid boundary. */
static inline int wb_multipart_init(wb_multipart *mp, const char *content_type, const char *body, size_t len) {
    char boundary[72];
    size_t ct_len = strlen(content_type), blen, i;
    const char *first;
    memset(mp, 0, sizeof *mp);
    if (!wb__media_is(content_type, "multipart/form-data")) return -1;
    if (!wb__header_param(content_type, ct_len, "boundary", boundary, sizeof boundary)) return -1;
    blen = strlen(boundary);
    if (blen == 0 || blen > 70) return -1;
    for (i = 0; i < blen; i++) {
        unsigned char c = (unsigned char)boundary[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              strchr("'()+_,-./:=? ", c)))
            return -1;
    }
    memcpy(mp->delim, "\r\n--", 4);
    memcpy(mp->delim + 4, boundary, blen);
    mp->delim_len = blen + 4;
    mp->body = body;
    mp->len = len;
    if (len >= mp->delim_len - 2 && memcmp(body, mp->delim + 2, mp->delim_len - 2) == 0) {
        mp->pos = mp->delim_len - 2;
    } else {
        first = wb__find(body, len, mp->delim, mp->delim_len);
        if (!first) return -1;
        mp->pos = (size_t)(first - body) + mp->delim_len;
    }
    return 0;
}

/* The next part: 1 and *part filled, 0 at the end, -1 if the body is
 * malformed (answer 400). */
static inline int wb_multipart_next(wb_multipart *mp, wb_part *part) {
    const char *p, *end, *head_end, *next, *line;
    if (mp->done) return 0;
    p = mp->body + mp->pos;
    end = mp->body + mp->len;
    if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
        mp->done = 1;
        return 0;
    }
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n') return -1;
    p += 2;
    next = wb__find(p, (size_t)(end - p), mp->delim, mp->delim_len);
    if (!next) return -1;
    memset(part, 0, sizeof *part);
    if (next - p >= 2 && p[0] == '\r' && p[1] == '\n') return -1; /* no Content-Disposition */
    head_end = wb__find(p, (size_t)(next - p), "\r\n\r\n", 4);
    if (!head_end) return -1;
    part->data = head_end + 4;
    part->data_len = (size_t)(next - part->data);
    strcpy(part->content_type, "application/octet-stream");
    {
        int have_name = 0;
        line = p;
        while (line < head_end + 2) {
            const char *eol = wb__find(line, (size_t)(head_end + 2 - line), "\r\n", 2);
            const char *colon = (const char *)memchr(line, ':', (size_t)(eol - line));
            const char *v;
            if (!colon) return -1;
            v = colon + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) v++;
            if (wb__ieq(line, (size_t)(colon - line), "content-disposition")) {
                if ((size_t)(eol - v) < 9 || !wb__ieq(v, 9, "form-data")) return -1;
                have_name = wb__header_param(v, (size_t)(eol - v), "name", part->name, sizeof part->name);
                part->is_file =
                    wb__header_param(v, (size_t)(eol - v), "filename", part->filename, sizeof part->filename);
            } else if (wb__ieq(line, (size_t)(colon - line), "content-type")) {
                size_t n = (size_t)(eol - v);
                if (n >= sizeof part->content_type) n = sizeof part->content_type - 1;
                memcpy(part->content_type, v, n);
                part->content_type[n] = '\0';
            }
            line = eol + 2;
        }
        if (!have_name) return -1;
    }
    mp->pos = (size_t)(next - mp->body) + mp->delim_len;
    return 1;
}

/* Text field `name` of a form body, urlencoded or multipart, decoded; NULL
 * when absent or when the body is not a form. */
static inline char *wb_form(const char *body, size_t len, const char *name) {
    const char *ct = wb_content_type();
    wb_multipart mp;
    wb_part part;
    if (wb__media_is(ct, "application/x-www-form-urlencoded")) {
        return wb_param(body, len, name);
    }
    if (wb_multipart_init(&mp, ct, body, len) != 0) return NULL;
    while (wb_multipart_next(&mp, &part) == 1) {
        if (!part.is_file && strcmp(part.name, name) == 0) return wb__dup(part.data, part.data_len);
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* The response                                                             */
/* ------------------------------------------------------------------------ */

/* Where the response is: nothing written, in the header block, in the body. */
static struct {
    int phase; /* 0 none, 1 headers, 2 body */
    int content_type;
    int location;
} wb__out;

static inline const char *wb__reason(int status) {
    switch (status) {
        case 200: return "OK";
        case 201: return "Created";
        case 204: return "No Content";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 303: return "See Other";
        case 304: return "Not Modified";
        case 307: return "Temporary Redirect";
        case 308: return "Permanent Redirect";
        case 400: return "Bad Request";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 413: return "Content Too Large";
        case 415: return "Unsupported Media Type";
        case 500: return "Internal Server Error";
        default: return "";
    }
}

/* Starts the response with `status` (200..=599). Call it first, once; a
 * response without it is a 200. Returns -1 if out of range or too late. */
static inline int wb_status(int status) {
    if (wb__out.phase != 0 || status < 200 || status > 599) {
        fprintf(stderr, "wasibin.h: refused status %d\n", status);
        return -1;
    }
    printf("Status: %d %s\n", status, wb__reason(status));
    wb__out.phase = 1;
    return 0;
}

static inline int wb__is_tchar(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Adds header `name: value`. Refused (-1, nothing written) when the name is
 * not a token, is "Status", the value holds a control character (CR, LF,
 * NUL...), or the body has started. Repeatable (several Set-Cookie). */
static inline int wb_header(const char *name, const char *value) {
    const unsigned char *c;
    size_t n = strlen(name);
    if (wb__out.phase == 2 || n == 0 || wb__ieq(name, n, "status")) goto refuse;
    for (c = (const unsigned char *)name; *c; c++)
        if (!wb__is_tchar(*c)) goto refuse;
    for (c = (const unsigned char *)value; *c; c++)
        if ((*c < 0x20 && *c != '\t') || *c == 0x7f) goto refuse;
    if (wb__ieq(name, n, "location")) {
        for (c = (const unsigned char *)value; *c; c++)
            if (*c <= 0x20 || *c >= 0x7f) goto refuse;
        if (!*value) goto refuse;
        wb__out.location = 1;
    }
    if (wb__ieq(name, n, "content-type")) {
        if (wb__out.content_type) goto refuse;
        wb__out.content_type = 1;
    }
    printf("%s: %s\n", name, value);
    if (wb__out.phase == 0) wb__out.phase = 1;
    return 0;
refuse:
    fprintf(stderr, "wasibin.h: refused header %s\n", name);
    return -1;
}

/* Adds `Set-Cookie: name=value; attributes`. The value must be cookie-safe
 * (pass it through wb_url_encode() first); attributes ("Path=/; HttpOnly")
 * may be NULL. Refused (-1) like wb_header(). */
static inline int wb_set_cookie(const char *name, const char *value, const char *attributes) {
    const unsigned char *c;
    char *line;
    int rc;
    size_t size;
    if (!*name) return -1;
    for (c = (const unsigned char *)name; *c; c++)
        if (!wb__is_tchar(*c)) return -1;
    for (c = (const unsigned char *)value; *c; c++) {
        if (*c <= 0x20 || *c >= 0x7f || *c == '"' || *c == ',' || *c == ';' || *c == '\\') {
            fprintf(stderr, "wasibin.h: refused cookie %s: encode its value with wb_url_encode()\n", name);
            return -1;
        }
    }
    size = strlen(name) + strlen(value) + (attributes ? strlen(attributes) : 0) + 4;
    line = (char *)malloc(size);
    if (!line) return -1;
    snprintf(line, size, "%s=%s%s%s", name, value, attributes ? "; " : "", attributes ? attributes : "");
    rc = wb_header("Set-Cookie", line);
    free(line);
    return rc;
}

/* Ends the header block (adding a text/plain Content-Type if none was set
 * and this is not a redirect); called by the body writers by themselves. */
static inline void wb_end_headers(void) {
    if (wb__out.phase == 2) return;
    if (!wb__out.content_type && !wb__out.location) printf("Content-Type: text/plain; charset=utf-8\n");
    printf("\n");
    wb__out.phase = 2;
}

/* Body output: bytes, a string, printf-style, HTML-escaped text. */
static inline void wb_write(const void *data, size_t len) {
    wb_end_headers();
    fwrite(data, 1, len, stdout);
}
static inline void wb_puts(const char *s) { wb_write(s, strlen(s)); }
static inline void wb_printf(const char *fmt, ...) {
    va_list ap;
    wb_end_headers();
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
}
static inline void wb_write_html(const char *s) {
    char *e = wb_html_escape(s);
    if (e) wb_puts(e);
    free(e);
}

/* A complete plain-text response: status and message (shown to the client). */
static inline void wb_error(int status, const char *message) {
    wb_status(status);
    wb_header("Content-Type", "text/plain; charset=utf-8");
    wb_puts(message);
    wb_puts("\n");
}

/* A complete client redirect (301, 302, 303, 307, 308) to `url`, which must be
 * visible ASCII (wb_url_encode() the parts that are not). */
static inline int wb_redirect(int status, const char *url) {
    if (status != 301 && status != 302 && status != 303 && status != 307 && status != 308) return -1;
    if (wb_status(status) != 0 || wb_header("Location", url) != 0) return -1;
    wb_end_headers();
    return 0;
}

/* Asks the host to serve `path` (an absolute path on this server) instead,
 * as a GET: RFC 3875's local redirect. Must be the whole response. */
static inline int wb_redirect_local(const char *path) {
    if (wb__out.phase != 0 || path[0] != '/' || path[1] == '/') return -1;
    if (wb_header("Location", path) != 0) return -1;
    wb_end_headers();
    return 0;
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* WASIBIN_H */
