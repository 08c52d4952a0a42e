package node

import "testing"

func TestDefaultBudgetsSplitTheOpenFileLimit(t *testing.T) {
	for _, tc := range []struct {
		name           string
		limit, reserve int
		device         bool
		want           budgets
	}{
		{"herald all, 20,000 files", 20000, storeReserve, true, budgets{http: ConnCaps{1024, 128}, device: ConnCaps{18208, 2276}}},
		{"connector, 20,000 files", 20000, plainReserve, true, budgets{http: ConnCaps{1024, 128}, device: ConnCaps{18720, 2340}}},
		{"gateway, 20,000 files", 20000, plainReserve, false, budgets{http: ConnCaps{1024, 128}, device: ConnCaps{0, 8}}},
		{"herald all under ulimit -n 400 (the issue's)", 400, storeReserve, true, budgets{http: ConnCaps{50, 8}, device: ConnCaps{250, 31}}},
		{"a million files", 1 << 20, storeReserve, true, budgets{http: ConnCaps{1024, 128}, device: ConnCaps{1<<20 - 768 - 1024, (1<<20 - 768 - 1024) / 8}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := defaultBudgets(tc.limit, tc.reserve, tc.device)
			if got != tc.want {
				t.Fatalf("defaultBudgets(%d, %d, %v) = %+v, want %+v", tc.limit, tc.reserve, tc.device, got, tc.want)
			}
			if sum := got.http.Total + got.device.Total + min(tc.reserve, tc.limit/4); sum > tc.limit {
				t.Fatalf("the budgets and the reserve take %d files of %d", sum, tc.limit)
			}
		})
	}
}

func TestConnCapsResolve(t *testing.T) {
	def := ConnCaps{Total: 1024, PerAddress: 128}
	for _, tc := range []struct{ in, want ConnCaps }{
		{ConnCaps{}, def},
		{ConnCaps{Total: -1, PerAddress: -1}, ConnCaps{}},
		{ConnCaps{Total: 4000}, ConnCaps{4000, 500}}, // per address follows the total
		{ConnCaps{Total: 4000, PerAddress: 10}, ConnCaps{4000, 10}},
		{ConnCaps{PerAddress: -1}, ConnCaps{1024, 0}},
	} {
		if got := tc.in.resolve(def); got != tc.want {
			t.Errorf("%+v.resolve(%+v) = %+v, want %+v", tc.in, def, got, tc.want)
		}
	}
}
