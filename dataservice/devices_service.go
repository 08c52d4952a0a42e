package dataservice

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"
)

var (
	_ DeviceStore = (*Service)(nil)
	_ DeviceIndex = (*Service)(nil)
)

// CreateDevice implements DeviceStore: the device record and its entry in
// the app's device index in one batch, then, once the device was created,
// the app's device count (see DeviceIndex.AppDeviceCount). The batch is not
// atomic: if the device exists, the index entry is still written, and is
// deleted again if the existing device belongs to another app.
func (s *Service) CreateDevice(ctx context.Context, d Device) error {
	if err := checkAppKey(d.AppKey); err != nil {
		return fmt.Errorf("create device %s: %w", d.RegistrationID, err)
	}
	err := s.store.PutMany(ctx, []Write{
		{Kind: KindDevice, Key: d.RegistrationID, Value: encodeDevice(d), Options: WriteOptions{CreateOnly: true}},
		{Kind: KindAppDevice, Key: appDeviceKey(d.AppKey, d.RegistrationID), Value: []byte{}},
	})
	if err == nil {
		s.countAppDevice(ctx, d.AppKey)
		return nil
	}
	if errors.Is(err, ErrExists) {
		if old, gerr := s.Device(ctx, d.RegistrationID); gerr == nil && old.AppKey != d.AppKey {
			if _, derr := s.store.Delete(ctx, KindAppDevice, appDeviceKey(d.AppKey, d.RegistrationID), 0); derr != nil {
				err = errors.Join(err, derr)
			}
		}
	}
	return fmt.Errorf("create device %s: %w", d.RegistrationID, err)
}

// Device implements DeviceStore.
func (s *Service) Device(ctx context.Context, rid string) (Device, error) {
	r, err := s.store.Get(ctx, KindDevice, rid)
	if err != nil {
		return Device{}, fmt.Errorf("device %s: %w", rid, err)
	}
	return decodeDevice(rid, r.Value)
}

// Devices implements DeviceStore.
func (s *Service) Devices(ctx context.Context, rids []string) ([]Device, error) {
	recs, err := s.store.GetMany(ctx, KindDevice, rids)
	if err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	out := make([]Device, len(recs))
	for i, r := range recs {
		if !r.Exists() {
			continue
		}
		if out[i], err = decodeDevice(rids[i], r.Value); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// aliasPendingGrace is how long an alias index entry whose device does not
// (yet) have the alias counts as a SetAlias in flight; older ones are left
// over by a failed call and are deleted by the next SetAlias of the alias.
const aliasPendingGrace = time.Minute

// countName is the counter of a KindTagCount record.
const countName = "n"

// appCountName is the counter of a KindAppCount record.
const appCountName = "devices"

// Keys of the device index.
func appDeviceKey(app, rid string) string { return app + "/" + rid }

func tagKey(app, tag string) string { return app + "/" + tag }

func tagMemberKey(app, tag, rid string) string { return app + "/" + tag + "/" + rid }

func aliasGroup(app, alias string) string { return app + "/" + alias + "/" }

// Attributes records are read on every tag or alias change and by the
// devices API: version, alias, then the tag count and the sorted tags, each
// string prefixed by its length as a uvarint.
const attrsRecordVersion = 1

func encodeAttrs(a DeviceAttrs) []byte {
	n := 1 + 2*binary.MaxVarintLen16 + len(a.Alias)
	for _, t := range a.Tags {
		n += 1 + len(t)
	}
	b := make([]byte, 0, n)
	b = append(b, attrsRecordVersion)
	b = binary.AppendUvarint(b, uint64(len(a.Alias)))
	b = append(b, a.Alias...)
	b = binary.AppendUvarint(b, uint64(len(a.Tags)))
	for _, t := range a.Tags {
		b = binary.AppendUvarint(b, uint64(len(t)))
		b = append(b, t...)
	}
	return b
}

var errCorruptAttrs = errors.New("dataservice: corrupt device attributes record")

func decodeAttrs(rid string, v []byte) (DeviceAttrs, error) {
	bad := func(why string) (DeviceAttrs, error) {
		return DeviceAttrs{}, fmt.Errorf("%w %s: %s", errCorruptAttrs, rid, why)
	}
	if len(v) < 1 || v[0] != attrsRecordVersion {
		return bad("bad header")
	}
	rest := v[1:]
	field := func() (string, bool) {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return "", false
		}
		s := string(rest[k : k+int(n)])
		rest = rest[k+int(n):]
		return s, true
	}
	var a DeviceAttrs
	var ok bool
	if a.Alias, ok = field(); !ok {
		return bad("truncated alias")
	}
	count, k := binary.Uvarint(rest)
	if k <= 0 || count > uint64(len(rest)) { // each tag takes 2 bytes at least
		return bad("bad tag count")
	}
	rest = rest[k:]
	if count > 0 {
		a.Tags = make([]string, count)
	}
	for i := range a.Tags {
		if a.Tags[i], ok = field(); !ok {
			return bad("truncated tag")
		}
	}
	if len(rest) != 0 {
		return bad("trailing bytes")
	}
	if !slices.IsSorted(a.Tags) {
		return bad("tags out of order")
	}
	return a, nil
}

// checkDevice fails with ErrNotFound unless rid is a device of app.
func (s *Service) checkDevice(ctx context.Context, app, rid string) error {
	if err := checkAppKey(app); err != nil {
		return err
	}
	d, err := s.Device(ctx, rid)
	if err != nil {
		return err
	}
	if d.AppKey != app {
		return fmt.Errorf("device %s: %w", rid, ErrNotFound) // as if unknown: don't tell apps apart
	}
	return nil
}

// readAttrs returns a device's attributes and the generation of their
// record, 0 if there is none.
func (s *Service) readAttrs(ctx context.Context, rid string) (DeviceAttrs, uint32, error) {
	r, err := s.store.Get(ctx, KindDeviceAttrs, rid)
	if errors.Is(err, ErrNotFound) {
		return DeviceAttrs{}, 0, nil
	}
	if err != nil {
		return DeviceAttrs{}, 0, fmt.Errorf("attributes of device %s: %w", rid, err)
	}
	a, err := decodeAttrs(rid, r.Value)
	return a, r.Generation, err
}

// writeAttrs replaces a device's attributes if their record's generation is
// still gen (0: if there is no record). It returns the new generation, or
// 0 if the record changed meanwhile.
func (s *Service) writeAttrs(ctx context.Context, rid string, a DeviceAttrs, gen uint32) (uint32, error) {
	g, err := s.store.Put(ctx, KindDeviceAttrs, rid, encodeAttrs(a), WriteOptions{Generation: gen, CreateOnly: gen == 0})
	if errors.Is(err, ErrGenerationMismatch) || errors.Is(err, ErrExists) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("attributes of device %s: %w", rid, err)
	}
	return g, nil
}

func errContention(rid string) error {
	return fmt.Errorf("device %s: %w: %d concurrent changes in a row; retry", rid, ErrGenerationMismatch, casAttempts)
}

// DeviceAttrs implements DeviceIndex.
func (s *Service) DeviceAttrs(ctx context.Context, rid string) (DeviceAttrs, error) {
	a, _, err := s.readAttrs(ctx, rid)
	return a, err
}

// DevicesAttrs implements DeviceIndex with one GetMany.
func (s *Service) DevicesAttrs(ctx context.Context, rids []string) ([]DeviceAttrs, error) {
	recs, err := s.store.GetMany(ctx, KindDeviceAttrs, rids)
	if err != nil {
		return nil, fmt.Errorf("attributes of %d devices: %w", len(rids), err)
	}
	out := make([]DeviceAttrs, len(rids))
	for i, r := range recs {
		if !r.Exists() {
			continue
		}
		if out[i], err = decodeAttrs(rids[i], r.Value); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkTagChange validates the tags of an UpdateTags and returns them
// sorted and distinct.
func checkTagChange(add, remove []string) ([]string, []string, error) {
	for _, list := range [][]string{add, remove} {
		for _, t := range list {
			if err := CheckTag(t); err != nil {
				return nil, nil, err
			}
		}
	}
	add, remove = sortedSet(add), sortedSet(remove)
	if n := len(add) + len(remove); n > MaxTagsPerCall {
		return nil, nil, fmt.Errorf("%w: %d tags in one call; at most %d are allowed", ErrInvalid, n, MaxTagsPerCall)
	}
	for _, t := range add {
		if _, both := slices.BinarySearch(remove, t); both {
			return nil, nil, fmt.Errorf("%w: tag %q is both added and removed", ErrInvalid, t)
		}
	}
	return add, remove, nil
}

func sortedSet(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// applyTags returns cur's tags with add and remove applied (all sorted),
// and the tags that really changed.
func applyTags(cur, add, remove []string) (next, added, removed []string) {
	next = make([]string, 0, len(cur)+len(add))
	for _, t := range cur {
		if _, gone := slices.BinarySearch(remove, t); gone {
			removed = append(removed, t)
			continue
		}
		next = append(next, t)
	}
	for _, t := range add {
		if _, has := slices.BinarySearch(cur, t); !has {
			added = append(added, t)
			next = append(next, t)
		}
	}
	slices.Sort(next)
	return next, added, removed
}

// UpdateTags implements DeviceIndex. The order of its writes is documented
// there.
func (s *Service) UpdateTags(ctx context.Context, app, rid string, add, remove []string) ([]string, error) {
	add, remove, err := checkTagChange(add, remove)
	if err != nil {
		return nil, fmt.Errorf("update tags of device %s: %w", rid, err)
	}
	if err := s.checkDevice(ctx, app, rid); err != nil {
		return nil, fmt.Errorf("update tags: %w", err)
	}
	named := append(slices.Clone(add), remove...)

	// 1. Index entries of the added tags: a crash from here on leaves a
	// superset.
	if len(add) > 0 {
		writes := make([]Write, len(add))
		for i, t := range add {
			writes[i] = Write{Kind: KindTag, Key: tagMemberKey(app, t, rid), Value: []byte{}}
		}
		if err := s.store.PutMany(ctx, writes); err != nil {
			return nil, fmt.Errorf("update tags of device %s: index: %w", rid, err)
		}
	}

	// 2. The attributes, by compare-and-set.
	var (
		next           DeviceAttrs
		gen            uint32
		added, removed []string
	)
	for round := 0; ; round++ {
		if round == casAttempts {
			return nil, fmt.Errorf("update tags: %w", errContention(rid))
		}
		if err := backoff(ctx, round); err != nil {
			return nil, fmt.Errorf("update tags of device %s: %w", rid, err)
		}
		cur, g, err := s.readAttrs(ctx, rid)
		if err != nil {
			return nil, fmt.Errorf("update tags: %w", err)
		}
		next = cur
		next.Tags, added, removed = applyTags(cur.Tags, add, remove)
		if len(next.Tags) > MaxTagsPerDevice {
			// Take back the index entries of step 1 the device's tags
			// do not justify.
			// Best effort: what it leaves is the superset TagMembers allows.
			_ = s.settleTags(ctx, app, rid, add, cur, g)
			return nil, fmt.Errorf("update tags of device %s: %w: it would have %d tags; at most %d are allowed",
				rid, ErrTooManyTags, len(next.Tags), MaxTagsPerDevice)
		}
		if len(added) == 0 && len(removed) == 0 {
			gen = g
			break
		}
		if gen, err = s.writeAttrs(ctx, rid, next, g); err != nil {
			return nil, fmt.Errorf("update tags: %w", err)
		}
		if gen != 0 {
			break
		}
	}

	// 3. Member counters, once per real change.
	var crossed []string // tags whose count went 0 → 1 or 1 → 0
	for _, change := range []struct {
		tags  []string
		delta int64
	}{{added, 1}, {removed, -1}} {
		for _, t := range change.tags {
			n, err := s.store.Incr(ctx, KindTagCount, tagKey(app, t), []Delta{{Name: countName, Delta: change.delta}}, 0)
			if err != nil {
				return nil, fmt.Errorf("update tags of device %s: count of tag %q: %w", rid, t, err)
			}
			if (n[0] > 0) != (n[0]-change.delta > 0) {
				crossed = append(crossed, t)
			}
		}
	}

	// 4. The index agrees with the attributes.
	if err := s.settleTags(ctx, app, rid, named, next, gen); err != nil {
		return nil, err
	}

	// 5. The app's tag list.
	for _, t := range crossed {
		if err := s.settleAppTag(ctx, app, t); err != nil {
			return nil, err
		}
	}
	if next.Tags == nil {
		next.Tags = []string{}
	}
	return next.Tags, nil
}

// settleTags makes the tag index entries of rid for tags agree with the
// attributes a of generation gen, then checks that the attributes did not
// change meanwhile, else settles again with the new ones. A call racing
// another on the same device can have its writes land after the other's;
// whichever finishes last leaves the entries as the final attributes say.
func (s *Service) settleTags(ctx context.Context, app, rid string, tags []string, a DeviceAttrs, gen uint32) error {
	for round := 0; ; round++ {
		if round == casAttempts {
			return fmt.Errorf("update tags: %w", errContention(rid))
		}
		var (
			puts []Write
			dels []string
		)
		for _, t := range tags {
			if _, has := slices.BinarySearch(a.Tags, t); has {
				puts = append(puts, Write{Kind: KindTag, Key: tagMemberKey(app, t, rid), Value: []byte{}})
			} else {
				dels = append(dels, tagMemberKey(app, t, rid))
			}
		}
		if len(puts) > 0 {
			if err := s.store.PutMany(ctx, puts); err != nil {
				return fmt.Errorf("update tags of device %s: index: %w", rid, err)
			}
		}
		if len(dels) > 0 {
			if _, err := s.store.DeleteMany(ctx, KindTag, dels); err != nil {
				return fmt.Errorf("update tags of device %s: index: %w", rid, err)
			}
		}
		now, g, err := s.readAttrs(ctx, rid)
		if err != nil {
			return fmt.Errorf("update tags: %w", err)
		}
		if g == gen {
			return nil
		}
		a, gen = now, g
	}
}

// tagCount reads the member counter of key (app/tag).
func (s *Service) tagCount(ctx context.Context, key string) (int64, error) {
	c, err := s.store.Counters(ctx, KindTagCount, key)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("count of tag %s: %w", key, err)
	}
	return max(c[countName], 0), nil
}

// settleAppTag makes the app's tag list hold tag exactly when the tag has
// members. It runs after the count crossed between 0 and 1, and checks the
// count again after its write, like settleTags: of calls crossing in
// opposite directions at once, the last to check leaves the list right.
func (s *Service) settleAppTag(ctx context.Context, app, tag string) error {
	key := tagKey(app, tag)
	for range casAttempts {
		n, err := s.tagCount(ctx, key)
		if err != nil {
			return err
		}
		if n > 0 {
			_, err = s.store.Put(ctx, KindAppTag, key, []byte{}, WriteOptions{})
		} else {
			_, err = s.store.Delete(ctx, KindAppTag, key, 0)
		}
		if err != nil {
			return fmt.Errorf("tag list of app %s: %w", app, err)
		}
		m, err := s.tagCount(ctx, key)
		if err != nil {
			return err
		}
		if (m > 0) == (n > 0) {
			return nil
		}
	}
	return fmt.Errorf("tag list of app %s: %w: tag %q keeps gaining and losing its last device; retry", app, ErrGenerationMismatch, tag)
}

// scanMembers returns the members (keys after prefix) of one page of a
// group.
func (s *Service) scanMembers(ctx context.Context, kind Kind, prefix, after string, limit int) ([]string, error) {
	if err := checkPage(limit); err != nil {
		return nil, err
	}
	from := ""
	if after != "" {
		from = prefix + after
	}
	recs, err := s.store.Scan(ctx, kind, prefix, from, limit)
	if err != nil {
		return nil, err
	}
	// Keys share one backing string in most stores: slicing copies nothing.
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Key[len(prefix):]
	}
	return out, nil
}

// AppDevices implements DeviceIndex.
func (s *Service) AppDevices(ctx context.Context, app, after string, limit int) ([]string, error) {
	if err := checkAppKey(app); err != nil {
		return nil, err
	}
	if after != "" {
		if err := CheckRecordKey(after); err != nil {
			return nil, err
		}
	}
	out, err := s.scanMembers(ctx, KindAppDevice, app+"/", after, limit)
	if err != nil {
		return nil, fmt.Errorf("devices of app %s: %w", app, err)
	}
	return out, nil
}

// TagMembers implements DeviceIndex.
func (s *Service) TagMembers(ctx context.Context, app, tag, after string, limit int) ([]string, error) {
	if err := checkAppKey(app); err != nil {
		return nil, err
	}
	if err := CheckTag(tag); err != nil {
		return nil, err
	}
	if after != "" {
		if err := CheckRecordKey(after); err != nil {
			return nil, err
		}
	}
	out, err := s.scanMembers(ctx, KindTag, tagKey(app, tag)+"/", after, limit)
	if err != nil {
		return nil, fmt.Errorf("devices of tag %q of app %s: %w", tag, app, err)
	}
	return out, nil
}

// TagCount implements DeviceIndex.
func (s *Service) TagCount(ctx context.Context, app, tag string) (int64, error) {
	if err := checkAppKey(app); err != nil {
		return 0, err
	}
	if err := CheckTag(tag); err != nil {
		return 0, err
	}
	return s.tagCount(ctx, tagKey(app, tag))
}

// AppTags implements DeviceIndex.
func (s *Service) AppTags(ctx context.Context, app, after string, limit int) ([]string, error) {
	if err := checkAppKey(app); err != nil {
		return nil, err
	}
	if after != "" {
		if err := CheckTag(after); err != nil {
			return nil, err
		}
	}
	out, err := s.scanMembers(ctx, KindAppTag, app+"/", after, limit)
	if err != nil {
		return nil, fmt.Errorf("tags of app %s: %w", app, err)
	}
	return out, nil
}

// countAppDevice counts a device createDevice created. See
// DeviceIndex.AppDeviceCount for why a failure is not reported.
func (s *Service) countAppDevice(ctx context.Context, app string) {
	_, _ = s.store.Incr(ctx, KindAppCount, app, []Delta{{Name: appCountName, Delta: 1}}, 0)
}

// AppDeviceCount implements DeviceIndex.
func (s *Service) AppDeviceCount(ctx context.Context, app string) (int64, error) {
	if err := checkAppKey(app); err != nil {
		return 0, fmt.Errorf("device count: %w", err)
	}
	c, err := s.store.Counters(ctx, KindAppCount, app)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("device count of app %s: %w", app, err)
	}
	return c[appCountName], nil
}

// LastActive implements DeviceIndex: the sessions, then the last-active
// marks of the devices without one.
func (s *Service) LastActive(ctx context.Context, rids []string) ([]time.Time, error) {
	out := make([]time.Time, len(rids))
	if len(rids) == 0 {
		return out, nil
	}
	sessions, err := s.Sessions(ctx, rids)
	if err != nil {
		return nil, fmt.Errorf("last active: %w", err)
	}
	now := time.UnixMilli(s.now().UnixMilli()).UTC()
	var (
		rest []string
		at   []int
	)
	for i, sess := range sessions {
		if sess.Exists() {
			out[i] = now
			continue
		}
		rest, at = append(rest, rids[i]), append(at, i)
	}
	if len(rest) == 0 {
		return out, nil
	}
	recs, err := s.store.GetMany(ctx, KindLastActive, rest)
	if err != nil {
		return nil, fmt.Errorf("last active: %w", err)
	}
	for k, r := range recs {
		if !r.Exists() {
			continue
		}
		if out[at[k]], err = decodeLastActive(rest[k], r.Value); err != nil {
			return nil, err
		}
	}
	return out, nil
}
