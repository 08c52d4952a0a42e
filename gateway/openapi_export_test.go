package gateway

// RouteForTest is one row of a gateway's route table, as the external
// tests see it (this file is compiled only into tests: it adds nothing to
// the package's API).
type RouteForTest struct {
	Method, Pattern string
	// Auth is "none", "app", "basic", "session" or "admin".
	Auth string
	// Role is the least role of a portal user on an "app" route.
	Role string
}

// RoutesForTest returns g's route table, in its order.
func RoutesForTest(g *Gateway) []RouteForTest {
	out := make([]RouteForTest, len(g.routes))
	for i, rt := range g.routes {
		out[i] = RouteForTest{Method: rt.Method, Pattern: rt.Pattern, Auth: rt.Auth.String(), Role: string(rt.Role)}
	}
	return out
}
