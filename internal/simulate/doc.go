// Package simulate generates realistic, deterministic Zettle Pusher events
// and posts them to pusher's ingest API.
//
// The payload generators imitate the published examples of pusher-api.md
// §3.4: the same field names, nesting and key order, Zettle's timestamp
// styles ("2021-04-19T13:17:56.572+0000" strings and epoch-millisecond
// numbers in purchases), amounts in minor units, quantities and balances as
// strings, and version-1 product and variant ids. Everything is derived from
// a seed and a simulated clock, so the same seed always gives the same bytes.
//
// A Shop keeps a product catalogue and stock levels per organization and
// turns them into a stream of event bursts (a purchase and the inventory
// changes it causes, refunds, catalogue edits, …). Run paces such a stream
// against POST /v1/events, and CheckShape validates any payload, generated or
// real, against the shape of its event.
package simulate
