/*
 * The management API (/v1), private to gateway/api*.c.
 *
 * api.c routes a request through a table of {method, pattern, access, op}, authenticates its bearer token
 * (the first async step of every route), parses its JSON body, then starts the route's op. An op is a
 * const vtable (api_env.c, api_connections.c, api_subscriptions.c): its state is a struct whose first
 * member is wh_api_call_t, allocated by api.c with wh_pending_new(req, op->size).
 *
 * The flow contract: exactly one wh_api__finish() per call, after its last callback, whether or not the
 * request is still there to answer. Every wh_api__* function that "finishes" the call leaves it freed.
 */
#ifndef WH_GATEWAY_API_H
#define WH_GATEWAY_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "../common/err.h"
#include "../common/str.h"
#include "gateway.h"

/* Ids in paths and bodies (environments, connections, subscriptions): [A-Za-z0-9_-]{1,64}. */
#define WH_API_ID_MAX 64

typedef struct wh_api_call wh_api_call_t;

typedef struct {
    /* Runs once the caller is authenticated and the body parsed (call->body). Ends, possibly much later,
     * in exactly one wh_api__finish(). */
    void (*start)(wh_api_call_t *call);
    /* Releases what the op's state owns (not the state itself); runs inside wh_api__finish. NULL: nothing. */
    void (*dispose)(wh_api_call_t *call);
    /* sizeof the op's state struct, which begins with wh_api_call_t. */
    size_t size;
    /* The route takes a JSON object body (415/413/400 are answered before start). */
    bool json_body;
} wh_api_op_t;

struct wh_api_call {
    wh_pending_t pending;        /* first: wh_pending_new/free; pending.req is NULL once the client is gone */
    const wh_api_op_t *op;       /* static */
    const char *route;           /* static pattern, for logs */
    bool admin_route;            /* the route needs the admin token (else an environment token) */
    bool id_invalid;             /* the path's {id} is not an id: answered 404 once the caller is authenticated */
    const wh_config_t *cfg;      /* borrowed from the thread, which outlives every call */
    wh_redis_t *redis;           /* borrowed, idem */
    char env[WH_API_ID_MAX + 1]; /* the caller's environmentId; "" for the admin token */
    char id[WH_API_ID_MAX + 1];  /* the {id} of the path (validated), or "" */
    wh_str_t query;              /* raw query string after '?' ({NULL,0}: none); in the request's pool: read it in start */
    json_t *body;                /* owned: the parsed request object, or NULL for bodiless routes */
};

/* Ops, one per implemented route (defined in api_env.c, api_connections.c, api_subscriptions.c, api_events.c). */
extern const wh_api_op_t wh_api__env_create;
extern const wh_api_op_t wh_api__conn_create;
extern const wh_api_op_t wh_api__conn_list;
extern const wh_api_op_t wh_api__conn_get;
extern const wh_api_op_t wh_api__conn_delete;
extern const wh_api_op_t wh_api__sub_create;
extern const wh_api_op_t wh_api__sub_list;
extern const wh_api_op_t wh_api__sub_get;
extern const wh_api_op_t wh_api__sub_delete;
extern const wh_api_op_t wh_api__sub_patch;
extern const wh_api_op_t wh_api__sync_status;  /* api_sync.c */
extern const wh_api_op_t wh_api__sync_records; /* api_sync.c */
extern const wh_api_op_t wh_api__cache_get;    /* api_cache.c */
extern const wh_api_op_t wh_api__cache_list;   /* api_cache.c */
extern const wh_api_op_t wh_api__sub_enable;
extern const wh_api_op_t wh_api__sub_rotate;
extern const wh_api_op_t wh_api__poison_list; /* api_poison.c */
/* api_events.c */
extern const wh_api_op_t wh_api__event_list;
extern const wh_api_op_t wh_api__event_get;
extern const wh_api_op_t wh_api__event_attempts;
extern const wh_api_op_t wh_api__event_redeliver;
extern const wh_api_op_t wh_api__sub_replay;

/* ---- ending a call (each of these finishes it: `call` is freed on return) ---- */

/* Releases the call: op->dispose, the body, the pending guard. */
void wh_api__finish(wh_api_call_t *call);
/* Answers `body` (taken) with `status` if the client is still there, then finishes. */
void wh_api__reply_json(wh_api_call_t *call, int status, json_t *body);
/* Answers 204 without a body, then finishes. */
void wh_api__reply_no_content(wh_api_call_t *call);
/* Answers {"error":{code, message}}, then finishes. */
void wh_api__reply_error(wh_api_call_t *call, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Answers 500 internal_error and logs `why` (never secrets), then finishes. */
void wh_api__reply_internal(wh_api_call_t *call, const char *why);
/* Answers what a failed Redis call means (WH_EUNAVAILABLE: 503 queue_unavailable; else 500), then finishes. */
void wh_api__reply_redis_error(wh_api_call_t *call, wh_err_t err, const redisReply *reply);

/* ---- Redis ---- */

/*
 * Send a command / a script for `call`. argv is borrowed for the duration of the call only. On an
 * immediate failure they answer and finish the call and return false: the caller must not touch it then.
 */
bool wh_api__command(wh_api_call_t *call, wh_redis_cb cb, int argc, const char **argv, const size_t *argvlen);
bool wh_api__script(wh_api_call_t *call, const wh_script_t *script, wh_redis_cb cb, int nkeys, int argc, const char **argv,
                    const size_t *argvlen);
/*
 * The prologue of every Redis callback: true when the flow goes on (client still there, no error).
 * Otherwise it has answered if it could and finished the call.
 */
bool wh_api__reply_usable(wh_api_call_t *call, const redisReply *reply, wh_err_t err);

/* ---- validation (errbuf: WH_ERRBUF_SIZE bytes, "<field>: <what is wrong>") ---- */

/* [A-Za-z0-9_-]{1,WH_API_ID_MAX} */
bool wh_api__id_valid(wh_str_t s);
/* Fails on the first member of `obj` not in the NULL-terminated `allowed` list. `prefix`: "" or "sync.". */
bool wh_api__only_fields(const json_t *obj, const char *const *allowed, const char *prefix, char *errbuf);
/*
 * Optional members. Return 1 when present (output set), 0 when absent or null, -1 with errbuf when invalid.
 * Lengths of strings are counted in characters (UTF-8 code points), not bytes.
 */
int wh_api__get_string(const json_t *obj, const char *field, size_t min_chars, size_t max_chars, const char **out, char *errbuf);
int wh_api__get_int(const json_t *obj, const char *field, long long min, long long max, long long *out, char *errbuf);
int wh_api__get_bool(const json_t *obj, const char *field, bool *out, char *errbuf);

/* ---- query strings ---- */

/*
 * Longest decoded query parameter value (cursors, ids, event types, ISO times fit with room to spare; a cache
 * cursor carries an indexed value, and a cache filter an e-mail address or a name to compare with).
 */
#define WH_API_QUERY_VALUE_MAX 1024

typedef struct {
    bool present;
    char value[WH_API_QUERY_VALUE_MAX + 1]; /* percent-decoded ('+' is a space), NUL-terminated; "" when absent */
} wh_api_query_value_t;

/*
 * Reads call->query (only during op->start, while the request is there). `names` is NULL-terminated;
 * values[i] receives names[i]. Fails with errbuf naming the parameter on an unknown or repeated name, a bad
 * percent escape, a NUL or control byte, or a value longer than WH_API_QUERY_VALUE_MAX.
 */
bool wh_api__query(const wh_api_call_t *call, const char *const *names, wh_api_query_value_t *values, char *errbuf);
/*
 * As wh_api__query, except that the parameter `repeat_name` (not in `names`) may be given up to `max_repeat`
 * times: its values go to repeated[0 .. *nrepeated) in the order given; one more fails naming it.
 */
bool wh_api__query_repeat(const wh_api_call_t *call, const char *const *names, wh_api_query_value_t *values,
                          const char *repeat_name, wh_api_query_value_t *repeated, size_t max_repeat, size_t *nrepeated,
                          char *errbuf);

#endif
