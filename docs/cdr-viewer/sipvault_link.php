<?php
// A SIP VAULT deep link for one call, as a CDR viewer makes it (docs/cdr-viewer.md).
// sig = lowercase hex HMAC-SHA256(secret, customer "\n" call_id "\n" ts).
// Usage from the command line: php sipvault_link.php BASE_URL CUSTOMER CALL_ID [TS]
// with the secret in the environment variable SIPVAULT_HMAC_SECRET.

function sipvault_link(string $base, string $secret, string $customer, string $callId,
                       ?int $ts = null, ?string $date = null): string
{
    $ts = $ts ?? time();
    $sig = hash_hmac('sha256', $customer . "\n" . $callId . "\n" . $ts, $secret);
    $query = ['customer' => $customer, 'ts' => $ts, 'sig' => $sig];
    if ($date !== null) {
        $query['date'] = $date; // optional hint (YYYY-MM-DD, UTC day the call started), not signed
    }
    return rtrim($base, '/') . '/calls/' . rawurlencode($callId) . '?'
        . http_build_query($query, '', '&', PHP_QUERY_RFC3986);
}

if (PHP_SAPI === 'cli' && realpath($argv[0]) === __FILE__) {
    if ($argc < 4) {
        fwrite(STDERR, "usage: php sipvault_link.php BASE_URL CUSTOMER CALL_ID [TS]\n");
        exit(2);
    }
    $secret = getenv('SIPVAULT_HMAC_SECRET');
    echo sipvault_link($argv[1], $secret, $argv[2], $argv[3], isset($argv[4]) ? (int)$argv[4] : null), "\n";
}
