// Deterministic synthetic contacts for bench/cache.sh: record i (0-based) is the same in push.js (which
// writes it) and read.js (which queries it), so the reads can pick ids, emails and prefixes that exist.
// 100k records: 201 first names, ~30 000 last names over ~630 distinct 3-letter prefixes (42 to 1 300
// records each, median ~80), distinct emails, updatedAt spread over 2025 (pseudo-random per record),
// createdAt before it; update round r moves updatedAt r years later and changes phone and lead status.
'use strict';

const FIRST = ('James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara Richard Susan ' +
  'Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony Margaret Mark ' +
  'Sandra Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian ' +
  'Dorothy George Melissa Timothy Deborah Ronald Stephanie Edward Rebecca Jason Sharon Jeffrey Laura Ryan Cynthia ' +
  'Jacob Kathleen Gary Amy Nicholas Angela Eric Shirley Jonathan Anna Stephen Brenda Larry Pamela Justin Emma ' +
  'Scott Nicole Brandon Helen Benjamin Samantha Samuel Katherine Gregory Christine Alexander Debra Frank Rachel ' +
  'Patrick Carolyn Raymond Janet Jack Catherine Dennis Maria Jerry Heather Tyler Diane Aaron Ruth Jose Julie Adam ' +
  'Olivia Nathan Joyce Henry Virginia Douglas Victoria Zachary Kelly Peter Lauren Kyle Christina Ethan Joan Walter ' +
  'Evelyn Noah Judith Jeremy Megan Christian Andrea Keith Cheryl Roger Hannah Terry Jacqueline Gerald Martha Harold ' +
  'Gloria Sean Teresa Austin Ann Carl Sara Arthur Madison Lawrence Frances Dylan Kathryn Jesse Janice Jordan Jean ' +
  'Bryan Abigail Billy Alice Joe Judy Bruce Sophia Gabriel Grace Logan Denise Albert Amber Willie Doris Alan Marilyn ' +
  'Juan Danielle Wayne Beverly Elijah Isabella Randy Theresa Roy Diana Vincent Natalie Ralph Brittany Eugene ' +
  'Charlotte Russell Marie Bobby Kayla Mason Alexis Philip Lori Louis Ünal Zoë').split(' ');
// last names: a syllable grammar (onset + vowel + coda, 1 600 stems) and an ending chosen per record
const ON = ['B', 'Br', 'C', 'Ch', 'D', 'F', 'G', 'H', 'J', 'K', 'L', 'M', 'N', 'P', 'R', 'S', 'Sh', 'St', 'T', 'W'];
const VO = ['a', 'e', 'i', 'o', 'u', 'ai', 'ea', 'ou'];
const CO = ['l', 'n', 'r', 'rt', 'nd', 'ck', 'll', 'm', 's', 'x'];
const EN = ['son', 'er', 'ley', 'ton', 'man', 'ford', 'wood', 'berg', 'ez', 'i', 'ini', 'ova', 'sky', 'ham', 'well',
  'ard', 'ing', 'ett', 'ridge', 'worth'];
const LAST = [];
for (const o of ON) for (const v of VO) for (const c of CO) LAST.push(o + v + c);
const DOMAINS = ['example.com', 'acme.io', 'globex.com', 'initech.net', 'umbrella.org', 'hooli.com', 'vandelay.biz',
  'stark.dev', 'wayne.co', 'soylent.com'];
const TITLES = ['CEO', 'CTO', 'VP Sales', 'Account Executive', 'Engineer', 'Office Manager', 'Buyer', 'Analyst', null];
const STATUS = ['NEW', 'OPEN', 'IN_PROGRESS', 'CONNECTED', 'UNQUALIFIED', 'BAD_TIMING'];
const T0 = Date.UTC(2025, 0, 1); // updatedAt of round 0 falls in 2025
const YEAR = 365 * 86400000;

// a small integer hash (splitmix-like), stable across runs
function h(i, salt) {
  let x = (i * 0x9e3779b1 + salt * 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}
const pick = (arr, i, salt) => arr[h(i, salt) % arr.length];
const frac = (i, salt) => h(i, salt) / 4294967296; // in [0, 1)

const idOf = (i) => String(20000001 + i); // HubSpot-like numeric ids, 8 digits
function firstName(i) { return pick(FIRST, i, 1); }
function lastName(i) { return pick(LAST, i, 2) + pick(EN, i, 3); }
function email(i) {
  const f = firstName(i).toLowerCase().replace(/[^a-z]/g, 'x');
  return `${f}.${lastName(i).toLowerCase()}.${i}@${pick(DOMAINS, i, 4)}`;
}
function updatedMs(i, round) { return T0 + Math.floor(frac(i, 5) * YEAR) + round * YEAR; } // round r: a later year
// round 0: the initial sync; round r > 0: an update of the record (newer updatedAt, changed fields)
function record(i, round = 0) {
  const upd = updatedMs(i, round);
  const r = {
    id: idOf(i),
    updatedAt: new Date(upd).toISOString(),
    createdAt: new Date(updatedMs(i, 0) - Math.floor(frac(i, 6) * 3 * YEAR)).toISOString(),
    firstName: firstName(i),
    lastName: lastName(i),
    email: email(i),
    phone: `+1 ${200 + (h(i, 7) % 800)} 555 ${String(h(i, 8) % 10000).padStart(4, '0')}`,
    jobTitle: pick(TITLES, i, 9),
    accountId: String(9000001 + (h(i, 10) % 5000)),
    ownerId: String(700 + (h(i, 11) % 40)),
    additional: { hs_lead_status: pick(STATUS, i, 12), lifecyclestage: 'lead', hs_analytics_num_visits: h(i, 13) % 50 },
  };
  if (round > 0) { // what changed at the CRM: the lead status and the phone
    r.additional.hs_lead_status = pick(STATUS, i, 12 + round);
    r.phone = `+1 ${200 + (h(i, 7 + round * 100) % 800)} 555 ${String(h(i, 8 + round * 100) % 10000).padStart(4, '0')}`;
  }
  return r;
}
module.exports = { record, idOf, firstName, lastName, email, updatedMs, h, FIRST, T0, YEAR };
