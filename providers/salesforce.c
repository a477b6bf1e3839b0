/*
 * Salesforce Outbound Messages (shared/providers/README.md §4.1).
 *
 * A workflow rule / flow POSTs a SOAP 1.1 envelope: soapenv:Envelope/soapenv:Body/notifications (namespace
 * http://soap.sforce.com/2005/09/outbound) holding OrganizationId, ActionId, SessionId (nillable), EnterpriseUrl,
 * PartnerUrl and 1..100 Notification elements, each an Id (the notification id) and an sObject whose xsi:type
 * ("sf:Contact") names the object and whose children are the fields chosen at configuration. Salesforce wants a
 * SOAP notificationsResponse with <Ack>true</Ack>; anything else (non-200, Ack false, a Fault) is retried for 24 h.
 *
 * Authenticity: Salesforce signs nothing. verify checks that the body's OrganizationId is the connection's
 * (credentials.organizationId), compared in constant time on the 15-character case-sensitive prefix, so the 15-
 * and 18-character forms of one org match (the 18-character id is the 15-character one plus a case-checksum
 * suffix). The per-connection URL is the other half: it is unguessable. credentials.allowedCidrs, when set, is
 * checked first: the client address (behind WHARF_TRUSTED_PROXIES, the hop they vouch for) must lie in one of the
 * ranges, else 403 address_not_allowed; an address that cannot be told is refused too (fails closed).
 *
 * XML: libxml2 with network access off and no entity substitution, DTD loading or default attributes. A
 * document that declares a DOCTYPE at all is refused (Salesforce never sends one): the parser is stopped at the
 * declaration, before an internal subset is read, so external entities and entity bombs never expand. The body
 * is already bounded by the gateway (WHARF_MAX_BODY); libxml2's own depth and text limits apply (no XML_PARSE_HUGE).
 *
 * Normalization: one change per Notification. objectType from xsi:type (table below; other types are kept as
 * Salesforce names them). Outbound Messages fire on create and update alike and do not say which: the change is
 * "created" when the sObject carries CreatedDate and LastModifiedDate with the same text, else "updated".
 * occurredAt is sf:LastModifiedDate when sent, else the receive time. The dedupe key and providerEventId come from
 * Notification/Id, which Salesforce keeps across its retries. Fields go through the field table
 * (fieldmap_salesforce.c); sf:Id is the objectId and is not repeated in fields; xsi:nil="true" is JSON null.
 * SessionId is a live API session: it is never read into an event, an error message or a log.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include "../common/crypto.h"
#include "../common/time.h"
#include "../common/unified.h"
#include "fieldmap.h"
#include "provider.h"
#include "sig.h"

extern const wh_fieldmap_t wh_fieldmap_salesforce;

#define NS_SOAPENV "http://schemas.xmlsoap.org/soap/envelope/"
#define NS_OUTBOUND "http://soap.sforce.com/2005/09/outbound"
#define NS_XSI "http://www.w3.org/2001/XMLSchema-instance"
/* Salesforce org ids are 15 case-sensitive alphanumerics, or 18 with a case-checksum suffix. */
#define ORG_ID_SHORT 15
#define ORG_ID_LONG 18
/* Notification elements per message: Salesforce batches at most 100 (README §4.1). */
#define MAX_NOTIFICATIONS 100
/* Longest sObject type name we read ("sf:" prefix stripped); custom objects end in __c and stay well under. */
#define TYPE_NAME_MAX 64
/* Object types outside the table: the name as Salesforce sent it, in extra (data.details) under this key. */
#define EXTRA_TYPE_KEY "salesforceObjectType"

/* sObject type -> unified object type (README §4.1). */
static const struct {
    const char *salesforce;
    const char *object_type;
} types[] = {
    {"Contact", "contact"}, {"Account", "account"}, {"Opportunity", "deal"}, {"Lead", "lead"},
    {"Task", "task"},       {"Event", "event"},     {"User", "user"},        {"Note", "note"},
};

static const char ACK[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                          "<soapenv:Envelope xmlns:soapenv=\"" NS_SOAPENV "\"><soapenv:Body>"
                          "<notificationsResponse xmlns=\"" NS_OUTBOUND "\"><Ack>true</Ack></notificationsResponse>"
                          "</soapenv:Body></soapenv:Envelope>";

static void *must(void *v)
{
    if (v == NULL) {
        fprintf(stderr, "fatal: out of memory in the Salesforce provider\n");
        abort();
    }
    return v;
}

/* libxml2's one-time global setup; xmlCleanupParser is never called (other threads may be parsing). */
static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void init_xml(void)
{
    xmlInitParser();
}

/*
 * libxml2 reports some errors (encoding conversion, I/O) through its generic handlers, not the parser context, and by
 * default prints them to stderr: request bytes would reach the log. Those handlers are thread-local in a threaded
 * libxml2, so they are silenced around each call and restored after (no process-wide state changes).
 */
typedef struct {
    xmlGenericErrorFunc generic;
    void *generic_ctx;
    xmlStructuredErrorFunc structured;
    void *structured_ctx;
} quiet_t;

static void on_generic_error(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

static void on_structured_error(void *ctx, xmlErrorPtr error)
{
    (void)ctx;
    (void)error;
}

static void quiet_begin(quiet_t *q)
{
    pthread_once(&xml_once, init_xml);
    q->generic = xmlGenericError;
    q->generic_ctx = xmlGenericErrorContext;
    q->structured = xmlStructuredError;
    q->structured_ctx = xmlStructuredErrorContext;
    xmlSetGenericErrorFunc(NULL, on_generic_error);
    xmlSetStructuredErrorFunc(NULL, on_structured_error);
}

static void quiet_end(const quiet_t *q)
{
    xmlSetGenericErrorFunc(q->generic_ctx, q->generic);
    xmlSetStructuredErrorFunc(q->structured_ctx, q->structured);
}

/* Organization ids. */

static bool is_org_id(wh_str_t s)
{
    if (s.base == NULL || (s.len != ORG_ID_SHORT && s.len != ORG_ID_LONG))
        return false;
    for (size_t i = 0; i != s.len; ++i) {
        char c = s.base[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
            return false;
    }
    return true;
}

/* Unknown keys are refused: credentials are write-only, so a misspelt key would go unnoticed. */
static wh_err_t check_credentials(const json_t *credentials, char *errbuf)
{
    const json_t *org, *cidrs;

    if (!json_is_object(credentials))
        return wh_errf(errbuf, WH_EINVAL, "credentials: must be an object");
    if ((cidrs = json_object_get(credentials, "allowedCidrs")) != NULL) {
        size_t i;
        const json_t *v;
        if (!json_is_array(cidrs) || json_array_size(cidrs) == 0 || json_array_size(cidrs) > WH_MAX_CIDRS)
            return wh_errf(errbuf, WH_EINVAL, "credentials.allowedCidrs: must be an array of 1 to %d CIDR ranges", WH_MAX_CIDRS);
        json_array_foreach(cidrs, i, v)
        {
            wh_cidr_t c;
            char why[WH_ERRBUF_SIZE];
            if (!json_is_string(v) || wh_cidr_parse(wh_str(json_string_value(v), json_string_length(v)), &c, why) != WH_OK)
                return wh_errf(errbuf, WH_EINVAL, "credentials.allowedCidrs[%zu]: %s", i,
                               json_is_string(v) ? why : "must be a string");
        }
    }
    org = json_object_get(credentials, "organizationId");
    if (org == NULL)
        return wh_errf(errbuf, WH_EINVAL, "credentials.organizationId: required");
    if (!json_is_string(org) || !is_org_id(wh_str(json_string_value(org), json_string_length(org))))
        return wh_errf(errbuf, WH_EINVAL, "credentials.organizationId: must be a 15 or 18 character Salesforce id");
    if (json_object_size(credentials) != (cidrs != NULL ? 2u : 1u))
        return wh_errf(errbuf, WH_EINVAL, "credentials: unknown key (only organizationId and allowedCidrs are allowed)");
    return WH_OK;
}

/* XML reading. */

/* SAX hook: a DOCTYPE stops the parse before its internal subset is read. */
static void on_internal_subset(void *ctx, const xmlChar *name, const xmlChar *external_id, const xmlChar *system_id)
{
    xmlParserCtxtPtr ctxt = ctx;

    (void)name;
    (void)external_id;
    (void)system_id;
    *(bool *)ctxt->_private = true;
    xmlStopParser(ctxt);
}

/* The body as a document, or NULL with errbuf filled (WH_EMALFORMED). The caller frees it with xmlFreeDoc. */
static xmlDocPtr load(wh_str_t body, wh_err_t *err, char *errbuf)
{
    const int options = XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
    xmlParserCtxtPtr ctxt;
    xmlDocPtr doc = NULL;
    bool doctype = false;
    quiet_t quiet;

    *err = WH_EMALFORMED;
    if (body.len == 0 || body.base == NULL) {
        wh_errf(errbuf, WH_EMALFORMED, "body is not XML (empty)");
        return NULL;
    }
    if (body.len > INT_MAX) {
        *err = wh_errf(errbuf, WH_ETOO_LARGE, "body larger than the XML parser takes");
        return NULL;
    }
    quiet_begin(&quiet);
    ctxt = must(xmlNewParserCtxt());
    ctxt->_private = &doctype;
    ctxt->sax->internalSubset = on_internal_subset;
    doc = xmlCtxtReadMemory(ctxt, body.base, (int)body.len, NULL, NULL, options);
    if (doctype || (doc != NULL && (doc->intSubset != NULL || doc->extSubset != NULL))) {
        wh_errf(errbuf, WH_EMALFORMED, "body declares a DOCTYPE (Salesforce never sends one)");
        xmlFreeDoc(doc);
        doc = NULL;
    } else if (doc == NULL || !ctxt->wellFormed) {
        wh_errf(errbuf, WH_EMALFORMED, "body is not well-formed XML");
        xmlFreeDoc(doc);
        doc = NULL;
    }
    xmlFreeParserCtxt(ctxt);
    quiet_end(&quiet);
    return doc;
}

/* An element named ns:name; a NULL ns matches the local name in any namespace (sObject fields). */
static bool is_el(const xmlNode *n, const char *ns, const char *name)
{
    if (n == NULL || n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, name) != 0)
        return false;
    return ns == NULL || (n->ns != NULL && n->ns->href != NULL && strcmp((const char *)n->ns->href, ns) == 0);
}

/* The first element child of `parent` named ns:name, or NULL. */
static xmlNode *child(const xmlNode *parent, const char *ns, const char *name)
{
    for (xmlNode *n = parent != NULL ? parent->children : NULL; n != NULL; n = n->next)
        if (is_el(n, ns, name))
            return n;
    return NULL;
}

/* soapenv:Envelope/soapenv:Body/om:notifications, or NULL. */
static xmlNode *notifications(xmlDocPtr doc)
{
    xmlNode *root = xmlDocGetRootElement(doc);

    if (!is_el(root, NS_SOAPENV, "Envelope"))
        return NULL;
    return child(child(root, NS_SOAPENV, "Body"), NS_OUTBOUND, "notifications");
}

/* The text of an element child into out (cap bytes with NUL); false when absent, empty, too long or holding NUL. */
static bool read_text(const xmlNode *parent, const char *ns, const char *name, char *out, size_t cap)
{
    xmlNode *n = child(parent, ns, name);
    xmlChar *text;
    size_t len;
    bool ok = false;

    out[0] = '\0';
    if (n == NULL)
        return false;
    text = xmlNodeGetContent(n);
    if (text == NULL)
        return false;
    len = strlen((const char *)text);
    if (len != 0 && len < cap) {
        memcpy(out, text, len + 1);
        ok = true;
    }
    xmlFree(text);
    return ok;
}

/* Verification. */

/* WH_OK when credentials.allowedCidrs is absent or holds the client's address. */
static wh_err_t check_address(const wh_inbound_t *in, const json_t *credentials, char *errbuf)
{
    const json_t *cidrs = json_object_get(credentials, "allowedCidrs"), *v;
    size_t i;

    if (cidrs == NULL)
        return WH_OK;
    if (!json_is_array(cidrs))
        return wh_errf(errbuf, WH_ENOCRED, "credentials.allowedCidrs is not a list");
    if (in->client_ip == NULL)
        return wh_errf(errbuf, WH_EFORBIDDEN, "the client address cannot be told; credentials.allowedCidrs refuses it");
    json_array_foreach(cidrs, i, v)
    {
        wh_cidr_t c;
        char ignored[WH_ERRBUF_SIZE];
        if (json_is_string(v) && wh_cidr_parse(wh_str(json_string_value(v), json_string_length(v)), &c, ignored) == WH_OK &&
            wh_cidr_contains(&c, in->client_ip))
            return WH_OK;
    }
    return wh_errf(errbuf, WH_EFORBIDDEN, "the client address is not in credentials.allowedCidrs");
}

static wh_err_t verify(const wh_inbound_t *in, const json_t *credentials, char *errbuf)
{
    wh_str_t want = wh_sig_get_credential(credentials, "organizationId");
    char got[ORG_ID_LONG + 2];
    xmlDocPtr doc;
    wh_err_t err;
    char ignored[WH_ERRBUF_SIZE];

    if (want.base == NULL)
        return wh_errf(errbuf, WH_ENOCRED, "credentials.organizationId missing");
    if (!is_org_id(want))
        return wh_errf(errbuf, WH_ENOCRED, "credentials.organizationId is not a 15 or 18 character id");
    if ((err = check_address(in, credentials, errbuf)) != WH_OK)
        return err;
    doc = load(in->body, &err, ignored);
    if (doc == NULL)
        return wh_errf(errbuf, WH_ESIGNATURE, "body is not a readable Outbound Message: OrganizationId unknown");
    if (!read_text(notifications(doc), NS_OUTBOUND, "OrganizationId", got, sizeof(got)) || !is_org_id(wh_str(got, strlen(got))))
        err = wh_errf(errbuf, WH_ESIGNATURE, "OrganizationId missing or not a Salesforce id");
    else if (!wh_ct_equal(got, ORG_ID_SHORT, want.base, ORG_ID_SHORT))
        err = wh_errf(errbuf, WH_ESIGNATURE, "OrganizationId is not the connection's");
    else
        err = WH_OK;
    xmlFreeDoc(doc);
    return err;
}

/* Parsing. */

/* The unified type for a Salesforce sObject type, or NULL when it has none (kept as Salesforce's name). */
static const char *resolve_type(const char *type)
{
    for (size_t i = 0; i != sizeof(types) / sizeof(types[0]); ++i)
        if (strcmp(type, types[i].salesforce) == 0)
            return wh_object_type_find(wh_str_c(types[i].object_type))->name;
    return NULL;
}

/* Salesforce API names (Contact, Invoice__c) are ASCII letters, digits and '_': the type becomes part of event types. */
static bool is_api_name(const char *s)
{
    for (; *s != '\0'; ++s)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
            return false;
    return true;
}

static bool is_nil(const xmlNode *n)
{
    xmlChar *nil = xmlGetNsProp(n, (const xmlChar *)"nil", (const xmlChar *)NS_XSI);
    bool yes = nil != NULL && (strcmp((const char *)nil, "true") == 0 || strcmp((const char *)nil, "1") == 0);

    xmlFree(nil);
    return yes;
}

/* The dedupe key: Notification/Id, which Salesforce keeps across retries, scoped by the org's 15-char id. */
static void dedupe_key(const char *org, const char *notification_id, uint8_t out[WH_DEDUPE_KEY_LEN])
{
    wh_str_t parts[3] = {WH_STRLIT("salesforce/v1"), wh_str(org, ORG_ID_SHORT), wh_str_c(notification_id)};
    wh_sig_dedupe_key(parts, 3, out);
}

static wh_err_t parse_notification(const xmlNode *note, size_t index, const char *org, int64_t now_ms, wh_changes_t *out,
                                   char *errbuf)
{
    char id[WH_MAX_ID_LEN + 1], object_id[WH_MAX_ID_LEN + 1], type[TYPE_NAME_MAX + 1];
    char name[WH_FIELDMAP_NAME_CAP];
    xmlNode *sobject = child(note, NS_OUTBOUND, "sObject");
    xmlChar *xsi_type, *created = NULL, *modified = NULL;
    const char *object_type, *colon;
    wh_change_t *c;
    size_t nfields = 0;
    int64_t occurred = now_ms;
    wh_err_t err = WH_OK;

    if (!read_text(note, NS_OUTBOUND, "Id", id, sizeof(id)))
        return wh_errf(errbuf, WH_EMALFORMED, "Notification[%zu].Id missing or longer than %d bytes", index, WH_MAX_ID_LEN);
    if (sobject == NULL)
        return wh_errf(errbuf, WH_EMALFORMED, "Notification[%zu].sObject missing", index);
    xsi_type = xmlGetNsProp(sobject, (const xmlChar *)"type", (const xmlChar *)NS_XSI);
    if (xsi_type == NULL)
        return wh_errf(errbuf, WH_EMALFORMED, "Notification[%zu].sObject has no xsi:type", index);
    colon = strchr((const char *)xsi_type, ':');
    colon = colon != NULL ? colon + 1 : (const char *)xsi_type;
    if (strlen(colon) == 0 || strlen(colon) > TYPE_NAME_MAX || !is_api_name(colon)) {
        xmlFree(xsi_type);
        return wh_errf(errbuf, WH_EMALFORMED,
                       "Notification[%zu].sObject xsi:type must name a type (letters, digits, _) of at most %d bytes", index,
                       TYPE_NAME_MAX);
    }
    memcpy(type, colon, strlen(colon) + 1);
    xmlFree(xsi_type);
    if (!read_text(sobject, NULL, "Id", object_id, sizeof(object_id)))
        return wh_errf(errbuf, WH_EMALFORMED, "Notification[%zu].sObject has no sf:Id of at most %d bytes", index, WH_MAX_ID_LEN);

    c = wh_changes_push(out);
    if (c == NULL)
        return wh_errf(errbuf, WH_ETOO_LARGE, "more than %d notifications", WH_MAX_BATCH);
    c->fields = must(json_object());
    /* A type outside the table keeps its own name: "salesforce:invoice__c", "Invoice__c" in details (unified.h). */
    if ((object_type = resolve_type(type)) != NULL)
        c->object_type = object_type;
    else if (!wh_change_own_type(c, "salesforce", EXTRA_TYPE_KEY, wh_str_c(type)))
        return wh_errf(errbuf, WH_EMALFORMED, "Notification[%zu].sObject xsi:type is not UTF-8", index);
    object_type = c->object_type;
    memcpy(c->object_id, object_id, sizeof(c->object_id));
    memcpy(c->account, org, strlen(org) + 1);
    memcpy(c->provider_event_id, id, sizeof(c->provider_event_id));
    dedupe_key(org, id, c->dedupe_key);

    for (xmlNode *f = sobject->children; f != NULL && err == WH_OK; f = f->next) {
        const char *prop = (const char *)f->name;
        json_t *value;
        xmlChar *text;

        if (f->type != XML_ELEMENT_NODE || strcmp(prop, "Id") == 0)
            continue;
        text = must(xmlNodeGetContent(f));
        if (strcmp(prop, "CreatedDate") == 0 && created == NULL)
            created = xmlStrdup(text);
        if (strcmp(prop, "LastModifiedDate") == 0 && modified == NULL)
            modified = xmlStrdup(text);
        value = is_nil(f) ? json_null() : json_string((const char *)text);
        xmlFree(text);
        if (value == NULL)
            err = wh_errf(errbuf, WH_EMALFORMED, "Notification[%zu].sObject.%.64s is not UTF-8", index, prop);
        else if (wh_fieldmap_put(&wh_fieldmap_salesforce, object_type, wh_str_c(prop), value, c->fields, name) != WH_OK)
            err = wh_errf(errbuf, WH_EMALFORMED, "Notification[%zu].sObject has a field name that is not usable", index);
        ++nfields;
    }
    if (err == WH_OK && modified != NULL && !wh_parse_iso8601(wh_str_c((const char *)modified), &occurred))
        err = wh_errf(errbuf, WH_EMALFORMED, "Notification[%zu].sObject.LastModifiedDate must be an ISO 8601 date-time", index);
    c->occurred_at_ms = occurred;
    c->action =
        wh_action_find(created != NULL && modified != NULL && xmlStrEqual(created, modified) ? WH_STRLIT(WH_ACTION_CREATED)
                                                                                             : WH_STRLIT(WH_ACTION_UPDATED));
    /* A record deleted before delivery arrives with its id only (README §4.1): the event names the object. */
    c->thin = nfields == 0;
    xmlFree(created);
    xmlFree(modified);
    return err;
}

/* `credentials` are not needed: the body names its org and object types. */
static wh_err_t parse(const wh_inbound_t *in, const json_t *credentials, wh_changes_t *out, char *errbuf)
{
    char org[ORG_ID_LONG + 2];
    xmlNode *root;
    size_t count = 0, index = 0;
    xmlDocPtr doc;
    wh_err_t err;

    (void)credentials;
    doc = load(in->body, &err, errbuf);
    if (doc == NULL)
        return err;
    root = notifications(doc);
    if (root == NULL) {
        err = wh_errf(errbuf, WH_EMALFORMED, "body is not a Salesforce Outbound Message (soapenv:Envelope/Body/notifications)");
        goto Exit;
    }
    if (!read_text(root, NS_OUTBOUND, "OrganizationId", org, sizeof(org)) || !is_org_id(wh_str(org, strlen(org)))) {
        err = wh_errf(errbuf, WH_EMALFORMED, "OrganizationId missing or not a 15 or 18 character id");
        goto Exit;
    }
    for (xmlNode *n = root->children; n != NULL; n = n->next)
        if (is_el(n, NS_OUTBOUND, "Notification"))
            ++count;
    if (count == 0) {
        err = wh_errf(errbuf, WH_EMALFORMED, "no Notification element");
        goto Exit;
    }
    if (count > MAX_NOTIFICATIONS) {
        err = wh_errf(errbuf, WH_ETOO_LARGE, "%zu notifications, more than %d", count, MAX_NOTIFICATIONS);
        goto Exit;
    }
    err = WH_OK;
    for (xmlNode *n = root->children; n != NULL && err == WH_OK; n = n->next)
        if (is_el(n, NS_OUTBOUND, "Notification"))
            err = parse_notification(n, index++, org, in->now_ms, out, errbuf);
Exit:
    xmlFreeDoc(doc);
    return err;
}

/* Answers. */

static char *copy_bytes(const void *p, size_t len)
{
    char *s = must(malloc(len + 1));

    memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

/* The fixed acknowledgement: it carries no request data, so a constant is enough. */
static void success(const wh_inbound_t *in, size_t accepted, wh_reply_t *reply)
{
    (void)in;
    (void)accepted;
    reply->status = 200;
    reply->content_type = "text/xml; charset=utf-8";
    reply->body = copy_bytes(ACK, sizeof(ACK) - 1);
    reply->body_len = sizeof(ACK) - 1;
}

/* An unqualified child element holding `text` as a text node (escaped when serialized). xmlNewTextChild would give
 * it the parent's namespace; SOAP 1.1 wants faultcode, faultstring and detail unqualified. */
static xmlNodePtr add_text_child(xmlDocPtr doc, xmlNodePtr parent, const char *name, const char *text)
{
    xmlNodePtr n = must(xmlNewDocNode(doc, NULL, (const xmlChar *)name, NULL));

    xmlAddChild(parent, n);
    if (text != NULL)
        xmlAddChild(n, must(xmlNewDocText(doc, (const xmlChar *)text)));
    return n;
}

/* Longest faultstring sent; wharf's messages are one short sentence. */
#define FAULTSTRING_MAX 512

/*
 * `message` as printable ASCII of at most FAULTSTRING_MAX bytes into out: other bytes become '?', so the Fault is
 * always well-formed XML (control characters are not allowed in XML 1.0 and invalid UTF-8 would fail to serialize).
 */
static void printable(const char *message, char out[FAULTSTRING_MAX + 1])
{
    size_t i = 0;

    for (; message != NULL && message[i] != '\0' && i != FAULTSTRING_MAX; ++i)
        out[i] = message[i] >= 0x20 && message[i] < 0x7f ? message[i] : '?';
    out[i] = '\0';
}

/* A SOAP 1.1 Fault built with libxml2's tree API, which escapes the message. Salesforce retries on any Fault. */
static void refusal(const wh_inbound_t *in, int status, const char *code, const char *message, wh_reply_t *reply)
{
    xmlDocPtr doc;
    xmlNodePtr envelope, body, fault, detail;
    xmlNsPtr ns;
    xmlChar *mem = NULL;
    int size = 0;
    char text[FAULTSTRING_MAX + 1];
    quiet_t quiet;

    (void)in;
    printable(message, text);
    quiet_begin(&quiet);
    doc = must(xmlNewDoc((const xmlChar *)"1.0"));
    envelope = must(xmlNewDocNode(doc, NULL, (const xmlChar *)"Envelope", NULL));
    xmlDocSetRootElement(doc, envelope);
    ns = must(xmlNewNs(envelope, (const xmlChar *)NS_SOAPENV, (const xmlChar *)"soapenv"));
    xmlSetNs(envelope, ns);
    body = must(xmlNewChild(envelope, ns, (const xmlChar *)"Body", NULL));
    fault = must(xmlNewChild(body, ns, (const xmlChar *)"Fault", NULL));
    add_text_child(doc, fault, "faultcode", status >= 500 ? "soapenv:Server" : "soapenv:Client");
    add_text_child(doc, fault, "faultstring", text);
    detail = add_text_child(doc, fault, "detail", NULL);
    printable(code, text);
    add_text_child(doc, detail, "code", text);
    xmlDocDumpMemoryEnc(doc, &mem, &size, "UTF-8");
    must(mem);
    reply->status = status;
    reply->content_type = "text/xml; charset=utf-8";
    reply->body = copy_bytes(mem, (size_t)size);
    reply->body_len = (size_t)size;
    xmlFree(mem);
    xmlFreeDoc(doc);
    quiet_end(&quiet);
}

const wh_provider_t wh_provider_salesforce = {
    .name = "salesforce",
    .flags = WH_PROVIDER_CLIENT_ADDR, /* per-connection route only; verify reads the client address (allowedCidrs) */
    .content_type = "text/xml",
    .check_credentials = check_credentials,
    .handshake = NULL, /* Outbound Messages have no handshake */
    .verify = verify,
    .parse = parse,
    .success = success,
    .refusal = refusal,
};
