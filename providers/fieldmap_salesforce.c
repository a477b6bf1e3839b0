/*
 * Salesforce sObject field API names -> unified fields (design §4), keyed by the event's object_type as
 * providers/salesforce.c resolves it (Contact -> "contact", Opportunity -> "deal", …). Outbound Messages carry
 * the fields chosen when the message was configured; fields without a row (custom __c fields included) land
 * under fields.additional.<name>. WhatId on a Task/Event is the related record (often an Opportunity, but it may
 * be an Account or a custom object): it is filed as dealId, the common case, and the id prefix tells the rest.
 */
#include "fieldmap.h"

extern const wh_fieldmap_t wh_fieldmap_salesforce;

static const wh_fieldmap_entry_t rows[] = {
    {"contact", "FirstName", "firstName"},
    {"contact", "LastName", "lastName"},
    {"contact", "Name", "name"},
    {"contact", "Email", "email"},
    {"contact", "Phone", "phone"},
    {"contact", "AccountId", "accountId"},
    {"contact", "OwnerId", "ownerId"},
    {"contact", "Title", "title"},
    {"contact", "CreatedDate", "createdAt"},
    {"contact", "LastModifiedDate", "updatedAt"},

    {"lead", "FirstName", "firstName"},
    {"lead", "LastName", "lastName"},
    {"lead", "Name", "name"},
    {"lead", "Email", "email"},
    {"lead", "Phone", "phone"},
    {"lead", "OwnerId", "ownerId"},
    {"lead", "Status", "status"},
    {"lead", "Title", "title"},
    {"lead", "CreatedDate", "createdAt"},
    {"lead", "LastModifiedDate", "updatedAt"},

    {"account", "Name", "name"},
    {"account", "Phone", "phone"},
    {"account", "OwnerId", "ownerId"},
    {"account", "Website", "website"},
    {"account", "CreatedDate", "createdAt"},
    {"account", "LastModifiedDate", "updatedAt"},

    {"deal", "Name", "name"},
    {"deal", "Amount", "amount"},
    {"deal", "StageName", "stage"},
    {"deal", "CloseDate", "closeDate"},
    {"deal", "AccountId", "accountId"},
    {"deal", "OwnerId", "ownerId"},
    {"deal", "CreatedDate", "createdAt"},
    {"deal", "LastModifiedDate", "updatedAt"},

    {"task", "Subject", "subject"},
    {"task", "Status", "status"},
    {"task", "ActivityDate", "dueDate"},
    {"task", "OwnerId", "ownerId"},
    {"task", "WhatId", "dealId"},
    {"task", "AccountId", "accountId"},
    {"task", "CreatedDate", "createdAt"},
    {"task", "LastModifiedDate", "updatedAt"},

    {"event", "Subject", "subject"},
    {"event", "ActivityDate", "dueDate"},
    {"event", "OwnerId", "ownerId"},
    {"event", "WhatId", "dealId"},
    {"event", "AccountId", "accountId"},
    {"event", "CreatedDate", "createdAt"},
    {"event", "LastModifiedDate", "updatedAt"},

    {"user", "FirstName", "firstName"},
    {"user", "LastName", "lastName"},
    {"user", "Name", "name"},
    {"user", "Email", "email"},
    {"user", "Phone", "phone"},
    {"user", "CreatedDate", "createdAt"},
    {"user", "LastModifiedDate", "updatedAt"},

    {"note", "Title", "title"},
    {"note", "Body", "body"},
    {"note", "OwnerId", "ownerId"},
    {"note", "CreatedDate", "createdAt"},
    {"note", "LastModifiedDate", "updatedAt"},
};

const wh_fieldmap_t wh_fieldmap_salesforce = WH_FIELDMAP_INIT(rows);
