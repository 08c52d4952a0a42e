package gateway

import "time"

// SetJPushClockForTest makes the /v3 rate limiter of g read the time from
// now (this file is compiled only into tests). Call it before the first
// /v3 request.
func SetJPushClockForTest(g *Gateway, now func() time.Time) { g.jpush.limiter.now = now }

// SetJPushRateLimitsForTest replaces the /v3 rate limits of g. Call it
// before the first /v3 request.
func SetJPushRateLimitsForTest(g *Gateway, l JPushRateLimits) { g.jpush.limits = l }
