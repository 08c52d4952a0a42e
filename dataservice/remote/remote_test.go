package remote

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/clienttest"
	"github.com/heraldpush/herald/dataservice/leveldb"
	"github.com/heraldpush/herald/dataservice/storetest"
)

const testToken = "cluster-secret"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// instanceUnderTest is a dataservice served over h2c by an httptest server.
type instanceUnderTest struct {
	URL    string
	Store  dataservice.Store
	Source *dataservice.Source
	srv    *httptest.Server
}

// serve starts a dataservice instance over store.
func serve(tb testing.TB, store dataservice.Store, invalidation *dataservice.InvalidationConfig) *instanceUnderTest {
	tb.Helper()
	in := &instanceUnderTest{Store: store}
	if invalidation != nil {
		in.Source = dataservice.NewSource(store, *invalidation)
		in.Store = in.Source
	}
	s, err := NewServer(ServerConfig{Token: testToken, Log: quiet}, in.Store, dataservice.New(in.Store), in.Source)
	if err != nil {
		tb.Fatal(err)
	}
	in.srv = httptest.NewUnstartedServer(s.Handler())
	in.srv.Config.Protocols = new(http.Protocols)
	in.srv.Config.Protocols.SetHTTP1(true)
	in.srv.Config.Protocols.SetUnencryptedHTTP2(true)
	in.srv.Start()
	in.URL = in.srv.URL
	tb.Cleanup(in.srv.Close)
	return in
}

func openLevelDB(tb testing.TB) dataservice.Store {
	tb.Helper()
	s, err := leveldb.Open(leveldb.Config{Dir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func newRemoteStore(tb testing.TB) dataservice.Store {
	in := serve(tb, openLevelDB(tb), nil)
	rs, err := NewRemoteStore([]string{in.URL}, testToken, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return rs
}

// The store served over HTTP/2 passes the same conformance suite as the
// store itself.
func TestRemoteStoreConformance(t *testing.T) { storetest.Run(t, newRemoteStore) }

func BenchmarkRemoteStore(b *testing.B) { storetest.Bench(b, newRemoteStore) }

func TestCallsWithoutTheClusterTokenAreRefused(t *testing.T) {
	in := serve(t, openLevelDB(t), nil)
	for _, token := range []string{"", "wrong"} {
		req, _ := http.NewRequest("POST", in.URL+storePath+"get", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("token %q: status %d, want 401", token, res.StatusCode)
		}
	}
	res, err := http.Get(in.URL + healthPath)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("health check without token: %d", res.StatusCode)
	}
}

// The HTTP/2 client passes the same suite as the in-process service.
func TestClientConformance(t *testing.T) {
	clienttest.Run(t, func(t testing.TB) dataservice.Client {
		in := serve(t, openLevelDB(t), nil)
		c, err := Dial(ClientConfig{URLs: []string{in.URL}, Token: testToken})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	})
}

// BenchmarkBatchedStoreCalls measures store operations per second through
// the HTTP/2 dataservice when callers batch them (100 records a call), as
// the writer and device inbox loads do, from concurrent callers.
func BenchmarkBatchedStoreCalls(b *testing.B) {
	const batch = 100
	s := newRemoteStore(b)
	ctx := context.Background()
	value := make([]byte, 128)
	keys := make([]string, batch)
	writes := make([]dataservice.Write, batch)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%04d", i)
		writes[i] = dataservice.Write{Kind: "bench", Key: keys[i], Value: value}
	}
	if err := s.PutMany(ctx, writes); err != nil {
		b.Fatal(err)
	}
	for _, op := range []string{"getmany", "putmany"} {
		b.Run(fmt.Sprintf("op=%s/batch=%d", op, batch), func(b *testing.B) {
			b.ReportAllocs()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					var err error
					if op == "getmany" {
						_, err = s.GetMany(ctx, "bench", keys)
					} else {
						err = s.PutMany(ctx, writes)
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "ops/s")
		})
	}
}
