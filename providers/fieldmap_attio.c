/*
 * Attio attribute api slugs -> unified fields (design §4), keyed by the unified object type a connection's
 * credentials.objectMap gives the Attio object. Attio webhooks are thin (ids only, README §8.4), so today the
 * table serves consumers' fetch path and future fat events; unmapped slugs land under fields.additional.<slug>.
 */
#include "fieldmap.h"

static const wh_fieldmap_entry_t rows[] = {
    {"contact", "name", "name"},
    {"contact", "email_addresses", "emails"},
    {"contact", "phone_numbers", "phones"},
    {"contact", "job_title", "title"},
    {"contact", "company", "accountId"},
    {"contact", "created_at", "createdAt"},

    {"account", "name", "name"},
    {"account", "domains", "domain"},
    {"account", "description", "description"},
    {"account", "categories", "industry"},
    {"account", "employee_range", "numberOfEmployees"},
    {"account", "created_at", "createdAt"},

    {"deal", "name", "name"},
    {"deal", "stage", "stage"},
    {"deal", "value", "amount"},
    {"deal", "owner", "ownerId"},
    {"deal", "associated_company", "accountId"},
    {"deal", "associated_people", "contactIds"},
    {"deal", "created_at", "createdAt"},

    {"user", "primary_email_address", "email"},
    {"user", "person", "contactId"},
    {"user", "created_at", "createdAt"},
};

const wh_fieldmap_t wh_fieldmap_attio = WH_FIELDMAP_INIT(rows);
