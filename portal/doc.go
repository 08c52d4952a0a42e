// Package portal is the marketers' web UI: log in, compose a push and pick
// its audience with a live estimate, send it now or schedule it, watch it
// being delivered, and manage an app's schedules, segments, tags, devices
// and (for owners) its settings, in a browser and with no other tool.
//
// The portal is a client of the gateway's public REST API (the /v1 face and
// the portal endpoints of docs/portal.md): it keeps no data of its own
// beyond a short history of the delivery figures it has watched. A user
// logs in with email and password; the gateway answers with a session
// token, which the portal keeps in an HttpOnly cookie and sends on every
// call as "Authorization: Session <token>", with the app in X-Herald-App.
// The gateway checks every action against the user's role; the portal only
// hides what the role cannot do, and shows the gateway's refusal if it
// comes anyway.
//
// New returns the http.Handler of everything under /portal/: pages
// rendered on the server from html/template (they show their data and
// their forms post with JavaScript off), one small ES module for what is
// live (the audience estimate, the notification preview, the delivery
// funnel over server-sent events, the chart), and the vendored uPlot. All
// of it is embedded: no CDN, no remote font, no external URL. Responses
// carry a strict Content-Security-Policy; every state-changing request
// needs the CSRF token of its session and a same-origin browser.
//
// In its own process (`herald portal`) the portal calls the gateway over
// cleartext HTTP/2; in `herald all` through HandlerTransport, straight to
// the gateway's handler.
//
// Concurrency: the Handler serves requests concurrently. Per-request state
// lives in the request; what is shared (the login limiter, the history of
// delivery figures) has its own lock.
package portal
