package dataservice

import (
	"encoding/json"
	"time"
)

// App is an application that pushes through Herald.
type App struct {
	Key  string `json:"key"`
	Name string `json:"name,omitempty"`
	// SecretHash is the SHA-256 of the master secret; the secret itself is
	// shown once, when the app is created, and never stored.
	SecretHash [32]byte  `json:"secret_hash"`
	Created    time.Time `json:"created"`
}

// Device is one installation of an app on a device.
type Device struct {
	RegistrationID string `json:"rid"`
	AppKey         string `json:"app"`
	Platform       string `json:"platform,omitempty"`
	// TimeZone is the device's IANA time zone (such as "Asia/Shanghai"),
	// for schedules in each device's local time; empty if unknown.
	TimeZone string `json:"timezone,omitempty"`
	// StoredKey and ServerKey are derived one way from the device secret
	// (see protocol.DeriveDeviceKeys); the secret is never stored.
	StoredKey [32]byte  `json:"stored_key"`
	ServerKey [32]byte  `json:"server_key"`
	Created   time.Time `json:"created"`
}

// Exists reports whether d is a device rather than a miss in a batch.
func (d Device) Exists() bool { return d.RegistrationID != "" }

// Session says which connector holds a device's connection. It is a routing
// hint with a TTL: the connector itself is the authority on whether the
// device is online.
type Session struct {
	RegistrationID string    `json:"registration_id"`
	Connector      string    `json:"connector"`
	Since          time.Time `json:"since"`
	// Generation is the store generation of the session record, used to
	// delete it only if no newer session replaced it.
	Generation uint32 `json:"generation,omitempty"`
}

// Exists reports whether s is a session rather than a miss in a batch.
func (s Session) Exists() bool { return s.Generation != 0 }

// Message is the body of a push, stored once however many devices it
// targets.
type Message struct {
	ID      uint64          `json:"id,string"`
	AppKey  string          `json:"app"`
	Title   string          `json:"title,omitempty"`
	Content string          `json:"content"`
	Extras  json.RawMessage `json:"extras,omitempty"`
	// TTL is how long undelivered copies wait for offline devices. Zero
	// means online only: no copy is stored and nothing is acknowledged.
	TTL     time.Duration `json:"ttl"`
	Created time.Time     `json:"created"`
	// Broadcast marks a message to every device of the app: it is stored
	// once for the app, not once per device.
	Broadcast bool `json:"broadcast,omitempty"`
	// Priority orders sending: high-priority tasks go before normal ones.
	Priority Priority `json:"priority,omitempty"`
	// CollapseID, if set, makes the message replace an undelivered older
	// one of the same app and collapse id on each device.
	CollapseID string `json:"collapse_id,omitempty"`
	// Audience is the audience the message was pushed to, as the gateway
	// stored it (canonical JSON): what a cancel resolves again.
	Audience json.RawMessage `json:"audience,omitempty"`
}

// Priority is a message's sending priority.
type Priority uint8

// Priorities.
const (
	PriorityNormal Priority = 0
	PriorityHigh   Priority = 1
)

// Expires returns when undelivered copies of m expire.
func (m *Message) Expires() time.Time { return m.Created.Add(m.TTL) }

// InboxEntry is an undelivered copy of a message for one device.
type InboxEntry struct {
	MessageID uint64 `json:"message_id,string"`
	// Attempts counts how many times the copy was written to a connection.
	Attempts uint8     `json:"attempts"`
	Expires  time.Time `json:"expires"`
	// Generation of the inbox record, so updates never resurrect a copy
	// that was acknowledged in the meantime.
	Generation uint32 `json:"generation"`
}

// InboxCopy names one device's copy of one message.
type InboxCopy struct {
	RegistrationID string `json:"registration_id"`
	MessageID      uint64 `json:"message_id,string"`
}

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
