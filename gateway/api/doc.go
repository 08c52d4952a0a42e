// Package api is what every face of the gateway's REST API shares: the
// route table and its authentication (the admin token; an app's app_key
// and master secret; or a portal user's session, whose role on the app
// must cover the route's), the audit log of the calls that change
// something, JSON bodies read strictly, answers and errors written as
// JSON, and the paging of listings.
//
// Checking a route's role costs nothing for an app's backend (Basic
// credentials are the owner's), and its calls are audited only on the
// owner's routes (the webhook, the master secret, members): a push made
// with Basic reads and writes nothing more than before. A call made with
// a session reads the session, its user and the user's roles; an audited
// call writes its entry before its answer goes out.
//
// It owns the one table that turns the errors of lower layers into HTTP
// statuses (ToError). A face that speaks another error dialect (the
// JPush-compatible /v3 face) writes its own error bodies, starting from
// what ToError says.
//
// Concurrency: everything here is safe for concurrent use; the
// Authenticator caches apps behind a lock.
package api
