// Package api is what every face of the gateway's REST API shares: the
// route table and its authentication (the admin token, or an app's
// app_key and master secret), JSON bodies read strictly, answers and
// errors written as JSON, and the paging of listings.
//
// It owns the one table that turns the errors of lower layers into HTTP
// statuses (ToError). A face that speaks another error dialect (the
// JPush-compatible /v3 face) writes its own error bodies, starting from
// what ToError says.
//
// Concurrency: everything here is safe for concurrent use; the
// Authenticator caches apps behind a lock.
package api
