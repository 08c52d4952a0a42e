package aerospike

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"time"

	as "github.com/aerospike/aerospike-client-go/v7"
	"github.com/aerospike/aerospike-client-go/v7/types"

	"github.com/heraldpush/herald/dataservice"
)

// Directories. The records of a directory kind (Config.DirectoryKinds:
// inboxes and an app's broadcasts, the groups a device connect reads) are
// found by Scan through keyed records rather than a secondary-index query:
// each group of such a kind has a directory record, in the set
// SetPrefix+"~dir" under the key kind+" "+group, whose key-ordered map bin
// holds the keys of the group's records. Scan is then a read of that map
// from the cursor on (one key read, the cost of the page, not of the
// group) and a batch read of the records; a single server answers such
// reads an order of magnitude faster than secondary-index queries.
//
// Aerospike Community Edition has no multi-record transactions, so the
// directory and the records are kept consistent by ordering alone:
//
//   - Put writes the record, then adds its key to the directory of each of
//     its groups (so a Scan that starts after Put returns finds it);
//   - Delete and expiry leave the key in the directory: Scan skips keys
//     whose record is missing and removes them, only if the directory has
//     not changed since it read it (a generation check), so a Put racing
//     with the clean-up re-adds its key;
//   - a directory that reaches 512, 1,024, 2,048… keys is cleaned the same
//     way by the Put that made it grow, so the keys of delivered copies do
//     not pile up in the inbox of a device that stays connected;
//   - a directory expires after its longest-lived key: each key maps to
//     its record's expiry (never: math.MaxInt64), the add returns the
//     largest, and when the directory's own lifetime falls short of it (or
//     exceeds it by more than two dirSlacks) the add touches it to that
//     expiry plus dirSlack, if no write came in between (a generation
//     check); so the inbox directory of a device that never returns goes
//     when its last copy would have.
//
// The cost: a Put of a directory kind is two writes, and a directory is
// one record, bounded by the namespace's max-record-size (about 40,000
// keys of 40 bytes in 2 MiB): directory kinds are for groups of at most a
// few thousand live records.

// binMembers is the map bin of a directory record: key → 0.
const binMembers = "m"

// dirSetSuffix names the set of the directory records ("~" is in no kind).
const dirSetSuffix = "~dir"

// cleanAt is the smallest directory size at which a Put cleans the
// directory (then at every power of two above).
const cleanAt = 512

// dirChunk is the most keys Scan reads from a directory at a time.
const dirChunk = 1000

// dirSlack is how long a directory outlives its longest-lived key, at
// least: touches are needed about once per dirSlack, not per add.
const dirSlack = time.Hour

// neverExpires is a directory key's expiry for a record without a TTL.
const neverExpires = math.MaxInt64

var dirMapPolicy = as.NewMapPolicyWithFlags(as.MapOrder.KEY_ORDERED, as.MapWriteFlagsDefault)

// isDirKind reports whether kind's groups have directories.
func (s *Store) isDirKind(kind dataservice.Kind) bool {
	return slices.Contains(s.cfg.DirectoryKinds, kind)
}

// dirKey returns the key of the directory of group (which ends with
// GroupSeparator) of kind.
func (s *Store) dirKey(kind dataservice.Kind, group string) (*as.Key, error) {
	k, err := as.NewKey(s.namespace, s.setPrefix+dirSetSuffix, string(kind)+" "+s.keyPrefix+group)
	if err != nil {
		return nil, fmt.Errorf("dataservice/aerospike: directory key %s %q: %w: %w", kind, group, dataservice.ErrInvalid, err)
	}
	return k, nil
}

// member is a key added to a directory and its record's lifetime (0:
// none).
type member struct {
	key string
	ttl time.Duration
}

// addMembers adds members, records of kind just written, to the
// directories of their groups, fits each directory's lifetime to its
// longest-lived key, and cleans a directory that grew past a power of two
// from cleanAt up.
func (s *Store) addMembers(ctx context.Context, kind dataservice.Kind, members []member) error {
	const op = "directory add"
	byGroup := make(map[string][]member)
	var order []string
	for _, m := range members {
		for _, g := range groups(m.key) {
			if _, ok := byGroup[g]; !ok {
				order = append(order, g)
			}
			byGroup[g] = append(byGroup[g], m)
		}
	}
	if len(order) == 0 {
		return nil
	}
	now := time.Now()
	addOps := func(ms []member) []*as.Operation {
		items := make(map[any]any, len(ms))
		for _, m := range ms {
			exp := int64(neverExpires)
			if m.ttl > 0 {
				exp = now.Unix() + int64(expiration(m.ttl))
			}
			items[m.key] = exp
		}
		return []*as.Operation{
			as.MapPutItemsOp(dirMapPolicy, binMembers, items),
			as.MapGetByRankRangeCountOp(binMembers, -1, 1, as.MapReturnType.VALUE),
		}
	}
	added := make([]*as.Record, len(order))
	if len(order) == 1 {
		dk, err := s.dirKey(kind, order[0])
		if err != nil {
			return err
		}
		wp, err := s.pol.writePolicy(ctx)
		if err != nil {
			return contextError(op, err)
		}
		wp.RecordExistsAction = as.UPDATE
		wp.Expiration = as.TTLDontUpdate
		rec, aerr := s.client.Operate(wp, dk, addOps(byGroup[order[0]])...)
		if aerr != nil {
			return s.fail(ctx, op, kind, order[0], aerr)
		}
		added[0] = rec
	} else {
		records := make([]as.BatchRecordIfc, len(order))
		bp := as.NewBatchWritePolicy()
		bp.CommitLevel = as.COMMIT_ALL
		bp.RecordExistsAction = as.UPDATE
		bp.Expiration = as.TTLDontUpdate
		for i, g := range order {
			dk, err := s.dirKey(kind, g)
			if err != nil {
				return err
			}
			records[i] = as.NewBatchWrite(bp, dk, addOps(byGroup[g])...)
		}
		p, err := s.pol.batchWritePolicy(ctx)
		if err != nil {
			return contextError(op, err)
		}
		aerr := s.client.BatchOperate(p, records)
		for i, r := range records {
			br := r.BatchRec()
			if br.ResultCode != types.OK {
				var rerr error = codeError(br.ResultCode)
				switch {
				case br.Err != nil:
					rerr = br.Err
				case aerr != nil:
					rerr = aerr
				}
				return s.fail(ctx, op, kind, order[i], rerr)
			}
			added[i] = br.Record
		}
		if aerr != nil {
			return s.fail(ctx, op, kind, fmt.Sprintf("%d groups", len(order)), aerr)
		}
	}
	for i, g := range order {
		if added[i] == nil {
			continue
		}
		results, ok := opResults(added[i], binMembers, 2)
		if !ok {
			continue
		}
		size, _ := toInt(results[0])
		if err := s.fitLifetime(ctx, kind, g, added[i], results[1], now); err != nil {
			return err
		}
		if size >= cleanAt && bits.Len(uint(size)) > bits.Len(uint(max(size-len(byGroup[g]), 0))) {
			if _, err := s.scanDirectory(ctx, kind, g, "", maxInt); err != nil {
				return err
			}
		}
	}
	return nil
}

const maxInt = int(^uint(0) >> 1)

// fitLifetime touches the directory of group, as an add returned it (rec,
// and largest, the largest expiry of its keys), so that it expires
// dirSlack after its longest-lived key, if its lifetime is short of that
// or more than two dirSlacks past it. The touch is skipped if the
// directory changed since: the later add fits it.
func (s *Store) fitLifetime(ctx context.Context, kind dataservice.Kind, group string, rec *as.Record, largest any, now time.Time) error {
	var maxExp int64
	if list, ok := largest.([]any); ok && len(list) == 1 {
		maxExp, _ = toInt64(list[0])
	}
	if maxExp == 0 {
		return nil
	}
	current := rec.Expiration // seconds left; 0 or MaxUint32: never
	never := current == 0 || current == math.MaxUint32
	var want uint32
	switch {
	case maxExp == neverExpires:
		if never {
			return nil
		}
		want = as.TTLDontExpire
	default:
		left := maxExp - now.Unix()
		slack := int64(dirSlack / time.Second)
		if !never && int64(current) >= left && int64(current) <= left+2*slack {
			return nil
		}
		want = uint32(min(max(left+slack, 1), math.MaxUint32-1))
	}
	dk, err := s.dirKey(kind, group)
	if err != nil {
		return err
	}
	wp, err := s.pol.writePolicy(ctx)
	if err != nil {
		return contextError("directory touch", err)
	}
	wp.RecordExistsAction = as.UPDATE_ONLY
	wp.GenerationPolicy = as.EXPECT_GEN_EQUAL
	wp.Generation = rec.Generation
	wp.Expiration = want
	if _, aerr := s.client.Operate(wp, dk, as.TouchOp()); aerr != nil {
		switch resultCode(aerr) {
		case types.GENERATION_ERROR, types.KEY_NOT_FOUND_ERROR:
			return nil // a later add or a clean-up got there first
		}
		return s.fail(ctx, "directory touch", kind, group, aerr)
	}
	return nil
}

// toInt returns the integer an operation returned.
func toInt(v any) (int, bool) {
	n, ok := toInt64(v)
	return int(n), ok
}

// scanDirectory implements Scan for a directory kind: it reads the keys
// after after from the directory of prefix, a chunk at a time, and the
// records with a batch read, until it has limit records or the directory
// ends. Keys whose record is missing are removed from the directory if it
// has not changed since they were read.
func (s *Store) scanDirectory(ctx context.Context, kind dataservice.Kind, prefix, after string, limit int) ([]dataservice.Record, error) {
	const op = "scan"
	dk, err := s.dirKey(kind, prefix)
	if err != nil {
		return nil, err
	}
	var out []dataservice.Record
	last := after
	for len(out) < limit {
		want := min(limit-len(out), dirChunk) + 1 // +1: the first may be last itself
		p, err := s.pol.readOpPolicy(ctx)
		if err != nil {
			return nil, contextError(op, err)
		}
		rec, aerr := s.client.Operate(p, dk, as.MapGetByKeyRelativeIndexRangeCountOp(binMembers, max(last, prefix), 0, want, as.MapReturnType.KEY))
		if aerr != nil {
			if resultCode(aerr) == types.KEY_NOT_FOUND_ERROR {
				break
			}
			return nil, s.fail(ctx, op, kind, prefix, aerr)
		}
		raw, _ := rec.Bins[binMembers].([]any)
		keys := make([]string, 0, len(raw))
		for _, v := range raw {
			if k, ok := v.(string); ok && k > last && strings.HasPrefix(k, prefix) {
				keys = append(keys, k)
			}
		}
		if len(keys) > 0 {
			recs, err := s.GetMany(ctx, kind, keys)
			if err != nil {
				return nil, err
			}
			var missing []any
			for i, r := range recs {
				if r.Key == "" { // GetMany's zero Record: missing, or not a value record
					missing = append(missing, keys[i])
					continue
				}
				out = append(out, r)
			}
			if len(missing) > 0 {
				s.removeMembers(ctx, dk, missing, rec.Generation)
			}
			last = keys[len(keys)-1]
		}
		if len(raw) < want {
			break // the end of the directory
		}
		if len(keys) == 0 {
			break // nothing past last: cannot happen with want ≥ 2
		}
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// removeMembers removes keys from the directory dk if its generation is
// still generation. It is a clean-up: a failure leaves the keys for the
// next Scan.
func (s *Store) removeMembers(ctx context.Context, dk *as.Key, keys []any, generation uint32) {
	wp, err := s.pol.writePolicy(ctx)
	if err != nil {
		return
	}
	wp.RecordExistsAction = as.UPDATE_ONLY
	wp.GenerationPolicy = as.EXPECT_GEN_EQUAL
	wp.Generation = generation
	wp.Expiration = as.TTLDontUpdate
	_, _ = s.client.Operate(wp, dk, as.MapRemoveByKeyListOp(binMembers, keys, as.MapReturnType.NONE))
}
