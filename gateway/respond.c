#include <stdlib.h>
#include <string.h>
#include "gateway.h"

static const char *reason_of(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

void wh_respond_raw(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = reason_of(status);
    if (content_type != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, strlen(content_type));
    /* h2o 2.2 drops keep-alive on non-200 responses without a length (stack-notes P1) */
    req->res.content_length = len;
    h2o_send_inline(req, body, len);
}

void wh_respond_json(h2o_req_t *req, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    if (text == NULL)
        abort(); /* out of memory: nothing sensible to answer */
    /* h2o_send_inline copies the body into the request pool */
    wh_respond_raw(req, status, "application/json", text, strlen(text));
    free(text);
}

/* Messages may echo input (a field name, a query parameter): made valid UTF-8 first, or JSON cannot hold them. */
void wh_respond_error(h2o_req_t *req, int status, const char *code, const char *message)
{
    char safe[1024];

    wh_utf8_sanitize(message, safe, sizeof(safe));
    wh_respond_json(req, status, json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", safe));
}

void wh_respond_unavailable(h2o_req_t *req, const char *message)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("5"));
    wh_respond_error(req, 503, "queue_unavailable", message);
}

/*
 * The link lives in the request's pool; its dispose hook runs when h2o frees the request. The pending
 * object lives on the heap and outlives the request if it must; each side clears the other's pointer.
 */
struct wh_pending_link {
    wh_pending_t *pending;
};

static void on_link_dispose(void *p)
{
    struct wh_pending_link *link = p;
    if (link->pending != NULL) {
        link->pending->req = NULL;
        link->pending->link = NULL;
    }
}

void *wh_pending_new(h2o_req_t *req, size_t size)
{
    wh_pending_t *p = calloc(1, size);
    struct wh_pending_link *link;

    if (p == NULL)
        abort();
    link = h2o_mem_alloc_shared(&req->pool, sizeof(*link), on_link_dispose);
    link->pending = p;
    p->req = req;
    p->thread = wh_gw_thread_of(req);
    p->link = link;
    ++p->thread->inflight;
    return p;
}

void wh_pending_free(void *pending)
{
    wh_pending_t *p = pending;
    if (p == NULL)
        return;
    if (p->link != NULL)
        p->link->pending = NULL;
    --p->thread->inflight;
    free(p);
}

h2o_iovec_t wh_req_header(h2o_req_t *req, const char *lname, size_t len)
{
    for (size_t i = 0; i != req->headers.size; ++i) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (h->name->len == len && memcmp(h->name->base, lname, len) == 0)
            return h->value;
    }
    return h2o_iovec_init(NULL, 0);
}

bool wh_req_content_type_is(h2o_req_t *req, const char *type)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    h2o_iovec_t v;
    size_t n, tlen = strlen(type);

    if (i < 0)
        return false;
    v = req->headers.entries[i].value;
    for (n = 0; n != v.len && v.base[n] != ';'; ++n)
        ;
    while (n > 0 && (v.base[n - 1] == ' ' || v.base[n - 1] == '\t'))
        --n;
    return n == tlen && h2o_lcstris(v.base, n, type, tlen);
}
