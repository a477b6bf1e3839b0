/*
 * simdjson 3.0 (DOM API) behind extern "C": the one C++ translation unit the issue allows. The body is copied into
 * a buffer with SIMDJSON_PADDING spare bytes (simdjson reads past the end); the parser is allocated once for
 * WH_DEFAULT_MAX_BODY bytes and WH_MAX_JSON_DEPTH levels, so depth is bounded while parsing (DEPTH_ERROR).
 * Nothing C++ escapes this file: no exceptions (error codes only), no std types in the interface.
 */
#include <cstdlib>
#include <cstring>
#include <new>
#include <simdjson.h>
#include "bench.h"

using namespace simdjson;

namespace
{
struct st_t {
    dom::parser parser;
    dom::element root;
    char *buf = nullptr;
};

void *create()
{
    st_t *st = new (std::nothrow) st_t;
    if (st == nullptr || st->parser.allocate(BJ_MAX_BODY, BJ_MAX_DEPTH) != SUCCESS)
        std::abort();
    st->buf = static_cast<char *>(std::malloc(BJ_MAX_BODY + SIMDJSON_PADDING));
    if (st->buf == nullptr)
        std::abort();
    return st;
}

void destroy(void *p)
{
    st_t *st = static_cast<st_t *>(p);
    std::free(st->buf);
    delete st;
}

bj_verdict_t parse(void *p, const char *buf, size_t len)
{
    st_t *st = static_cast<st_t *>(p);

    if (len > BJ_MAX_BODY)
        return BJ_INVALID;
    std::memcpy(st->buf, buf, len);
    std::memset(st->buf + len, 0, SIMDJSON_PADDING);
    error_code err = st->parser.parse(reinterpret_cast<const uint8_t *>(st->buf), len, false).get(st->root);
    if (err == DEPTH_ERROR)
        return BJ_DEEP;
    return err == SUCCESS ? BJ_OK : BJ_INVALID;
}

uint64_t scalar(dom::element v)
{
    switch (v.type()) {
    case dom::element_type::STRING: {
        std::string_view s = v.get_string().value_unsafe();
        return bj_sum_string(s.data(), s.size());
    }
    case dom::element_type::INT64:
        return bj_sum_int(v.get_int64().value_unsafe());
    case dom::element_type::UINT64:
        return bj_sum_int(static_cast<int64_t>(v.get_uint64().value_unsafe()));
    case dom::element_type::DOUBLE:
        return bj_sum_real(v.get_double().value_unsafe());
    case dom::element_type::BOOL:
        return bj_sum_const(v.get_bool().value_unsafe() ? 2 : 1);
    case dom::element_type::NULL_VALUE:
        return bj_sum_const(0);
    default:
        return 0;
    }
}

uint64_t walk_value(dom::element v)
{
    uint64_t sum = 0;

    if (v.type() == dom::element_type::ARRAY) {
        dom::array arr = v.get_array().value_unsafe();
        for (dom::element child : arr)
            sum += walk_value(child);
        return sum;
    }
    if (v.type() != dom::element_type::OBJECT)
        return scalar(v);
    dom::object obj = v.get_object().value_unsafe();
    for (size_t i = 0; i != BJ_WALK_NKEYS; ++i) {
        dom::element child;
        if (obj.at_key(bj_walk_keys[i]).get(child) == SUCCESS) {
            dom::element_type t = child.type();
            sum += bj_sum_hit(i) + (t == dom::element_type::ARRAY || t == dom::element_type::OBJECT ? 0 : scalar(child));
        }
    }
    for (dom::key_value_pair field : obj)
        sum += walk_value(field.value);
    return sum;
}

uint64_t walk(void *p)
{
    return walk_value(static_cast<st_t *>(p)->root);
}

void release(void *)
{
    /* The document lives in the parser and is overwritten by the next parse. */
}
} // namespace

extern "C" const bj_parser_t bj_simdjson = {"simdjson", create, destroy, parse, walk, release};
