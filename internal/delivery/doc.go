// Package delivery sends messages to their destinations: it claims due
// messages from the store with a lease, signs and POSTs each envelope,
// classifies the outcome and records it with one fenced store write; what
// follows an attempt (retry, FAILING, deletion, notices) is decided by
// webhook.Subscription.AfterAttempt on the configured webhook.RetryPolicy.
// It also performs the TestMessage handshake of a new subscription.
package delivery
