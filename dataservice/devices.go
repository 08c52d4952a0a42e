package dataservice

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// DeviceStore holds the device records: one per installation of an app,
// created when the device registers, read on every connection (to
// authenticate it) and every push to it. The API neither changes nor
// deletes them; a device's tags and alias live in DeviceIndex. Processes
// cache them (KindDevice is one of CachedKinds).
type DeviceStore interface {
	// CreateDevice stores a new device; ErrExists if the id is taken. It
	// also lists the device among its app's (DeviceIndex.AppDevices) and
	// counts it (DeviceIndex.AppDeviceCount).
	CreateDevice(ctx context.Context, d Device) error
	// Device returns a device, or ErrNotFound.
	Device(ctx context.Context, rid string) (Device, error)
	// Devices returns one Device per id, in order; a zero Device for ids
	// that do not exist.
	Devices(ctx context.Context, rids []string) ([]Device, error)
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

// DeviceIndex describes devices for audiences: each device's tags and
// alias, when it was last connected, and the indexes that turn a tag, an
// alias or a whole app into registration ids.
//
// Tags and the alias live in a record of their own (KindDeviceAttrs), not
// in the device record that every connection reads and caches. That record
// is the truth; the indexes (KindTag, KindAlias, KindAppDevice) and the tag
// counters (KindTagCount, KindAppTag) are derived from it. Their writes
// cannot be atomic with it (the Store has no multi-record transactions), so
// each method orders its writes for the failure it can tolerate: an index
// may hold a device that no longer has the tag (a superset: audiences
// resolved from it may reach a device that just left a tag, as with JPush),
// and never lacks one, except for the narrow windows documented on
// UpdateTags. Calls concurrent on one device are serialized by a
// compare-and-set on its attributes record and settle the indexes to what
// that record says before they return.
//
// Names follow JPush: a tag or an alias is 1 to MaxTagLen bytes of UTF-8
// without '/' or control characters (CheckTag). Methods taking an app key
// reject an empty one or one with '/' with ErrInvalid; a device of another
// app is reported as ErrNotFound, like an unknown one, so that one app
// learns nothing about another's devices.
type DeviceIndex interface {
	// AppDevices returns up to limit (1 to MaxPage) registration ids of
	// the app's devices in ascending byte order, starting after the id
	// after (empty: from the first). It is the stream "all" audiences and
	// segments are resolved from. Every device CreateDevice created is in
	// it (devices are never removed); so may be, rarely, the id of a
	// creation that failed: callers reading the devices skip those.
	AppDevices(ctx context.Context, app, after string, limit int) ([]string, error)
	// AppDeviceCount returns how many devices the app has registered
	// (CreateDevice counts them, after creating the device). The count is
	// a counter beside the devices, not a count of them: if counting
	// fails after a device was created, CreateDevice still succeeds (the
	// device exists) and the count stays one short.
	AppDeviceCount(ctx context.Context, app string) (int64, error)

	// DeviceAttrs returns a device's tags (sorted) and alias; the zero
	// DeviceAttrs for a device that has none, or no device at all.
	DeviceAttrs(ctx context.Context, rid string) (DeviceAttrs, error)
	// DevicesAttrs is DeviceAttrs of many devices in one call, in order.
	DevicesAttrs(ctx context.Context, rids []string) ([]DeviceAttrs, error)

	// UpdateTags adds and removes tags of a device of app and returns its
	// tags afterwards, sorted. Adding a tag the device has, or removing
	// one it lacks, changes nothing (and repairs the tag index entry).
	// add and remove name at most MaxTagsPerCall tags together, no tag in
	// both; a device keeps at most MaxTagsPerDevice tags, beyond which the
	// call fails with ErrTooManyTags and changes nothing. An unknown device
	// or one of another app is ErrNotFound.
	//
	// Order of writes, and what a crash between them leaves:
	//  1. the tag index entries of add (KindTag app/tag/rid);
	//  2. the attributes record, by compare-and-set (retried on conflict):
	//     the change takes effect here;
	//  3. the member counters (KindTagCount), ±1 per tag that really
	//     changed;
	//  4. the tag index entries of remove are deleted, and every entry of
	//     add and remove is made to agree with the attributes record again
	//     (a concurrent call may have reordered writes);
	//  5. the app's tag list (KindAppTag) for tags whose count went from 0
	//     to 1 or from 1 to 0.
	// A crash between 1 and 2 leaves index entries of tags the device
	// lacks (the superset TagMembers allows); between 2 and 3, counters
	// that miss the change, and index entries of removed tags (as does a
	// crash between 3 and 4); from 4 on, a tag list that misses a tag
	// gaining its first member or keeps one losing its last. Only a crash
	// in step 4 of a call racing another on the same device can leave the
	// index without a device that has the tag. Calling again with the same
	// tags repairs the index, not the counters or the tag list.
	// Without crashes, counters are exact once concurrent calls return
	// (in between they may be briefly off by the calls in flight).
	UpdateTags(ctx context.Context, app, rid string, add, remove []string) ([]string, error)

	// SetAlias gives a device of app its alias, replacing the one it had;
	// "" removes it. An alias names at most MaxAliasDevices devices of an
	// app: setting it on one more fails with ErrAliasFull and changes
	// nothing (JPush rejects likewise rather than evicting). The limit
	// holds under concurrent calls too: calls racing for the last places
	// pause and try again briefly, and, rarely, all of them fail. An
	// unknown device or one of another app is ErrNotFound.
	//
	// The new alias's index entry is written first and the limit checked
	// against the entries then found (each counts if its device has the
	// alias or if it was written less than a minute ago: a call in
	// flight), then the attributes record is changed by compare-and-set,
	// then the old alias's entry is deleted. A crash in between leaves an
	// entry that AliasMembers ignores (it checks each member's
	// attributes), that takes a place for a minute, and that a later
	// SetAlias of the alias then deletes.
	SetAlias(ctx context.Context, app, rid, alias string) error

	// TagMembers returns up to limit (1 to MaxPage) registration ids of
	// the devices of app with tag, in ascending byte order, starting after
	// the id after (empty: from the first). It reads the index, which may
	// hold a few devices that lost the tag without the index being updated
	// (see UpdateTags): callers that need exactness check DeviceAttrs.
	// Audience resolution does not: JPush doesn't either.
	TagMembers(ctx context.Context, app, tag, after string, limit int) ([]string, error)

	// TagCount returns how many devices of app have tag; 0 for a tag no
	// device has.
	TagCount(ctx context.Context, app, tag string) (int64, error)

	// AppTags returns up to limit (1 to MaxPage) tags that devices of app
	// have, in ascending byte order, starting after the tag after (empty:
	// from the first).
	AppTags(ctx context.Context, app, after string, limit int) ([]string, error)

	// AliasMembers returns the registration ids of the devices of app with
	// alias (at most MaxAliasDevices), in ascending byte order: exactly
	// those whose attributes say so.
	AliasMembers(ctx context.Context, app, alias string) ([]string, error)

	// LastActive returns, per device, when it was last connected: now
	// for a device with a session, the end of its last session otherwise,
	// the zero time for a device never seen connected. The end of a
	// session is when DeleteSession deleted it, or, for a session that
	// expired (its connector died), its last refresh (PutSessions'
	// Since). Times have millisecond precision.
	LastActive(ctx context.Context, rids []string) ([]time.Time, error)
}

// Record kinds of the device index (see DeviceIndex). KindTag and KindAlias,
// the tag and alias indexes, are declared with the other kinds in store.go.
const (
	KindAppDevice   Kind = "apd" // app_key/registration_id → nothing: the app's devices
	KindDeviceAttrs Kind = "dat" // registration_id → DeviceAttrs, compact (encodeAttrs)
	KindTagCount    Kind = "tgc" // app_key/tag → counter record {"n": devices with the tag}
	KindAppTag      Kind = "atg" // app_key/tag → nothing: the app's tags, while they have devices
	KindAppCount    Kind = "apc" // app_key → counter record {"devices": n}
	KindLastActive  Kind = "act" // registration_id → when the device's last session ended
)

// Limits of the device index.
const (
	// MaxTagLen bounds a tag or an alias, in bytes (JPush: 40).
	MaxTagLen = 40
	// MaxTagsPerDevice bounds the tags of one device. JPush allows 1000;
	// 100 keeps the attributes record small (4 KiB at most) and is more
	// than apps use.
	MaxTagsPerDevice = 100
	// MaxTagsPerCall bounds the tags one UpdateTags names, added and
	// removed together (JPush: 100).
	MaxTagsPerCall = 100
	// MaxAliasDevices bounds the devices of an app that share an alias
	// (JPush: 10).
	MaxAliasDevices = 10
	// MaxPage bounds the limit of the paged listings.
	MaxPage = 10000
)

// Errors of the device index. Both wrap ErrInvalid.
var (
	// ErrTooManyTags: an UpdateTags would leave a device with more than
	// MaxTagsPerDevice tags.
	ErrTooManyTags = fmt.Errorf("%w: too many tags", ErrInvalid)
	// ErrAliasFull: an alias already names MaxAliasDevices devices.
	ErrAliasFull = fmt.Errorf("%w: alias full", ErrInvalid)
)

// DeviceAttrs are what an app says about one of its devices.
type DeviceAttrs struct {
	// Tags, sorted, distinct.
	Tags  []string `json:"tags"`
	Alias string   `json:"alias"`
}

// CheckTag validates a tag: 1 to MaxTagLen bytes of UTF-8 without '/' (the
// group separator of the index keys) and without control characters.
func CheckTag(tag string) error { return checkName("tag", tag) }

// CheckAlias validates a non-empty alias, by the rules of tags.
func CheckAlias(alias string) error { return checkName("alias", alias) }

func checkName(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	case len(s) > MaxTagLen:
		return fmt.Errorf("%w: %s of %d bytes; at most %d are allowed", ErrInvalid, what, len(s), MaxTagLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, what)
	case strings.IndexByte(s, GroupSeparator) >= 0:
		return fmt.Errorf("%w: %s %q contains '/'", ErrInvalid, what, s)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: %s %q contains a control character", ErrInvalid, what, s)
	}
	return nil
}
