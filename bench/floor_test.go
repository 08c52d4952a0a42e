package bench

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"

	"github.com/heraldpush/herald/internal/h2c"
	"github.com/heraldpush/herald/internal/ids"
	"github.com/heraldpush/herald/internal/runtimestats"
	"github.com/heraldpush/herald/protocol"
)

// BenchmarkUnicastFloor is the floor under what a unicast push costs with
// the components Herald's is made of, and nothing else: a push request
// from this package's lean client over cleartext HTTP/2 to Go's HTTP
// server, its JSON decoded as the gateway does (unknown fields refused),
// one goleveldb batch storing the message, its counters, its entry in
// the app's list and the device's inbox copy (Herald's own writes per
// push, without their expiry-index entries), the PUSH sealed and written
// to the device's connection, and the device's sealed ACK read back,
// which deletes the copy and counts the delivery in a second batch. No
// actors, caches, sessions, receipts or expiry index; a goroutine per
// device connection on both sides. Devices, server and client run in this
// process, over loopback, with 64 pushes in flight on 4 connections, as
// herald-bench unicast does; the benchmark reports the process's CPU time
// per push (cpu-µs/push, from getrusage), the figure that bounds what
// herald all and herald-bench unicast could reach together on a machine.
//
//	cd bench && go test -run '^$' -bench UnicastFloor -benchtime 60000x .
func BenchmarkUnicastFloor(b *testing.B) {
	const devices, conns, inFlight = 2000, 4, 64
	db, err := leveldb.OpenFile(b.TempDir(), &opt.Options{WriteBuffer: 16 << 20, BlockCacheCapacity: 8 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	server, err := protocol.GenerateKeypair(nil)
	if err != nil {
		b.Fatal(err)
	}
	gen, err := ids.NewGenerator(1)
	if err != nil {
		b.Fatal(err)
	}
	f := &floorServer{db: db, gen: gen, devices: make(map[string]*floorDevice, devices), acked: make(chan struct{}, 1)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	for i := range devices {
		d, err := f.connect(ln, server, fmt.Sprintf("floor-device-%06d", i))
		if err != nil {
			b.Fatal(err)
		}
		defer d.close()
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := h2c.NewServer(http.HandlerFunc(f.push), h2c.ServerConfig{}) // the gateway's server
	go srv.Serve(hl)
	defer srv.Close()
	url := "http://" + hl.Addr().String()
	var pcs []*pushConn
	for range conns {
		c, err := dialPushConn(b.Context(), url, "Basic floor")
		if err != nil {
			b.Fatal(err)
		}
		defer c.close()
		pcs = append(pcs, c)
	}
	bodies := make([][]byte, devices)
	for i := range bodies {
		bodies[i] = fmt.Appendf(nil, `{"audience":{"registration_id":["floor-device-%06d"]},"message":{"content":"floor %d"}}`, i, i)
	}

	f.want.Store(int64(b.N))
	start, from := time.Now(), runtimestats.CPUTime()
	b.ResetTimer()
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for w := range inFlight {
		wg.Go(func() {
			c := pcs[w%conns]
			for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
				status, answer, err := c.push(b.Context(), bodies[i%devices])
				if err != nil || status != http.StatusOK {
					b.Errorf("push: %d %s %v", status, answer, err)
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-f.acked:
	case <-time.After(time.Minute):
		b.Fatalf("%d of %d pushes acknowledged after a minute", f.acks.Load(), b.N)
	}
	b.StopTimer()
	cpu, wall := runtimestats.CPUTime()-from, time.Since(start)
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/push")
	b.ReportMetric(float64(b.N)/wall.Seconds(), "pushes/s")
}

// floorServer is the server side of BenchmarkUnicastFloor.
type floorServer struct {
	db      *leveldb.DB
	gen     *ids.Generator
	devices map[string]*floorDevice // written before serving
	want    atomic.Int64            // pushes to acknowledge
	acks    atomic.Int64
	acked   chan struct{} // gets a value when acks reaches want
}

// floorDevice is one device: the server's end of its connection and its
// session, and the device's own end, served by a goroutine.
type floorDevice struct {
	rid       string
	mu        sync.Mutex // guards sess's sending side and seq
	conn, dev net.Conn
	sess      *protocol.Session
	seq       uint32
}

func (d *floorDevice) close() {
	d.conn.Close()
	d.dev.Close()
}

// connect opens a device's connection through ln and runs its handshake,
// then starts the device and the server's reader of its ACKs.
func (f *floorServer) connect(ln net.Listener, server protocol.Keypair, rid string) (*floorDevice, error) {
	dev, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, err
	}
	conn, err := ln.Accept()
	if err != nil {
		dev.Close()
		return nil, err
	}
	d := &floorDevice{rid: rid, conn: conn, dev: dev}
	in, err := protocol.NewInitiator(server.Public, nil)
	if err != nil {
		d.close()
		return nil, err
	}
	r1, err := in.AppendRecord1(nil)
	if err != nil {
		d.close()
		return nil, err
	}
	r2, srv, err := protocol.Respond(server, r1, nil)
	if err != nil {
		d.close()
		return nil, err
	}
	cli, err := in.ReadRecord2(r2)
	if err != nil {
		d.close()
		return nil, err
	}
	d.sess = srv
	f.devices[rid] = d
	go runFloorDevice(dev, cli)
	go f.readAcks(d)
	return d, nil
}

// floorPush is the part of a push request the floor reads.
type floorPush struct {
	Audience struct {
		RegistrationID []string `json:"registration_id"`
	} `json:"audience"`
	Message struct {
		Content string `json:"content"`
	} `json:"message"`
}

// push is the handler of POST /v1/push: store, send, answer.
func (f *floorServer) push(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Basic floor" {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	var req floorPush
	if err := dec.Decode(&req); err != nil || len(req.Audience.RegistrationID) != 1 {
		http.Error(w, "bad push", http.StatusBadRequest)
		return
	}
	d := f.devices[req.Audience.RegistrationID[0]]
	if d == nil {
		http.Error(w, "unknown device", http.StatusBadRequest)
		return
	}
	id := f.gen.Next()
	key := strconv.AppendUint(nil, id, 36)
	var batch leveldb.Batch
	batch.Put(append([]byte("m/"), key...), []byte(req.Message.Content))
	batch.Put(append([]byte("c/"), key...), binary.AppendUvarint(nil, 1)) // targeted
	batch.Put(append([]byte("a/floor/"), key...), []byte{0})
	batch.Put(append([]byte("i/"+d.rid+"/"), key...), []byte{0})
	if err := f.db.Write(&batch, nil); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	d.mu.Lock()
	d.seq++
	frame := protocol.AppendPush(nil, d.seq, protocol.FlagAckRequested, &protocol.Push{MessageID: id, AppKey: []byte("floor"), Content: []byte(req.Message.Content)})
	rec, err := d.sess.SealRecord(nil, frame)
	if err == nil {
		_, err = d.conn.Write(rec)
	}
	d.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(fmt.Appendf(nil, `{"msg_id":"%d"}`, id))
}

// readAcks reads a device's ACKs: each deletes the inbox copy and counts
// the delivery.
func (f *floorServer) readAcks(d *floorDevice) {
	rr := protocol.NewRecordReader(d.conn, 0)
	var ack protocol.Ack
	for {
		h, payload, err := readFloorFrame(rr, d.sess)
		if err != nil || h.Type != protocol.TypeAck || ack.Unmarshal(payload) != nil {
			return
		}
		var batch leveldb.Batch
		for _, id := range ack.MessageIDs {
			key := strconv.AppendUint(nil, id, 36)
			batch.Delete(append([]byte("i/"+d.rid+"/"), key...))
			ck := append([]byte("c/"), key...)
			old, err := f.db.Get(ck, nil)
			if err != nil {
				return
			}
			batch.Put(ck, binary.AppendUvarint(old, 1)) // delivered, after targeted
		}
		if err := f.db.Write(&batch, nil); err != nil {
			return
		}
		if f.acks.Add(int64(len(ack.MessageIDs))) == f.want.Load() {
			f.acked <- struct{}{}
		}
	}
}

// runFloorDevice is a device: it acknowledges every PUSH it reads.
func runFloorDevice(c net.Conn, s *protocol.Session) {
	rr := protocol.NewRecordReader(c, 0)
	var (
		push protocol.Push
		seq  uint32
	)
	for {
		h, payload, err := readFloorFrame(rr, s)
		if err != nil || h.Type != protocol.TypePush || push.Unmarshal(payload) != nil {
			return
		}
		seq++
		rec, err := s.SealRecord(nil, protocol.AppendAck(nil, seq, &protocol.Ack{MessageIDs: []uint64{push.MessageID}}))
		if err != nil {
			return
		}
		if _, err := c.Write(rec); err != nil {
			return
		}
	}
}

// readFloorFrame reads the next record and returns its frame's header and
// body.
func readFloorFrame(rr *protocol.RecordReader, s *protocol.Session) (protocol.Header, []byte, error) {
	body, err := rr.ReadRecord()
	if err != nil {
		return protocol.Header{}, nil, err
	}
	frame, err := s.Open(body[:0], body)
	if err != nil {
		return protocol.Header{}, nil, err
	}
	return protocol.ParseHeader(frame)
}
