package dataservice_test

import (
	"testing"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/clienttest"
	"github.com/heraldpush/herald/dataservice/leveldb"
)

func TestServiceConformance(t *testing.T) {
	clienttest.Run(t, func(t testing.TB) dataservice.Client {
		s, err := leveldb.Open(leveldb.Config{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return dataservice.New(s)
	})
}
