/*
 * providers/salesforce.c, driven by data: every case of the JSON files in tests/fixtures/providers/salesforce/ runs
 * through the shared fixture loop. The shared SOAP samples in ../shared are read in place when that folder exists
 * (a bare checkout skips). Cases too generated to write as data (100 vs 101 notifications, entity bombs, the
 * SOAP answers) are plain tests below.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include "../../../common/unified.h"
#include "../../../providers/provider.h"
#include "fixture.h"

#define FIXTURES WH_SOURCE_DIR "/tests/fixtures/providers/salesforce"
#define SHARED_SAMPLES WH_SHARED_DIR "/providers/samples/salesforce"
#define DEFAULT_URL "https://wharf.example/webhooks/salesforce/conn_sf1"
#define ORG15 "00DWH0000001aBc"
#define ORG18 ORG15 "EAA"
#define SESSION "00DWH0000001aBc!AQ-session-secret"
#define MIN_CASES 50

static const wh_provider_t *provider(void)
{
    const wh_provider_t *p = wh_provider_find(WH_STRLIT("salesforce"));
    assert_non_null(p);
    return p;
}

/* Messages never echo the SessionId (a live API session) nor the connection's org id. */
static void no_secret(const char *errbuf, const json_t *credentials, const wh_inbound_t *in, const char *what)
{
    (void)in;
    if (strstr(errbuf, "!AQ") != NULL)
        fail_msg("%s: errbuf \"%s\" holds a SessionId", what, errbuf);
    fx_assert_no_credential(errbuf, credentials, "organizationId", 8, what, "organization id");
}

static void test_fixtures(void **state)
{
    const fx_config_t cfg = {
        .provider = provider(),
        .dir = FIXTURES,
        .default_url = DEFAULT_URL,
        .min_files = 3, /* verify, normalize, malformed */
        .min_cases = MIN_CASES,
        .parse_credentials = true,
        .reparse_credentials = false,
        .distinct_keys = true,
        .no_previous = true,
        .no_secret = no_secret,
    };

    (void)state;
    fx_run_fixtures(&cfg);
}

static json_t *creds(const char *org)
{
    json_t *c = json_pack("{s:s}", "organizationId", org);
    assert_non_null(c);
    return c;
}

static wh_inbound_t inbound(const char *body, size_t len)
{
    return (wh_inbound_t){.method = WH_STRLIT("POST"), .url = WH_STRLIT(DEFAULT_URL), .body = wh_str(body, len), .now_ms = 1};
}

static wh_err_t parse_body(const char *body, size_t len, wh_changes_t *out, char *errbuf)
{
    wh_inbound_t in = inbound(body, len);

    errbuf[0] = '\0';
    return provider()->parse(&in, NULL, out, errbuf);
}

static wh_err_t verify_body(const char *body, size_t len, const char *org, char *errbuf)
{
    wh_inbound_t in = inbound(body, len);
    json_t *c = creds(org);
    wh_err_t err;

    errbuf[0] = '\0';
    err = provider()->verify(&in, c, errbuf);
    json_decref(c);
    return err;
}

static void test_provider_slots(void **state)
{
    const wh_provider_t *p = provider();

    (void)state;
    assert_string_equal(p->name, "salesforce");
    assert_int_equal(p->flags, WH_PROVIDER_CLIENT_ADDR);
    assert_string_equal(p->content_type, "text/xml");
    assert_non_null(p->check_credentials);
    assert_non_null(p->verify);
    assert_non_null(p->parse);
    assert_null(p->handshake);
    assert_non_null(p->success);
    assert_non_null(p->refusal);
}

static void run_check_credentials(const char *json, wh_err_t want, const char *contains)
{
    char errbuf[WH_ERRBUF_SIZE] = "";
    json_t *c = json_loads(json, JSON_DECODE_ANY, NULL);

    assert_non_null(c);
    print_message("  credentials %s\n", json);
    assert_string_equal(wh_err_name(provider()->check_credentials(c, errbuf)), wh_err_name(want));
    fx_assert_contains(errbuf, contains, json);
    json_decref(c);
}

static void test_check_credentials(void **state)
{
    (void)state;
    run_check_credentials("{\"organizationId\":\"" ORG15 "\"}", WH_OK, "");
    run_check_credentials("{\"organizationId\":\"" ORG18 "\"}", WH_OK, "");
    run_check_credentials("{\"organizationId\":\"" ORG15 "\",\"allowedCidrs\":[\"13.108.0.0/14\",\"2001:db8::/32\"]}", WH_OK, "");
    run_check_credentials("{\"organizationId\":\"" ORG15 "\",\"allowedCidrs\":[\"192.0.2.7\"]}", WH_OK, "");
    run_check_credentials("{\"organizationId\":\"" ORG15 "\",\"allowedCidrs\":[]}", WH_EINVAL, "array of 1 to 64");
    run_check_credentials("{\"organizationId\":\"" ORG15 "\",\"allowedCidrs\":\"10.0.0.0/8\"}", WH_EINVAL, "array of 1 to 64");
    run_check_credentials("{\"organizationId\":\"" ORG15 "\",\"allowedCidrs\":[\"10.0.0.1/8\"]}", WH_EINVAL,
                          "credentials.allowedCidrs[0]: host bits set");
    run_check_credentials("{\"organizationId\":\"" ORG15 "\",\"allowedCidrs\":[\"10.0.0.0/8\",7]}", WH_EINVAL,
                          "credentials.allowedCidrs[1]: must be a string");
    run_check_credentials("{\"organizationId\":\"" ORG15 "\",\"allowedCidrs\":[\"salesforce.com\"]}", WH_EINVAL,
                          "not an IP address");
    {
        /* the bound: 64 ranges fine, 65 refused */
        char big[64 * 24 + 128];
        size_t off = (size_t)snprintf(big, sizeof(big), "{\"organizationId\":\"" ORG15 "\",\"allowedCidrs\":[");
        for (int i = 0; i < 65; i++)
            off += (size_t)snprintf(big + off, sizeof(big) - off, "%s\"10.%d.0.0/16\"", i ? "," : "", i);
        snprintf(big + off, sizeof(big) - off, "]}");
        run_check_credentials(big, WH_EINVAL, "array of 1 to 64");
        off = (size_t)(strrchr(big, ',') - big);
        snprintf(big + off, sizeof(big) - off, "]}");
        run_check_credentials(big, WH_OK, "");
    }
    run_check_credentials("{}", WH_EINVAL, "credentials.organizationId: required");
    run_check_credentials("{\"organizationId\":\"00DWH0000001aB\"}", WH_EINVAL, "15 or 18");
    run_check_credentials("{\"organizationId\":\"00DWH0000001aBcE\"}", WH_EINVAL, "15 or 18");
    run_check_credentials("{\"organizationId\":\"00DWH0000001aB-\"}", WH_EINVAL, "15 or 18");
    run_check_credentials("{\"organizationId\":15}", WH_EINVAL, "15 or 18");
    run_check_credentials("{\"organizationId\":\"" ORG15 "\",\"orgId\":\"x\"}", WH_EINVAL, "unknown key");
    run_check_credentials("[]", WH_EINVAL, "must be an object");
}

/* An Outbound Message with n contact notifications (malloc'd, NUL-terminated). */
static char *message(size_t n, const char *org, size_t *len)
{
    size_t cap = 1024 + n * 512, used = 0;
    char *b = malloc(cap);

    assert_non_null(b);
    used += (size_t)snprintf(b + used, cap - used,
                             "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope "
                             "xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
                             "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>"
                             "<notifications xmlns=\"http://soap.sforce.com/2005/09/outbound\"><OrganizationId>%s</OrganizationId>"
                             "<ActionId>04kWH0000000001AAA</ActionId><SessionId>" SESSION "</SessionId>"
                             "<EnterpriseUrl>https://x.example/c</EnterpriseUrl><PartnerUrl>https://x.example/u</PartnerUrl>",
                             org);
    for (size_t i = 0; i != n; ++i)
        used += (size_t)snprintf(b + used, cap - used,
                                 "<Notification><Id>04lWH%013zu</Id><sObject xsi:type=\"sf:Contact\" "
                                 "xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\"><sf:Id>003WH%013zu</sf:Id>"
                                 "<sf:LastModifiedDate>2024-11-23T10:00:00.000Z</sf:LastModifiedDate>"
                                 "<sf:Email>c%zu@example.com</sf:Email></sObject></Notification>",
                                 i, i, i);
    used += (size_t)snprintf(b + used, cap - used, "</notifications></soapenv:Body></soapenv:Envelope>");
    assert_true(used < cap);
    *len = used;
    return b;
}

static void test_batch_limit(void **state)
{
    char errbuf[WH_ERRBUF_SIZE];
    size_t len;
    char *body;
    wh_changes_t out;

    (void)state;
    body = message(100, ORG15, &len);
    wh_changes_init(&out);
    assert_string_equal(wh_err_name(parse_body(body, len, &out, errbuf)), "ok");
    assert_int_equal(out.size, 100);
    assert_string_equal(out.items[99].object_id, "003WH0000000000099");
    assert_string_equal(out.items[99].provider_event_id, "04lWH0000000000099");
    wh_changes_dispose(&out);
    free(body);

    body = message(101, ORG15, &len);
    wh_changes_init(&out);
    assert_string_equal(wh_err_name(parse_body(body, len, &out, errbuf)), "too_large");
    fx_assert_contains(errbuf, "101 notifications", "101");
    assert_int_equal(out.size, 0);
    wh_changes_dispose(&out);
    free(body);
}

/* A body with a DOCTYPE never gets to entity expansion: refused by parse and verify, whatever the subset holds. */
static void refused_both(const char *body, const char *what)
{
    char errbuf[WH_ERRBUF_SIZE];
    wh_changes_t out;

    print_message("  %s\n", what);
    wh_changes_init(&out);
    assert_string_equal(wh_err_name(parse_body(body, strlen(body), &out, errbuf)), "malformed");
    fx_assert_contains(errbuf, "DOCTYPE", what);
    assert_int_equal(out.size, 0);
    wh_changes_dispose(&out);
    assert_string_equal(wh_err_name(verify_body(body, strlen(body), ORG15, errbuf)), "invalid_signature");
}

static void test_entities_refused(void **state)
{
    static const char tail[] = "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
                               "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>"
                               "<notifications xmlns=\"http://soap.sforce.com/2005/09/outbound\">"
                               "<OrganizationId>" ORG15 "</OrganizationId><Notification><Id>&x;</Id>"
                               "<sObject xsi:type=\"sf:Contact\" xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\">"
                               "<sf:Id>003WH0000000001AAA</sf:Id><sf:Email>&x;</sf:Email></sObject></Notification>"
                               "</notifications></soapenv:Body></soapenv:Envelope>";
    char body[8192];

    (void)state;
    snprintf(body, sizeof(body), "<?xml version=\"1.0\"?><!DOCTYPE e [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>%s", tail);
    refused_both(body, "XXE (file)");
    snprintf(body, sizeof(body), "<?xml version=\"1.0\"?><!DOCTYPE e [<!ENTITY x SYSTEM \"http://127.0.0.1:9/x\">]>%s", tail);
    refused_both(body, "XXE (network)");
    snprintf(body, sizeof(body), "<?xml version=\"1.0\"?><!DOCTYPE e SYSTEM \"http://127.0.0.1:9/x.dtd\">%s", tail);
    refused_both(body, "external DTD");
    snprintf(body, sizeof(body), "<?xml version=\"1.0\"?><!DOCTYPE e [<!ENTITY %% p SYSTEM \"http://127.0.0.1:9/p\"> %%p;]>%s",
             tail);
    refused_both(body, "parameter entity");
    snprintf(
        body, sizeof(body),
        "<?xml version=\"1.0\"?><!DOCTYPE e [<!ENTITY a \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\">"
        "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">"
        "<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\"><!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">"
        "<!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\"><!ENTITY x \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">]>%s",
        tail);
    refused_both(body, "billion laughs");
}

/* The same message in its 15- and 18-character org forms: both verify, and the dedupe keys agree. */
static void test_org_forms(void **state)
{
    char errbuf[WH_ERRBUF_SIZE];
    size_t len15, len18;
    char *b15 = message(1, ORG15, &len15), *b18 = message(1, ORG18, &len18);
    wh_changes_t c15, c18;

    (void)state;
    assert_string_equal(wh_err_name(verify_body(b15, len15, ORG18, errbuf)), "ok");
    assert_string_equal(wh_err_name(verify_body(b18, len18, ORG15, errbuf)), "ok");
    assert_string_equal(wh_err_name(verify_body(b18, len18, "00DWH0000001abc", errbuf)), "invalid_signature");
    wh_changes_init(&c15);
    wh_changes_init(&c18);
    assert_int_equal(parse_body(b15, len15, &c15, errbuf), WH_OK);
    assert_int_equal(parse_body(b18, len18, &c18, errbuf), WH_OK);
    assert_memory_equal(c15.items[0].dedupe_key, c18.items[0].dedupe_key, WH_DEDUPE_KEY_LEN);
    /* The SessionId never reaches an event. */
    {
        char *dump = json_dumps(c15.items[0].fields, JSON_COMPACT);
        assert_null(strstr(dump, "!AQ"));
        free(dump);
        assert_null(c15.items[0].extra);
    }
    wh_changes_dispose(&c15);
    wh_changes_dispose(&c18);
    free(b15);
    free(b18);
}

/* The shared samples, read in place (CI has ../shared; a bare checkout skips). */
static void test_shared_samples(void **state)
{
    char errbuf[WH_ERRBUF_SIZE];
    size_t len;
    char *body = fx_read_file(SHARED_SAMPLES "/outbound-message-2-contacts.xml", &len);
    wh_changes_t out;

    (void)state;
    if (body == NULL) {
        print_message("  %s absent: skipped\n", SHARED_SAMPLES "/outbound-message-2-contacts.xml");
        skip();
    }
    assert_string_equal(wh_err_name(verify_body(body, len, "012345678901234", errbuf)), "ok");
    assert_string_equal(wh_err_name(verify_body(body, len, "012345678901234AAA", errbuf)), "ok");
    assert_string_equal(wh_err_name(verify_body(body, len, "012345678901235", errbuf)), "invalid_signature");
    wh_changes_init(&out);
    assert_string_equal(wh_err_name(parse_body(body, len, &out, errbuf)), "ok");
    assert_int_equal(out.size, 2);
    assert_string_equal(out.items[0].object_type, "contact");
    assert_string_equal(out.items[0].action, "updated");
    assert_string_equal(out.items[0].object_id, "0031I0000081tbPQAQ");
    assert_string_equal(out.items[0].provider_event_id, "04l1I000000fztEQAQ");
    assert_string_equal(out.items[0].account, "012345678901234");
    assert_int_equal(out.items[0].occurred_at_ms, 1); /* no LastModifiedDate: the receive time */
    assert_string_equal(json_string_value(json_object_get(out.items[0].fields, "firstName")), "Jeraldine");
    assert_string_equal(out.items[1].object_id, "0031I0000081tb0QAA");
    assert_string_equal(json_string_value(json_object_get(out.items[1].fields, "email")), "drb24@cornell.edu");
    assert_memory_not_equal(out.items[0].dedupe_key, out.items[1].dedupe_key, WH_DEDUPE_KEY_LEN);
    wh_changes_dispose(&out);
    free(body);
}

/* The text of the first element named `name` anywhere under `n`, or NULL (xmlFree it). */
static xmlChar *find_text(xmlNode *n, const char *name)
{
    for (; n != NULL; n = n->next) {
        xmlChar *t;
        if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0)
            return xmlNodeGetContent(n);
        t = find_text(n->children, name);
        if (t != NULL)
            return t;
    }
    return NULL;
}

static void test_success(void **state)
{
    wh_inbound_t in = inbound("", 0);
    wh_reply_t reply = {0};
    xmlDocPtr doc;
    xmlChar *ack;

    (void)state;
    provider()->success(&in, 2, &reply);
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.content_type, "text/xml; charset=utf-8");
    doc = xmlReadMemory(reply.body, (int)reply.body_len, NULL, NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    assert_string_equal((const char *)xmlDocGetRootElement(doc)->ns->href, "http://schemas.xmlsoap.org/soap/envelope/");
    ack = find_text(xmlDocGetRootElement(doc), "Ack");
    assert_non_null(ack);
    assert_string_equal((const char *)ack, "true");
    assert_non_null(strstr(reply.body, "<notificationsResponse xmlns=\"http://soap.sforce.com/2005/09/outbound\">"));
    xmlFree(ack);
    xmlFreeDoc(doc);
    free(reply.body);
}

static void check_fault_as(int status, const char *code, const char *message, const char *faultcode, const char *want)
{
    wh_inbound_t in = inbound("", 0);
    wh_reply_t reply = {0};
    xmlDocPtr doc;
    xmlChar *t;

    provider()->refusal(&in, status, code, message, &reply);
    assert_int_equal(reply.status, status);
    assert_string_equal(reply.content_type, "text/xml; charset=utf-8");
    doc = xmlReadMemory(reply.body, (int)reply.body_len, NULL, NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    assert_string_equal((const char *)xmlDocGetRootElement(doc)->name, "Envelope");
    /* SOAP 1.1: the Fault's children are unqualified. */
    for (xmlNode *n = xmlDocGetRootElement(doc)->children->children->children; n != NULL; n = n->next)
        assert_null(n->ns);
    t = find_text(xmlDocGetRootElement(doc), "faultcode");
    assert_string_equal((const char *)t, faultcode);
    xmlFree(t);
    t = find_text(xmlDocGetRootElement(doc), "faultstring");
    assert_string_equal((const char *)t, want);
    xmlFree(t);
    t = find_text(xmlDocGetRootElement(doc), "code");
    assert_string_equal((const char *)t, code);
    xmlFree(t);
    xmlFreeDoc(doc);
    free(reply.body);
}

static void check_fault(int status, const char *code, const char *message, const char *faultcode)
{
    check_fault_as(status, code, message, faultcode, message);
}

static void test_refusal(void **state)
{
    (void)state;
    /* Control characters and non-ASCII bytes (invalid UTF-8 included) cannot break the Fault: they become '?'. */
    check_fault_as(400, "malformed",
                   "a\x01"
                   "b\xff\xc3\xa9"
                   "c",
                   "soapenv:Client", "a?b???c");
    check_fault(401, "invalid_signature", "OrganizationId is not the connection's", "soapenv:Client");
    check_fault(400, "malformed", "a <b> & \"c\" ]]> 'd'", "soapenv:Client");
    check_fault(413, "too_large", "101 notifications, more than 100", "soapenv:Client");
    check_fault(503, "unavailable", "queue unavailable", "soapenv:Server");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_provider_slots),    cmocka_unit_test(test_fixtures),    cmocka_unit_test(test_shared_samples),
        cmocka_unit_test(test_check_credentials), cmocka_unit_test(test_batch_limit), cmocka_unit_test(test_entities_refused),
        cmocka_unit_test(test_org_forms),         cmocka_unit_test(test_success),     cmocka_unit_test(test_refusal),
    };
    return cmocka_run_group_tests_name("providers/salesforce", tests, NULL, NULL);
}
