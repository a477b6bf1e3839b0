/*
 * HubSpot internal property names -> unified fields (design §4), keyed by the event's object_type as
 * providers/hubspot.c resolves it (company -> "account", objectTypeId 0-47 -> "event", …). Properties
 * without a row land under fields.additional.<name>.
 */
#include "fieldmap.h"

static const wh_fieldmap_entry_t rows[] = {
    {"contact", "firstname", "firstName"},
    {"contact", "lastname", "lastName"},
    {"contact", "email", "email"},
    {"contact", "phone", "phone"},
    {"contact", "mobilephone", "mobilePhone"},
    {"contact", "company", "companyName"},
    {"contact", "jobtitle", "title"},
    {"contact", "hubspot_owner_id", "ownerId"},
    {"contact", "lifecyclestage", "lifecycleStage"},
    {"contact", "createdate", "createdAt"},
    {"contact", "lastmodifieddate", "updatedAt"},
    {"contact", "associatedcompanyid", "accountId"},

    {"account", "name", "name"},
    {"account", "domain", "domain"},
    {"account", "phone", "phone"},
    {"account", "industry", "industry"},
    {"account", "hubspot_owner_id", "ownerId"},
    {"account", "numberofemployees", "numberOfEmployees"},
    {"account", "annualrevenue", "annualRevenue"},
    {"account", "createdate", "createdAt"},
    {"account", "hs_lastmodifieddate", "updatedAt"},

    {"deal", "dealname", "name"},
    {"deal", "amount", "amount"},
    {"deal", "dealstage", "stage"},
    {"deal", "pipeline", "pipeline"},
    {"deal", "closedate", "closeDate"},
    {"deal", "hubspot_owner_id", "ownerId"},
    {"deal", "createdate", "createdAt"},
    {"deal", "hs_lastmodifieddate", "updatedAt"},

    {"lead", "hubspot_owner_id", "ownerId"},
    {"lead", "hs_createdate", "createdAt"},

    {"task", "hs_task_subject", "title"},
    {"task", "hs_task_status", "status"},
    {"task", "hs_timestamp", "dueDate"},
    {"task", "hubspot_owner_id", "ownerId"},
    {"task", "hs_createdate", "createdAt"},

    {"note", "hs_note_body", "body"},
    {"note", "hubspot_owner_id", "ownerId"},
    {"note", "hs_createdate", "createdAt"},

    {"call", "hs_call_title", "title"},
    {"call", "hubspot_owner_id", "ownerId"},
    {"call", "hs_createdate", "createdAt"},

    {"event", "hs_meeting_title", "title"},
    {"event", "hubspot_owner_id", "ownerId"},
    {"event", "hs_createdate", "createdAt"},

    {"email", "hubspot_owner_id", "ownerId"},
    {"email", "hs_createdate", "createdAt"},
};

const wh_fieldmap_t wh_fieldmap_hubspot = WH_FIELDMAP_INIT(rows);
