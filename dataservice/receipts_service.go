package dataservice

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/heraldpush/herald/internal/ids"
)

// A message's delivery to one device is one record: created when the
// message is first sent to the device (state 's'), rewritten when it ends
// (delivered 'd' or failed 'f', keeping when it was sent), so that the
// common life of a message on a device costs one record, and one write
// when the acknowledgement comes within the same batch of receipts as the
// send. Attempts and clicks, seldom, have records of their own. Receipt
// keys have no group separator (a registration id may hold anything; the
// key's ends are fixed, so it parses from both): they are read by key,
// never scanned. The app index is grouped by the UTC day of the message
// id's time, so that a listing reads one day's group at a time (an
// Aerospike Scan reads its whole group per page: days bound that to one
// day's messages of the app); within a day, the inverted id (^id as 20
// decimal digits) orders the newest first. Times are unix milliseconds,
// 0 for none.
const (
	receiptRecordVersion = 1
	appMessageBroadcast  = 1

	deliverySent      = 's'
	deliveryDelivered = 'd'
	deliveryFailed    = 'f'
)

func deliveryKey(id uint64, rid string) string {
	var b strings.Builder
	b.Grow(16 + 1 + len(rid))
	b.WriteString(messageKey(id))
	b.WriteByte('|')
	b.WriteString(rid)
	return b.String()
}

// eventKey is the key of the attempts ('a') or click ('c') record.
func eventKey(id uint64, rid string, e byte) string {
	return deliveryKey(id, rid) + "|" + string(e)
}

// delivery is the decoded delivery record.
type delivery struct {
	state         byte
	sent, ended   time.Time
	retain        time.Time // the record's expiry
	exists, valid bool
	// mark, if set, is the settlement that last wrote the record (see
	// settle_service.go) and what it counted.
	mark settleMark
}

func unixMilli(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixMilli())
}

func fromUnixMilli(ms uint64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(ms)).UTC()
}

func encodeDelivery(state byte, sent, ended time.Time) []byte {
	b := make([]byte, 0, 18)
	b = append(b, receiptRecordVersion, state)
	b = binary.BigEndian.AppendUint64(b, unixMilli(sent))
	return binary.BigEndian.AppendUint64(b, unixMilli(ended))
}

func decodeDelivery(r Record) (delivery, error) {
	if !r.Exists() {
		return delivery{}, nil
	}
	v := r.Value
	if (len(v) != 18 && len(v) != 18+settleMarkLen) || v[0] != receiptRecordVersion || (v[1] != deliverySent && v[1] != deliveryDelivered && v[1] != deliveryFailed) {
		return delivery{}, fmt.Errorf("dataservice: corrupt delivery record %q", r.Key)
	}
	d := delivery{state: v[1], sent: fromUnixMilli(binary.BigEndian.Uint64(v[2:10])), ended: fromUnixMilli(binary.BigEndian.Uint64(v[10:18])),
		retain: r.Expires, exists: true}
	if len(v) > 18 {
		d.mark = decodeSettleMark(v[18:])
	}
	return d, nil
}

func encodeEvent(at time.Time, attempts int) []byte {
	b := make([]byte, 0, 1+8+2)
	b = append(b, receiptRecordVersion)
	b = binary.BigEndian.AppendUint64(b, unixMilli(at))
	if attempts > 0 {
		b = binary.AppendUvarint(b, uint64(attempts))
	}
	return b
}

// decodeEvent returns when an attempts or click record happened and its
// count of attempts (0 for a click).
func decodeEvent(r Record) (time.Time, int, error) {
	v := r.Value
	if len(v) < 9 || v[0] != receiptRecordVersion {
		return time.Time{}, 0, fmt.Errorf("dataservice: corrupt receipt record %q", r.Key)
	}
	at := fromUnixMilli(binary.BigEndian.Uint64(v[1:9]))
	if len(v) == 9 {
		return at, 0, nil
	}
	n, k := binary.Uvarint(v[9:])
	if k <= 0 || 9+k != len(v) {
		return time.Time{}, 0, fmt.Errorf("dataservice: corrupt receipt record %q", r.Key)
	}
	return at, int(n), nil
}

// pair names one message on one device.
type pair struct {
	id  uint64
	rid string
}

// deliveryPlan is what one RecordReceipts call does to one delivery
// record: its receipts, first sent and last end (delivered over failed),
// by index in the call.
type deliveryPlan struct {
	pair
	sent, end int
	retain    time.Time
	old       delivery // the record as read, for an end without a send
}

// RecordReceipts implements ReportStore. The common call costs one PutMany:
// a send and its end in one call are one write of the delivery record.
// Reads come first, in one round of batches, where needed: the delivery
// records an end (without its send) rewrites, the messages whose
// retention no receipt gives, and for clicks their devices, messages,
// delivery records and (broadcasts) cursors. A send found recorded
// already together with its end costs one more round.
func (s *Service) RecordReceipts(ctx context.Context, rs []Receipt) ([]bool, error) {
	out := make([]bool, len(rs))
	if len(rs) == 0 {
		return out, nil
	}
	for i := range rs {
		if err := CheckReceipt(&rs[i]); err != nil {
			return nil, fmt.Errorf("record receipts: %w", err)
		}
	}
	now := s.now()
	at := func(r *Receipt) time.Time {
		if r.At.IsZero() {
			return now
		}
		return r.At
	}

	// Group the receipts: one plan per delivery record, the highest
	// attempts per device, the first click per device.
	plans := make(map[pair]*deliveryPlan)
	var order []*deliveryPlan
	attempts := make(map[pair]int) // index of the receipt with the most attempts
	clicks := make(map[pair]int)   // index of the first click
	var attemptOrder, clickOrder []pair
	for i := range rs {
		r := &rs[i]
		p := pair{r.MessageID, r.RegistrationID}
		switch r.Event {
		case ReceiptSent, ReceiptDelivered, ReceiptFailed:
			pl := plans[p]
			if pl == nil {
				pl = &deliveryPlan{pair: p, sent: -1, end: -1}
				plans[p] = pl
				order = append(order, pl)
			}
			switch {
			case r.Event == ReceiptSent && pl.sent < 0:
				pl.sent = i
			case r.Event == ReceiptDelivered, r.Event == ReceiptFailed && (pl.end < 0 || rs[pl.end].Event != ReceiptDelivered):
				pl.end = i
			}
			if !r.Retain.IsZero() {
				pl.retain = r.Retain
			}
		case ReceiptAttempts:
			if j, ok := attempts[p]; !ok {
				attempts[p] = i
				attemptOrder = append(attemptOrder, p)
			} else if r.Attempts > rs[j].Attempts {
				attempts[p] = i
			}
		case ReceiptClicked:
			if _, ok := clicks[p]; !ok {
				clicks[p] = i
				clickOrder = append(clickOrder, p)
			}
		}
	}

	// Read what the writes need.
	var ended []*deliveryPlan // ends without their send: rewrites of the record
	for _, pl := range order {
		if pl.sent < 0 {
			ended = append(ended, pl)
		}
	}
	if err := s.readDeliveries(ctx, ended); err != nil {
		return nil, err
	}
	msgs, err := s.receiptMessages(ctx, rs, order, attempts, clickOrder)
	if err != nil {
		return nil, err
	}
	retainOf := func(p pair, given time.Time) time.Time {
		if !given.IsZero() {
			return given
		}
		return msgs[p.id].retain // zero if the message is gone
	}
	clickOK, err := s.checkClicks(ctx, rs, clickOrder, clicks, plans, msgs)
	if err != nil {
		return nil, err
	}

	var (
		writes []Write
		wrote  []func(error) // per write, what its outcome means
		again  []*deliveryPlan
	)
	add := func(w Write, retain time.Time, then func(error)) {
		ttl := min(retain.Sub(now), MaxTTL)
		if ttl <= 0 {
			return
		}
		w.Kind, w.Options.TTL = KindReceipt, ttl
		writes, wrote = append(writes, w), append(wrote, then)
	}
	for _, pl := range order {
		retain := retainOf(pl.pair, pl.retain)
		if pl.old.exists && pl.retain.IsZero() {
			retain = pl.old.retain
		}
		key := deliveryKey(pl.id, pl.rid)
		switch {
		case pl.sent >= 0 && pl.end < 0:
			add(Write{Key: key, Value: encodeDelivery(deliverySent, at(&rs[pl.sent]), time.Time{}), Options: WriteOptions{CreateOnly: true}}, retain,
				func(err error) { out[pl.sent] = err == nil })
		case pl.sent >= 0:
			// Sent and ended in one call: one write, if the send is new.
			add(Write{Key: key, Value: encodeDelivery(endState(rs[pl.end].Event), at(&rs[pl.sent]), at(&rs[pl.end])), Options: WriteOptions{CreateOnly: true}}, retain,
				func(err error) {
					if err == nil {
						out[pl.sent], out[pl.end] = true, true
					} else {
						again = append(again, pl) // the end still has to be written
					}
				})
		default:
			state := endState(rs[pl.end].Event)
			if pl.old.exists && pl.old.state == deliveryDelivered && state == deliveryFailed {
				continue // delivered stays delivered
			}
			add(Write{Key: key, Value: encodeDelivery(state, pl.old.sent, at(&rs[pl.end]))}, retain,
				func(err error) { out[pl.end] = err == nil })
		}
	}
	for _, p := range attemptOrder {
		i := attempts[p]
		add(Write{Key: eventKey(p.id, p.rid, 'a'), Value: encodeEvent(at(&rs[i]), rs[i].Attempts)}, retainOf(p, rs[i].Retain),
			func(err error) { out[i] = err == nil })
	}
	for _, p := range clickOrder {
		if i := clicks[p]; clickOK[i] {
			add(Write{Key: eventKey(p.id, p.rid, 'c'), Value: encodeEvent(at(&rs[i]), 0), Options: WriteOptions{CreateOnly: true}}, retainOf(p, rs[i].Retain),
				func(err error) { out[i] = err == nil })
		}
	}
	if err := s.putReceipts(ctx, writes, wrote); err != nil {
		return nil, err
	}
	if len(again) == 0 {
		return out, nil
	}
	// Sends recorded before (by another device actor) whose end came in
	// this call: rewrite the record as an end alone would.
	if err := s.readDeliveries(ctx, again); err != nil {
		return nil, err
	}
	writes, wrote = nil, nil
	for _, pl := range again {
		state := endState(rs[pl.end].Event)
		if !pl.old.exists || (pl.old.state == deliveryDelivered && state == deliveryFailed) {
			continue // gone meanwhile (expired), or delivered already
		}
		add(Write{Key: deliveryKey(pl.id, pl.rid), Value: encodeDelivery(state, pl.old.sent, at(&rs[pl.end]))}, pl.old.retain,
			func(err error) { out[pl.end] = err == nil })
	}
	if err := s.putReceipts(ctx, writes, wrote); err != nil {
		return nil, err
	}
	return out, nil
}

func endState(e ReceiptEvent) byte {
	if e == ReceiptDelivered {
		return deliveryDelivered
	}
	return deliveryFailed
}

// putReceipts applies writes and tells each its outcome: nil, or ErrExists
// for a create-only write of a record that exists.
func (s *Service) putReceipts(ctx context.Context, writes []Write, wrote []func(error)) error {
	if len(writes) == 0 {
		return nil
	}
	errs, err := PerWrite(s.store.PutMany(ctx, writes), len(writes))
	if err != nil {
		return fmt.Errorf("record %d receipts: %w", len(writes), err)
	}
	for j, e := range errs {
		if e != nil && !errors.Is(e, ErrExists) {
			return fmt.Errorf("record receipt %q: %w", writes[j].Key, e)
		}
		wrote[j](e)
	}
	return nil
}

// readDeliveries reads the delivery records of plans into their old.
func (s *Service) readDeliveries(ctx context.Context, plans []*deliveryPlan) error {
	if len(plans) == 0 {
		return nil
	}
	keys := make([]string, len(plans))
	for i, pl := range plans {
		keys[i] = deliveryKey(pl.id, pl.rid)
	}
	recs, err := s.store.GetMany(ctx, KindReceipt, keys)
	if err != nil {
		return fmt.Errorf("record receipts: deliveries: %w", err)
	}
	for i, pl := range plans {
		if pl.old, err = decodeDelivery(recs[i]); err != nil {
			return err
		}
	}
	return nil
}

// receiptMessage is what recording receipts needs of a message.
type receiptMessage struct {
	retain time.Time // when its record expires: the end of its report
	m      *Message  // decoded for clicks only
}

// receiptMessages reads the messages whose retention the receipts (and
// the delivery records read) do not give, and those of clicks; messages
// that do not exist are absent from the map.
func (s *Service) receiptMessages(ctx context.Context, rs []Receipt, plans []*deliveryPlan, attempts map[pair]int,
	clickOrder []pair) (map[uint64]receiptMessage, error) {
	decode := make(map[uint64]bool)
	var idList []uint64
	need := func(id uint64, click bool) {
		d, seen := decode[id]
		if !seen {
			idList = append(idList, id)
		}
		decode[id] = d || click
	}
	for _, pl := range plans {
		if pl.retain.IsZero() && !pl.old.exists {
			need(pl.id, false)
		}
	}
	for _, i := range attempts {
		if rs[i].Retain.IsZero() {
			need(rs[i].MessageID, false)
		}
	}
	for _, p := range clickOrder {
		need(p.id, true)
	}
	out := make(map[uint64]receiptMessage, len(idList))
	if len(idList) == 0 {
		return out, nil
	}
	keys := make([]string, len(idList))
	for i, id := range idList {
		keys[i] = messageKey(id)
	}
	recs, err := s.store.GetMany(ctx, KindMessage, keys)
	if err != nil {
		return nil, fmt.Errorf("record receipts: messages: %w", err)
	}
	for i, rec := range recs {
		if !rec.Exists() {
			continue
		}
		id := idList[i]
		rm := receiptMessage{retain: rec.Expires}
		if rm.retain.IsZero() {
			rm.retain = s.now().Add(ReportRetention) // a message stored without expiry
		}
		if decode[id] {
			m, err := decodeMessage(id, rec.Value)
			if err != nil {
				return nil, err
			}
			rm.m = &m
		}
		out[id] = rm
	}
	return out, nil
}

// checkClicks reports, per receipt index, whether a click may be counted
// (see ReportStore.RecordReceipts).
func (s *Service) checkClicks(ctx context.Context, rs []Receipt, clickOrder []pair, clicks map[pair]int,
	plans map[pair]*deliveryPlan, msgs map[uint64]receiptMessage) (map[int]bool, error) {
	ok := make(map[int]bool, len(clickOrder))
	var todo []pair
	for _, p := range clickOrder {
		if msgs[p.id].m != nil {
			todo = append(todo, p)
		}
	}
	if len(todo) == 0 {
		return ok, nil
	}
	rids := make([]string, len(todo))
	proofKeys := make([]string, len(todo))
	anyBroadcasts := false
	for k, p := range todo {
		rids[k], proofKeys[k] = p.rid, deliveryKey(p.id, p.rid)
		anyBroadcasts = anyBroadcasts || msgs[p.id].m.Broadcast
	}
	var (
		wg               sync.WaitGroup
		devs, proofs     []Record
		cursors          []BroadcastCursor
		derr, perr, cerr error
	)
	wg.Go(func() { devs, derr = s.store.GetMany(ctx, KindDevice, rids) })
	wg.Go(func() { proofs, perr = s.store.GetMany(ctx, KindReceipt, proofKeys) })
	if anyBroadcasts {
		wg.Go(func() { cursors, cerr = s.BroadcastCursors(ctx, rids) })
	}
	wg.Wait()
	if err := errors.Join(derr, perr, cerr); err != nil {
		return nil, fmt.Errorf("record receipts: checking clicks: %w", err)
	}
	for k, p := range todo {
		m := msgs[p.id].m
		if !devs[k].Exists() {
			continue
		}
		d, err := decodeDevice(p.rid, devs[k].Value)
		if err != nil {
			return nil, err
		}
		if d.AppKey != m.AppKey {
			continue // another app's message: nothing of it is this device's
		}
		inCall := false
		if pl := plans[p]; pl != nil && (pl.sent >= 0 || (pl.end >= 0 && rs[pl.end].Event == ReceiptDelivered)) {
			inCall = true
		}
		ok[clicks[p]] = inCall || proofs[k].Exists() ||
			(m.Broadcast && cursors[k].Sent >= m.ID && m.ID >= ids.FirstAt(d.Created))
	}
	return ok, nil
}

// MessageReceipts implements ReportStore: the message, then one GetMany of the
// devices' receipts beside one of their inbox copies (or cursors, for a
// broadcast).
func (s *Service) MessageReceipts(ctx context.Context, id uint64, rids []string) ([]DeviceReceipts, error) {
	if len(rids) > MaxReceiptDevices {
		return nil, fmt.Errorf("receipts of message %d: %w: %d devices; at most %d at once", id, ErrInvalid, len(rids), MaxReceiptDevices)
	}
	for _, rid := range rids {
		if err := CheckReceipt(&Receipt{MessageID: id, RegistrationID: rid, Event: ReceiptSent}); err != nil {
			return nil, fmt.Errorf("receipts of message %d: %w", id, err)
		}
	}
	m, err := s.Message(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make([]DeviceReceipts, len(rids))
	if len(rids) == 0 {
		return out, nil
	}
	keys := make([]string, 0, 3*len(rids))
	for _, rid := range rids {
		keys = append(keys, deliveryKey(id, rid), eventKey(id, rid, 'a'), eventKey(id, rid, 'c'))
	}
	var (
		wg         sync.WaitGroup
		copies     []Record
		cursors    []BroadcastCursor
		cerr, berr error
	)
	switch {
	case m.Broadcast:
		wg.Go(func() { cursors, berr = s.BroadcastCursors(ctx, rids) })
	case m.TTL > 0:
		wg.Go(func() {
			inbox := make([]string, len(rids))
			for i, rid := range rids {
				inbox[i] = inboxKey(rid, id)
			}
			copies, cerr = s.store.GetMany(ctx, KindInbox, inbox)
		})
	}
	recs, err := s.store.GetMany(ctx, KindReceipt, keys)
	wg.Wait()
	if err == nil {
		err = errors.Join(cerr, berr)
	}
	if err != nil {
		return nil, fmt.Errorf("receipts of message %d: %w", id, err)
	}
	for i, rid := range rids {
		d := &out[i]
		d.RegistrationID = rid
		del, err := decodeDelivery(recs[3*i])
		if err != nil {
			return nil, err
		}
		if del.exists {
			d.SentAt, d.Attempts = del.sent, 1 // sent, delivered or failed: written once at least
			switch del.state {
			case deliveryDelivered:
				d.DeliveredAt = del.ended
			case deliveryFailed:
				d.FailedAt = del.ended
			}
		}
		if a := recs[3*i+1]; a.Exists() {
			_, n, err := decodeEvent(a)
			if err != nil {
				return nil, err
			}
			d.Attempts = max(d.Attempts, n)
		}
		if c := recs[3*i+2]; c.Exists() {
			if d.ClickedAt, _, err = decodeEvent(c); err != nil {
				return nil, err
			}
		}
		if copies != nil && copies[i].Exists() {
			d.Pending = true
			if v := copies[i].Value; len(v) == 1 {
				d.Attempts = max(d.Attempts, int(v[0]))
			}
		}
		if cursors != nil {
			d.BroadcastSent = cursors[i].Sent >= id
			d.BroadcastAcked = cursors[i].Acked >= id
		}
	}
	return out, nil
}
