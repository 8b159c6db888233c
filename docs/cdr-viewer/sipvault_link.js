#!/usr/bin/env node
// A SIP VAULT deep link for one call, as a CDR viewer makes it (docs/cdr-viewer.md).
// sig = lowercase hex HMAC-SHA256(secret, customer "\n" call_id "\n" ts).
// Usage from the command line: node sipvault_link.js BASE_URL CUSTOMER CALL_ID [TS]
// with the secret in the environment variable SIPVAULT_HMAC_SECRET.
'use strict';
const crypto = require('crypto');

function sipvaultLink(base, secret, customer, callId, ts, date) {
  ts = ts === undefined || ts === null ? Math.floor(Date.now() / 1000) : Number(ts);
  const sig = crypto.createHmac('sha256', secret)
    .update(`${customer}\n${callId}\n${ts}`, 'utf8').digest('hex');
  const query = new URLSearchParams({ customer, ts: String(ts), sig });
  if (date) query.set('date', date); // optional hint (YYYY-MM-DD, UTC day the call started), not signed
  return `${base.replace(/\/+$/, '')}/calls/${encodeURIComponent(callId)}?${query}`;
}

module.exports = { sipvaultLink };

if (require.main === module) {
  const [base, customer, callId, ts] = process.argv.slice(2);
  if (!callId) {
    process.stderr.write('usage: node sipvault_link.js BASE_URL CUSTOMER CALL_ID [TS]\n');
    process.exit(2);
  }
  console.log(sipvaultLink(base, process.env.SIPVAULT_HMAC_SECRET, customer, callId, ts));
}
