package dataservice

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Reports is the part of the data API behind delivery reports beyond the
// per-message counters: per-device receipts (what happened to one message
// on one device) and the index of an app's messages.
//
// Per-device receipts are small records, one per message, device and
// event, that live as long as their message's report (the message's
// expiry plus ReportRetention). Each event is recorded once: the first
// RecordReceipts of an event creates its record and says so, later ones
// find it and change nothing, which is what lets callers count sent and
// clicked messages exactly once per device.
type Reports interface {
	// RecordReceipts records receipts and reports, per receipt, whether
	// this call recorded it:
	//   - ReceiptSent is recorded once per message and device: true means
	//     this call recorded it (a receipt repeated, in the same call or a
	//     later one, gets false), which makes a send countable exactly
	//     once;
	//   - ReceiptDelivered and ReceiptFailed end the delivery, keeping
	//     when it was sent; a delivered one is never replaced by a failed
	//     one (which then gets false);
	//   - ReceiptAttempts replaces the count recorded before (the highest
	//     of one call wins);
	//   - ReceiptClicked is recorded once per message and device, like
	//     ReceiptSent, and only if the message exists, belongs to the
	//     device's app, and was written to the device (a sent or delivered
	//     receipt, recorded before or in the same call, or — for a
	//     broadcast — the device's broadcast cursor reached it); otherwise
	//     false: a device cannot raise the counts of messages it never got;
	//   - a receipt whose Retain is zero is kept as long as its message's
	//     report, which the service reads; for a message that does not
	//     exist it records nothing (false), and so does a receipt whose
	//     Retain has passed.
	// Receipts failing CheckReceipt fail the whole call with ErrInvalid
	// before any effect. On any other error which receipts were recorded
	// is unknown; retried, those report false.
	RecordReceipts(ctx context.Context, receipts []Receipt) ([]bool, error)

	// MessageReceipts returns what is recorded of message id on each
	// device of rids (at most MaxReceiptDevices), in order: its receipts,
	// whether an undelivered copy waits in the device's inbox, and, for a
	// broadcast, how far the device's broadcast cursor got. ErrNotFound if
	// the message does not exist. It does not check that the devices
	// exist or belong to the message's app.
	MessageReceipts(ctx context.Context, id uint64, rids []string) ([]DeviceReceipts, error)

	// AppMessages lists an app's messages, newest first, with their
	// reports: those SaveMessage and SaveBroadcast stored for it while
	// they are kept (their expiry plus ReportRetention), created within
	// MessageListHorizon. The app key follows the rules of DeviceIndex;
	// the query those of CheckMessageQuery (else ErrInvalid).
	AppMessages(ctx context.Context, app string, q MessageQuery) (MessagePage, error)
}

// Record kinds of reports. Key and value layouts are in service_receipts.go.
const (
	KindReceipt    Kind = "rcp" // msg_id|registration_id|event → per-device receipt: when it happened
	KindAppMessage Kind = "apm" // app_key/day/inverted msg_id → the app's messages, newest first
)

// ReceiptEvent names what a per-device receipt records.
type ReceiptEvent string

// Receipt events.
const (
	// ReceiptSent: the message was first written to one of the device's
	// connections.
	ReceiptSent ReceiptEvent = "sent"
	// ReceiptAttempts: the message was written to the device again;
	// Receipt.Attempts counts the writes so far.
	ReceiptAttempts ReceiptEvent = "attempts"
	// ReceiptDelivered: the device acknowledged the message.
	ReceiptDelivered ReceiptEvent = "delivered"
	// ReceiptFailed: the message was dropped unacknowledged after the
	// redelivery cap.
	ReceiptFailed ReceiptEvent = "failed"
	// ReceiptClicked: the user opened the message's notification.
	ReceiptClicked ReceiptEvent = "clicked"
)

// known reports whether e is one of the receipt events.
func (e ReceiptEvent) known() bool {
	switch e {
	case ReceiptSent, ReceiptAttempts, ReceiptDelivered, ReceiptFailed, ReceiptClicked:
		return true
	}
	return false
}

// Receipt is one event of one message on one device.
type Receipt struct {
	MessageID      uint64       `json:"message_id,string"`
	RegistrationID string       `json:"registration_id"`
	Event          ReceiptEvent `json:"event"`
	// At is when it happened; zero means when it is recorded.
	At time.Time `json:"at"`
	// Attempts, for ReceiptAttempts, is how many times the message has
	// been written to the device's connections: 2 to 255 (the first
	// write is ReceiptSent).
	Attempts int `json:"attempts,omitempty"`
	// Retain is when the record may go: the end of the message's report
	// (its expiry plus ReportRetention). Zero makes RecordReceipts read
	// the message to find it.
	Retain time.Time `json:"retain"`
}

// Limits of receipts.
const (
	// MaxReceiptDevices bounds the devices of one MessageReceipts call.
	MaxReceiptDevices = 1000
	// maxReceiptRID bounds a registration id in a receipt: what the device
	// protocol accepts (1 to 64 bytes).
	maxReceiptRID = 64
	// MaxMessagePage bounds the limit of AppMessages: each message costs
	// a report.
	MaxMessagePage = 1000
	// MessageListHorizon is how far back AppMessages looks: messages
	// kept longer (a time to live beyond a year) are not listed.
	MessageListHorizon = 400 * 24 * time.Hour
)

// CheckReceipt validates a receipt: a nonzero message id, a registration
// id of 1 to 64 bytes of UTF-8, a known event, and for ReceiptAttempts a
// count of 2 to 255.
func CheckReceipt(r *Receipt) error {
	switch {
	case r.MessageID == 0:
		return fmt.Errorf("%w: receipt with zero message id", ErrInvalid)
	case r.RegistrationID == "" || len(r.RegistrationID) > maxReceiptRID || !utf8.ValidString(r.RegistrationID):
		return fmt.Errorf("%w: receipt registration id %q: want 1 to %d bytes of UTF-8", ErrInvalid, r.RegistrationID, maxReceiptRID)
	case !r.Event.known():
		return fmt.Errorf("%w: unknown receipt event %q", ErrInvalid, r.Event)
	case r.Event == ReceiptAttempts && (r.Attempts < 2 || r.Attempts > 255):
		return fmt.Errorf("%w: receipt of %d attempts: want 2 to 255", ErrInvalid, r.Attempts)
	}
	return nil
}

// DeviceReceipts is what Herald recorded of one message on one device.
type DeviceReceipts struct {
	RegistrationID string `json:"registration_id"`
	// SentAt, DeliveredAt, FailedAt and ClickedAt are when the message
	// was first written to the device, acknowledged by it, dropped
	// unacknowledged, opened by the user; zero if that did not happen (or
	// was not recorded).
	SentAt      time.Time `json:"sent_at"`
	DeliveredAt time.Time `json:"delivered_at"`
	FailedAt    time.Time `json:"failed_at"`
	ClickedAt   time.Time `json:"clicked_at"`
	// Attempts counts the writes of the message to the device's
	// connections as far as they are recorded: at least 1 once SentAt is
	// set. A device actor saves its counts in the inbox when it retires;
	// until then the count of a copy in flight may be behind.
	Attempts int `json:"attempts"`
	// Pending reports an undelivered copy waiting in the device's inbox
	// (a message with a time to live that is not a broadcast).
	Pending bool `json:"pending"`
	// BroadcastSent and BroadcastAcked report, for a broadcast, that the
	// device's broadcast cursor reached the message: broadcasts up to
	// Sent were written to the device, those up to Acked were each
	// acknowledged, dropped, or skipped (expired or withdrawn before the
	// device connected).
	BroadcastSent  bool `json:"broadcast_sent"`
	BroadcastAcked bool `json:"broadcast_acked"`
}

// BroadcastFilter selects messages by whether they are broadcasts.
type BroadcastFilter uint8

// Broadcast filters of MessageQuery.
const (
	AnyMessages       BroadcastFilter = 0 // broadcasts and the others
	OnlyBroadcasts    BroadcastFilter = 1
	ExcludeBroadcasts BroadcastFilter = 2
)

// MessageQuery selects a page of an app's messages.
type MessageQuery struct {
	// After continues a listing: only messages older than the message
	// with this id (MessagePage.Next of the previous page). Zero starts
	// with the newest.
	After uint64 `json:"after,string"`
	// From and To bound the creation time of the messages, From ≤
	// created < To (to the millisecond of their ids); zero means no bound.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Broadcast filters by kind of audience.
	Broadcast BroadcastFilter `json:"broadcast"`
	// State, if set, keeps only messages whose task is in this state; a
	// message sent at once, without a task (to a list of devices), counts
	// as TaskDone.
	State TaskState `json:"state,omitempty"`
	// Limit is the most messages returned, 1 to MaxMessagePage.
	Limit int `json:"limit"`
}

// CheckMessageQuery validates a query.
func CheckMessageQuery(q *MessageQuery) error {
	switch {
	case q.Limit < 1 || q.Limit > MaxMessagePage:
		return fmt.Errorf("%w: limit %d outside 1..%d", ErrInvalid, q.Limit, MaxMessagePage)
	case q.Broadcast > ExcludeBroadcasts:
		return fmt.Errorf("%w: unknown broadcast filter %d", ErrInvalid, q.Broadcast)
	case !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To):
		return fmt.Errorf("%w: from %v is not before to %v", ErrInvalid, q.From, q.To)
	}
	switch q.State {
	case "", TaskRunning, TaskCanceling, TaskDone, TaskCanceled, TaskFailed:
	default:
		return fmt.Errorf("%w: unknown task state %q", ErrInvalid, q.State)
	}
	return nil
}

// MessageSummary is one message of a listing.
type MessageSummary struct {
	Message Message `json:"message"`
	Report  Report  `json:"report"`
	// State is the state of the message's task; TaskDone for a message
	// sent at once, without a task.
	State TaskState `json:"state"`
}

// MessagePage is a page of AppMessages.
type MessagePage struct {
	Messages []MessageSummary `json:"messages"`
	// Next, if not zero, continues the listing (as MessageQuery.After):
	// more messages may follow. A listing may end with an empty page.
	Next uint64 `json:"next,string,omitempty"`
}

// Keys and values of reports.
//
//	KindReceipt     <msg_id hex>|<rid>             → delivery: state ('s', 'd', 'f'), sent at, ended at
//	KindReceipt     <msg_id hex>|<rid>|a           → attempts: at, count
//	KindReceipt     <msg_id hex>|<rid>|c           → click: at
//	KindAppMessage  <app>/<yyyymmdd>/<^msg_id>     → flags (1 byte; 1 = broadcast)
//
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
	if len(v) != 18 || v[0] != receiptRecordVersion || (v[1] != deliverySent && v[1] != deliveryDelivered && v[1] != deliveryFailed) {
		return delivery{}, fmt.Errorf("dataservice: corrupt delivery record %q", r.Key)
	}
	return delivery{state: v[1], sent: fromUnixMilli(binary.BigEndian.Uint64(v[2:10])), ended: fromUnixMilli(binary.BigEndian.Uint64(v[10:18])),
		retain: r.Expires, exists: true}, nil
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

// appMessageDay is the day group of id within app's index.
func appMessageDay(app string, day time.Time) string {
	return app + "/" + day.Format("20060102") + "/"
}

func appMessageKey(app string, id uint64) string {
	return appMessageDay(app, idDay(id)) + idKey(^id)
}

// parseAppMessageKey returns the id of an index key of the group prefix.
func parseAppMessageKey(prefix, key string) (uint64, bool) {
	inv, ok := parseIDKey(strings.TrimPrefix(key, prefix))
	return ^inv, ok && len(key) == len(prefix)+20
}
