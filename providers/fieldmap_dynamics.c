/*
 * Dataverse attribute logical names -> unified fields (design §4), keyed by the event's object_type as
 * providers/dynamics.c resolves it (opportunity -> "deal", annotation -> "note", …). Attributes without a
 * row land under fields.additional.<name>. Names from the Dataverse table/column reference.
 */
#include "fieldmap.h"

extern const wh_fieldmap_t wh_fieldmap_dynamics;

static const wh_fieldmap_entry_t rows[] = {
    {"contact", "firstname", "firstName"},
    {"contact", "lastname", "lastName"},
    {"contact", "fullname", "name"},
    {"contact", "emailaddress1", "email"},
    {"contact", "telephone1", "phone"},
    {"contact", "mobilephone", "mobilePhone"},
    {"contact", "jobtitle", "title"},
    {"contact", "parentcustomerid", "accountId"},
    {"contact", "ownerid", "ownerId"},
    {"contact", "createdon", "createdAt"},
    {"contact", "modifiedon", "updatedAt"},

    {"account", "name", "name"},
    {"account", "websiteurl", "domain"},
    {"account", "telephone1", "phone"},
    {"account", "emailaddress1", "email"},
    {"account", "industrycode", "industry"},
    {"account", "numberofemployees", "numberOfEmployees"},
    {"account", "revenue", "annualRevenue"},
    {"account", "ownerid", "ownerId"},
    {"account", "createdon", "createdAt"},
    {"account", "modifiedon", "updatedAt"},

    {"deal", "name", "name"},
    {"deal", "estimatedvalue", "amount"},
    {"deal", "stepname", "stage"},
    {"deal", "estimatedclosedate", "closeDate"},
    {"deal", "statecode", "status"},
    {"deal", "customerid", "accountId"},
    {"deal", "parentaccountid", "accountId"},
    {"deal", "parentcontactid", "contactId"},
    {"deal", "ownerid", "ownerId"},
    {"deal", "createdon", "createdAt"},
    {"deal", "modifiedon", "updatedAt"},

    {"lead", "firstname", "firstName"},
    {"lead", "lastname", "lastName"},
    {"lead", "fullname", "name"},
    {"lead", "emailaddress1", "email"},
    {"lead", "telephone1", "phone"},
    {"lead", "companyname", "companyName"},
    {"lead", "jobtitle", "title"},
    {"lead", "statuscode", "status"},
    {"lead", "ownerid", "ownerId"},
    {"lead", "createdon", "createdAt"},
    {"lead", "modifiedon", "updatedAt"},

    {"task", "subject", "title"},
    {"task", "description", "body"},
    {"task", "scheduledend", "dueDate"},
    {"task", "statecode", "status"},
    {"task", "regardingobjectid", "regardingId"},
    {"task", "ownerid", "ownerId"},
    {"task", "createdon", "createdAt"},
    {"task", "modifiedon", "updatedAt"},

    {"note", "subject", "title"},
    {"note", "notetext", "body"},
    {"note", "objectid", "regardingId"},
    {"note", "ownerid", "ownerId"},
    {"note", "createdon", "createdAt"},
    {"note", "modifiedon", "updatedAt"},

    {"user", "firstname", "firstName"},
    {"user", "lastname", "lastName"},
    {"user", "fullname", "name"},
    {"user", "internalemailaddress", "email"},
    {"user", "isdisabled", "disabled"},
    {"user", "createdon", "createdAt"},
    {"user", "modifiedon", "updatedAt"},

    {"event", "subject", "title"},
    {"event", "scheduledstart", "startTime"},
    {"event", "scheduledend", "endTime"},
    {"event", "location", "location"},
    {"event", "regardingobjectid", "regardingId"},
    {"event", "ownerid", "ownerId"},
    {"event", "createdon", "createdAt"},
    {"event", "modifiedon", "updatedAt"},

    {"call", "subject", "title"},
    {"call", "description", "body"},
    {"call", "phonenumber", "phone"},
    {"call", "regardingobjectid", "regardingId"},
    {"call", "ownerid", "ownerId"},
    {"call", "createdon", "createdAt"},
    {"call", "modifiedon", "updatedAt"},

    {"email", "subject", "title"},
    {"email", "description", "body"},
    {"email", "regardingobjectid", "regardingId"},
    {"email", "ownerid", "ownerId"},
    {"email", "createdon", "createdAt"},
    {"email", "modifiedon", "updatedAt"},
};

const wh_fieldmap_t wh_fieldmap_dynamics = WH_FIELDMAP_INIT(rows);
