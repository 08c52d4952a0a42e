package dataservice

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"
)

// ReportStore holds what delivery reports are made of: per-message
// counters (what AddCounters adds up and Report reads), per-device
// receipts (what happened to one message on one device) and the index of
// an app's messages.
//
// Counters only add up: each call changes each message's counters in one
// atomic step, and a call retried after an error may count twice, so
// callers count each event once (inbox removals and per-device receipts
// tell them which is the first).
//
// Per-device receipts are small records, one per message, device and
// event, that live as long as their message's report (the message's
// expiry plus ReportRetention). Each event is recorded once: the first
// RecordReceipts of an event creates its record and says so, later ones
// find it and change nothing, which is what lets callers count sent and
// clicked messages exactly once per device.
type ReportStore interface {
	// AddCounters applies counter increments; callers batch them.
	AddCounters(ctx context.Context, deltas []CounterDelta) error
	// Report returns a message's delivery report, or ErrNotFound.
	Report(ctx context.Context, id uint64) (Report, error)

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

	// AppDay returns the totals of the app's messages created on day (its
	// UTC date; the time of day is ignored): how many SaveMessage and
	// SaveBroadcast stored, the devices they targeted, and those that
	// acknowledged them so far, as AddCounters counted them. It reads one
	// record, whatever the number of messages; totals are kept for
	// MessageListHorizon. An app or day without messages has zero totals.
	// A store whose batches are not atomic (Aerospike) may count a message
	// twice if saving it was retried after a failure.
	AppDay(ctx context.Context, app string, day time.Time) (DayTotals, error)
}

// Record kinds of reports. Key and value layouts are in reports_service.go.
const (
	KindReceipt    Kind = "rcp" // msg_id|registration_id|event → per-device receipt: when it happened
	KindAppMessage Kind = "apm" // app_key/day/inverted msg_id → the app's messages, newest first
)

// Counter names a per-message delivery counter.
type Counter string

// The per-message counters. Every copy with a TTL ends as exactly one of
// delivered, failed, replaced, withdrawn or expired.
const (
	// CounterTargeted counts the devices a message was addressed to.
	CounterTargeted Counter = "targeted"
	// CounterSent counts copies written to a device connection, once per device.
	CounterSent Counter = "sent"
	// CounterStoredOffline counts copies that found their device offline and
	// waited in its inbox.
	CounterStoredOffline Counter = "stored_offline"
	// CounterDelivered counts copies the device acknowledged, once per device.
	CounterDelivered Counter = "delivered"
	// CounterClicked counts devices whose user opened the message's
	// notification (CLICK), once per device. It is not one of the ends of
	// a copy: a clicked copy was delivered (or is being acknowledged).
	CounterClicked Counter = "clicked"
	// CounterFailed counts copies dropped undelivered: the device never
	// acknowledged them within the redelivery cap.
	CounterFailed Counter = "failed"
	// CounterReplaced counts copies that a newer message with the same
	// collapse id replaced before they were delivered.
	CounterReplaced Counter = "replaced"
	// CounterWithdrawn counts copies a cancel took back before they were
	// delivered.
	CounterWithdrawn Counter = "withdrawn"
	// CounterExpired counts online-only copies whose device was offline. For
	// messages with a TTL, Report derives the expired copies once the TTL
	// (and the acknowledgement grace) has passed.
	CounterExpired Counter = "expired"
)

// CounterDelta adds N to one counter of one message.
type CounterDelta struct {
	MessageID uint64  `json:"message_id,string"`
	Counter   Counter `json:"counter"`
	N         int64   `json:"n"`
}

// DayTotals are the figures of an app's messages of one day.
type DayTotals struct {
	Messages  int64 `json:"messages"`
	Targeted  int64 `json:"targeted"`
	Delivered int64 `json:"delivered"`
}

// Report is the delivery report of one message.
type Report struct {
	Targeted      int64 `json:"targeted"`
	Sent          int64 `json:"sent"`
	StoredOffline int64 `json:"stored_offline"`
	Delivered     int64 `json:"delivered"`
	Clicked       int64 `json:"clicked"`
	Expired       int64 `json:"expired"`
	Failed        int64 `json:"failed"`
	Replaced      int64 `json:"replaced"`
	Withdrawn     int64 `json:"withdrawn"`
}

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
