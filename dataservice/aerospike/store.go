package aerospike

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	as "github.com/aerospike/aerospike-client-go/v7"
	"github.com/aerospike/aerospike-client-go/v7/types"

	"github.com/heraldpush/herald/dataservice"
)

var _ dataservice.Store = (*Store)(nil)

// Bin names, one or two letters to save space in every record.
const (
	binValue    = "v" // value records: the caller's bytes
	binGroups   = "g" // value records: the group prefixes of the key (list of strings)
	binCounters = "c" // counter records: map from counter name to integer
	binList     = "l" // list records: the items (list of blobs)
)

// Store is a dataservice.Store kept in an Aerospike cluster. Create it with
// Open; it is safe for concurrent use.
type Store struct {
	client    *as.Client
	namespace string
	setPrefix string
	pol       *policies
	cfg       Config

	// keyPrefix is prepended to every user key. Only tests set it (before
	// the first call), to give each store of a run its own records in
	// shared sets; it contains no GroupSeparator.
	keyPrefix string

	closed atomic.Bool

	// snaps holds what large secondary-index Scans read past their page.
	snaps *snapshots

	// indexMu serializes the creation of secondary indexes; indexed holds
	// the kinds whose index exists (dataservice.Kind → struct{}).
	indexMu sync.Mutex
	indexed sync.Map
}

// Open connects to the cluster of cfg, checks the namespace and creates the
// secondary indexes of cfg.IndexKinds. It fails with an error wrapping
// dataservice.ErrInvalid for a bad configuration, of cfg or of the namespace
// (missing, default-ttl not 0, TTLs refused), and with
// dataservice.ErrUnavailable if no seed host answers.
func Open(cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	hosts := make([]*as.Host, len(cfg.Hosts))
	for i, h := range cfg.Hosts {
		hosts[i], _ = parseHost(h) // validated
	}
	client, aerr := as.NewClientWithPolicyAndHost(clientPolicy(cfg), hosts...)
	if client == nil || !client.IsConnected() {
		if client != nil {
			client.Close()
		}
		return nil, fmt.Errorf("dataservice/aerospike: open %s: %w: %w",
			strings.Join(cfg.Hosts, ","), dataservice.ErrUnavailable, connectError(aerr))
	}
	s := &Store{
		client:    client,
		namespace: cfg.Namespace,
		setPrefix: cfg.SetPrefix,
		cfg:       cfg,
		snaps:     newSnapshots(cfg.SnapshotRecords),
	}
	strong, err := s.checkNamespace()
	if err != nil {
		client.Close()
		return nil, err
	}
	if cfg.ReadMode == ReadModeLinearize && !strong {
		client.Close()
		return nil, fmt.Errorf("dataservice/aerospike: open: namespace %q: %w: read mode linearize needs strong-consistency true (Enterprise Edition); "+
			"this namespace is in AP mode (use read-mode session, or leave it out)", cfg.Namespace, dataservice.ErrInvalid)
	}
	s.pol = newPolicies(cfg, strong && cfg.ReadMode != ReadModeSession)
	for _, kind := range cfg.IndexKinds {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.IndexTimeout)
		err := s.ensureIndex(ctx, kind)
		cancel()
		if err != nil {
			client.Close()
			return nil, err
		}
	}
	return s, nil
}

// connectError returns the error of a failed connection: the client's, or
// a description if it gave none.
func connectError(err as.Error) error {
	if err == nil {
		return fmt.Errorf("no seed host answered")
	}
	return err
}

// checkNamespace fails with ErrInvalid if the cluster lacks the namespace
// (every call would fail with INVALID_NAMESPACE) or if the namespace's
// configuration breaks the contract (see namespaceProblem). It reports
// whether the namespace has strong consistency.
func (s *Store) checkNamespace() (bool, error) {
	nodes := s.client.GetNodes()
	if len(nodes) == 0 {
		return false, fmt.Errorf("dataservice/aerospike: open: %w: the cluster has no node", dataservice.ErrUnavailable)
	}
	nsInfo := "namespace/" + s.namespace
	info, err := nodes[0].RequestInfo(&as.InfoPolicy{Timeout: s.cfg.ConnectTimeout}, "namespaces", nsInfo)
	if err != nil {
		return false, fmt.Errorf("dataservice/aerospike: open: reading the namespace configuration: %w: %w", dataservice.ErrUnavailable, err)
	}
	if !slices.Contains(strings.Split(info["namespaces"], ";"), s.namespace) {
		return false, fmt.Errorf("dataservice/aerospike: open: %w: the cluster has no namespace %q (it has %q)",
			dataservice.ErrInvalid, s.namespace, info["namespaces"])
	}
	if err := namespaceProblem(infoParams(info[nsInfo])); err != nil {
		return false, fmt.Errorf("dataservice/aerospike: open: namespace %q: %w: %w", s.namespace, dataservice.ErrInvalid, err)
	}
	return infoParams(info[nsInfo])["strong-consistency"] == "true", nil
}

// infoParams parses the "name=value;name=value" reply of an info command.
func infoParams(reply string) map[string]string {
	params := make(map[string]string)
	for _, field := range strings.Split(reply, ";") {
		if name, value, ok := strings.Cut(field, "="); ok {
			params[name] = value
		}
	}
	return params
}

// namespaceProblem checks the configuration of the namespace (the reply of
// "namespace/<ns>") against what the Store relies on:
//
//   - default-ttl 0: the server gives a record that Incr or ListAppend
//     creates without a TTL (TTLDontUpdate) the default TTL, where the
//     contract says it lives forever;
//   - nsup-period > 0 (or allow-ttl-without-nsup): otherwise the server
//     refuses every write with a TTL.
//
// A setting the reply lacks (another server version) is not checked.
func namespaceProblem(params map[string]string) error {
	if ttl, ok := params["default-ttl"]; ok && ttl != "0" {
		return fmt.Errorf("default-ttl is %s, want 0: records created by Incr or ListAppend without a TTL would expire", ttl)
	}
	if period, ok := params["nsup-period"]; ok && period == "0" && params["allow-ttl-without-nsup"] != "true" {
		return fmt.Errorf("nsup-period is 0 and allow-ttl-without-nsup is not set: the server would refuse every record with a TTL")
	}
	return nil
}

// Close closes the connections to the cluster. Calls after the first fail
// with dataservice.ErrClosed, as do calls of other methods; a call running
// when Close is called may fail with ErrClosed too.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return fmt.Errorf("dataservice/aerospike: close: %w", dataservice.ErrClosed)
	}
	s.client.Close()
	return nil
}

// begin checks that an operation may start.
func (s *Store) begin(ctx context.Context, op string) error {
	if s.closed.Load() {
		return fmt.Errorf("dataservice/aerospike: %s: %w", op, dataservice.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dataservice/aerospike: %s: %w", op, err)
	}
	return nil
}

// invalid wraps a validation error with the operation.
func invalid(op string, kind dataservice.Kind, err error) error {
	return fmt.Errorf("dataservice/aerospike: %s %s: %w", op, kind, err)
}

// contextError wraps the error of a context that ended before a call.
func contextError(op string, err error) error {
	return fmt.Errorf("dataservice/aerospike: %s: %w", op, err)
}

// fail translates the error of a call that failed (see translate).
func (s *Store) fail(ctx context.Context, op string, kind dataservice.Kind, key string, err error) error {
	if s.closed.Load() {
		return fmt.Errorf("dataservice/aerospike: %s %s %q: %w", op, kind, key, dataservice.ErrClosed)
	}
	return translate(ctx, fmt.Sprintf("%s %s %q", op, kind, key), err)
}

// set returns the set of kind.
func (s *Store) set(kind dataservice.Kind) string { return s.setPrefix + string(kind) }

// newKey returns the Aerospike key of a record.
func (s *Store) newKey(kind dataservice.Kind, key string) (*as.Key, error) {
	k, err := as.NewKey(s.namespace, s.set(kind), s.keyPrefix+key)
	if err != nil {
		return nil, fmt.Errorf("dataservice/aerospike: key %s %q: %w: %w", kind, key, dataservice.ErrInvalid, err)
	}
	return k, nil
}

// userKey returns the key of a record as the caller knows it, from the key
// a query returned, and false if it is not a key of this store.
func (s *Store) userKey(k *as.Key) (string, bool) {
	if k == nil || k.Value() == nil {
		return "", false
	}
	stored, ok := k.Value().GetObject().(string)
	if !ok || !strings.HasPrefix(stored, s.keyPrefix) {
		return "", false
	}
	return stored[len(s.keyPrefix):], true
}

// expires converts the seconds a record has left, as the client reports
// them, to a time; zero means the record never expires.
func expires(ttl uint32) time.Time {
	if ttl == 0 || ttl == math.MaxUint32 {
		return time.Time{}
	}
	return time.Unix(time.Now().Unix()+int64(ttl), 0)
}

// toRecord builds the Record of a value record read from the server. It
// reports false if rec holds no value bin (a record of another shape).
func toRecord(key string, rec *as.Record) (dataservice.Record, bool) {
	if rec == nil {
		return dataservice.Record{}, false
	}
	v, ok := rec.Bins[binValue].([]byte)
	if !ok {
		return dataservice.Record{}, false
	}
	return dataservice.Record{Key: key, Value: v, Generation: rec.Generation, Expires: expires(rec.Expiration)}, true
}

// groups returns the group prefixes of key: key up to and including each
// GroupSeparator, shortest first ("a/b/c" → "a/", "a/b/"). Scan(prefix)
// finds a record through the secondary index on these.
func groups(key string) []string {
	var out []string
	for i := 0; i < len(key); i++ {
		if key[i] == dataservice.GroupSeparator {
			out = append(out, key[:i+1])
		}
	}
	return out
}

// valueOps returns the write operations of a value record: the value, and
// the group prefixes if the key has any.
func (s *Store) valueOps(key string, value []byte) []*as.Operation {
	ops := []*as.Operation{as.PutOp(as.NewBin(binValue, as.BytesValue(value)))}
	if g := groups(key); len(g) > 0 {
		list := make(as.ListValue, len(g))
		for i, p := range g {
			list[i] = as.StringValue(s.keyPrefix + p)
		}
		ops = append(ops, as.PutOp(as.NewBin(binGroups, list)))
	}
	return ops
}

// applyWriteOptions sets on wp the conditions and lifetime of opts. The
// record is replaced (bins not written are removed). With both CreateOnly
// and Generation set the server checks existence first (ErrExists), then
// the generation, which a record being created never matches.
func applyWriteOptions(wp *as.WritePolicy, opts dataservice.WriteOptions) {
	wp.RecordExistsAction = as.REPLACE
	if opts.CreateOnly {
		wp.RecordExistsAction = as.CREATE_ONLY
	}
	if opts.Generation != 0 {
		wp.GenerationPolicy = as.EXPECT_GEN_EQUAL
		wp.Generation = opts.Generation
	}
	wp.Expiration = as.TTLDontExpire
	if opts.TTL > 0 {
		wp.Expiration = expiration(opts.TTL)
	}
}

// writeError corrects the error of a failed conditional write: a
// generation condition on a missing record is a mismatch, not a miss.
func writeError(err error, opts dataservice.WriteOptions) error {
	if opts.Generation != 0 && resultCode(err) == types.KEY_NOT_FOUND_ERROR {
		return &as.AerospikeError{ResultCode: types.GENERATION_ERROR}
	}
	return err
}

// Get implements dataservice.Store. A record of another shape (counters, a
// list) is reported missing, as it is by LevelDB.
func (s *Store) Get(ctx context.Context, kind dataservice.Kind, key string) (dataservice.Record, error) {
	const op = "get"
	if err := s.begin(ctx, op); err != nil {
		return dataservice.Record{}, err
	}
	if err := checkKind(s.setPrefix, kind); err != nil {
		return dataservice.Record{}, invalid(op, kind, err)
	}
	if err := checkKey(key); err != nil {
		return dataservice.Record{}, invalid(op, kind, err)
	}
	k, err := s.newKey(kind, key)
	if err != nil {
		return dataservice.Record{}, err
	}
	p, err := s.pol.readPolicy(ctx)
	if err != nil {
		return dataservice.Record{}, contextError(op, err)
	}
	rec, aerr := s.client.Get(p, k, binValue)
	if aerr != nil {
		return dataservice.Record{}, s.fail(ctx, op, kind, key, aerr)
	}
	r, ok := toRecord(key, rec)
	if !ok {
		return dataservice.Record{}, fmt.Errorf("dataservice/aerospike: get %s %q: %w", kind, key, dataservice.ErrNotFound)
	}
	return r, nil
}

// GetMany implements dataservice.Store with one batch read per
// Config.BatchSize keys.
func (s *Store) GetMany(ctx context.Context, kind dataservice.Kind, keys []string) ([]dataservice.Record, error) {
	if len(keys) <= s.cfg.BatchSize {
		return s.getMany(ctx, kind, keys)
	}
	if err := checkKeys(s.setPrefix, kind, keys); err != nil {
		return nil, invalid("get many", kind, err)
	}
	out := make([]dataservice.Record, 0, len(keys))
	for chunk := range slices.Chunk(keys, s.cfg.BatchSize) {
		recs, err := s.getMany(ctx, kind, chunk)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	return out, nil
}

func (s *Store) getMany(ctx context.Context, kind dataservice.Kind, keys []string) ([]dataservice.Record, error) {
	const op = "get many"
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	if err := checkKind(s.setPrefix, kind); err != nil {
		return nil, invalid(op, kind, err)
	}
	for _, key := range keys {
		if err := checkKey(key); err != nil {
			return nil, invalid(op, kind, err)
		}
	}
	out := make([]dataservice.Record, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	aks := make([]*as.Key, len(keys))
	for i, key := range keys {
		k, err := s.newKey(kind, key)
		if err != nil {
			return nil, err
		}
		aks[i] = k
	}
	p, err := s.pol.batchReadPolicy(ctx)
	if err != nil {
		return nil, contextError(op, err)
	}
	recs, aerr := s.client.BatchGet(p, aks, binValue)
	if aerr != nil {
		return nil, s.fail(ctx, op, kind, fmt.Sprintf("%d keys", len(keys)), aerr)
	}
	for i, rec := range recs {
		out[i], _ = toRecord(keys[i], rec)
	}
	return out, nil
}

// Put implements dataservice.Store with one Operate that writes the bins
// and returns the new generation.
func (s *Store) Put(ctx context.Context, kind dataservice.Kind, key string, value []byte, opts dataservice.WriteOptions) (uint32, error) {
	const op = "put"
	if err := s.begin(ctx, op); err != nil {
		return 0, err
	}
	if err := checkKind(s.setPrefix, kind); err != nil {
		return 0, invalid(op, kind, err)
	}
	if err := checkWrite(key, value, opts); err != nil {
		return 0, invalid(op, kind, err)
	}
	k, err := s.newKey(kind, key)
	if err != nil {
		return 0, err
	}
	wp, err := s.pol.writePolicy(ctx)
	if err != nil {
		return 0, contextError(op, err)
	}
	applyWriteOptions(wp, opts)
	defer s.snaps.invalidate(kind, key)
	rec, aerr := s.client.Operate(wp, k, s.valueOps(key, value)...)
	if aerr != nil {
		return 0, s.fail(ctx, op, kind, key, writeError(aerr, opts))
	}
	if s.isDirKind(kind) {
		if err := s.addMembers(ctx, kind, []member{{key: key, ttl: opts.TTL}}); err != nil {
			return 0, err
		}
	}
	return rec.Generation, nil
}

// PutMany implements dataservice.Store with one BatchOperate. The server
// applies each write on its own; writes of the same record in one batch are
// applied in an unspecified order. Like every write here it is not retried,
// which matters for its counter increments: one applied by an attempt that
// timed out would be applied twice.
//
// Writes beyond Config.BatchSize go in further batches, one after another;
// a failure other than the writes' own conditions stops there.
func (s *Store) PutMany(ctx context.Context, writes []dataservice.Write) error {
	if len(writes) <= s.cfg.BatchSize {
		return s.putMany(ctx, writes)
	}
	// Validate all before the first batch is sent.
	for i := range writes {
		if err := checkKind(s.setPrefix, writes[i].Kind); err != nil {
			return fmt.Errorf("dataservice/aerospike: put many: write %d: %w", i, err)
		}
	}
	if err := dataservice.CheckWrites(writes); err != nil {
		return fmt.Errorf("dataservice/aerospike: put many: %w", err)
	}
	var failed *dataservice.WriteErrors
	for i := 0; i < len(writes); i += s.cfg.BatchSize {
		chunk := writes[i:min(i+s.cfg.BatchSize, len(writes))]
		err := s.putMany(ctx, chunk)
		var we *dataservice.WriteErrors
		switch {
		case err == nil:
		case errors.As(err, &we):
			if failed == nil {
				failed = &dataservice.WriteErrors{Errs: make([]error, len(writes))}
			}
			copy(failed.Errs[i:], we.Errs)
		default:
			return err
		}
	}
	if failed != nil {
		return failed
	}
	return nil
}

func (s *Store) putMany(ctx context.Context, writes []dataservice.Write) error {
	const op = "put many"
	if err := s.begin(ctx, op); err != nil {
		return err
	}
	for i := range writes {
		w := &writes[i]
		if err := checkKind(s.setPrefix, w.Kind); err != nil {
			return fmt.Errorf("dataservice/aerospike: put many: write %d: %w", i, err)
		}
	}
	if err := dataservice.CheckWrites(writes); err != nil {
		return fmt.Errorf("dataservice/aerospike: put many: %w", err)
	}
	if len(writes) == 0 {
		return nil
	}
	records := make([]as.BatchRecordIfc, len(writes))
	for i := range writes {
		w := &writes[i]
		k, err := s.newKey(w.Kind, w.Key)
		if err != nil {
			return err
		}
		if len(w.Deltas) > 0 {
			records[i] = as.NewBatchWrite(batchIncrPolicy(w.Options), k, incrOps(w.Deltas)...)
			continue
		}
		records[i] = as.NewBatchWrite(batchWritePolicy(w.Options), k, s.valueOps(w.Key, w.Value)...)
	}
	p, err := s.pol.batchWritePolicy(ctx)
	if err != nil {
		return contextError(op, err)
	}
	defer func() {
		for i := range writes {
			s.snaps.invalidate(writes[i].Kind, writes[i].Key)
		}
	}()
	aerr := s.client.BatchOperate(p, records)
	// Writes that failed their own conditions are reported per write; any
	// other failure fails the call, as which writes were applied is then
	// unknown.
	var failed *dataservice.WriteErrors
	for i, r := range records {
		br := r.BatchRec()
		if br.ResultCode == types.OK {
			continue
		}
		var rerr error = codeError(br.ResultCode)
		switch {
		case br.Err != nil:
			rerr = br.Err
		case br.ResultCode == types.NO_RESPONSE && aerr != nil:
			rerr = aerr // not sent, or no answer: the batch's error says why
		}
		w := &writes[i]
		rerr = s.fail(ctx, op, w.Kind, fmt.Sprintf("write %d: %s", i, w.Key), writeError(rerr, w.Options))
		if !errors.Is(rerr, dataservice.ErrExists) && !errors.Is(rerr, dataservice.ErrGenerationMismatch) {
			return rerr
		}
		if failed == nil {
			failed = &dataservice.WriteErrors{Errs: make([]error, len(writes))}
		}
		failed.Errs[i] = rerr
	}
	if aerr != nil && failed == nil {
		return s.fail(ctx, op, "", fmt.Sprintf("%d writes", len(writes)), aerr)
	}
	if err := s.addWritten(ctx, writes, failed); err != nil {
		return err
	}
	if failed != nil {
		return failed
	}
	return nil
}

// addWritten adds the value records of writes that were applied (those
// failed does not list) to their directories.
func (s *Store) addWritten(ctx context.Context, writes []dataservice.Write, failed *dataservice.WriteErrors) error {
	var byKind map[dataservice.Kind][]member
	for i := range writes {
		w := &writes[i]
		if len(w.Deltas) > 0 || !s.isDirKind(w.Kind) || (failed != nil && failed.Errs[i] != nil) {
			continue
		}
		if byKind == nil {
			byKind = make(map[dataservice.Kind][]member)
		}
		byKind[w.Kind] = append(byKind[w.Kind], member{key: w.Key, ttl: w.Options.TTL})
	}
	for kind, members := range byKind {
		if err := s.addMembers(ctx, kind, members); err != nil {
			return err
		}
	}
	return nil
}

// batchWritePolicy returns the policy of one write of a PutMany: the
// conditions and lifetime of opts, as applyWriteOptions sets them.
func batchWritePolicy(opts dataservice.WriteOptions) *as.BatchWritePolicy {
	bp := as.NewBatchWritePolicy()
	bp.SendKey = true
	bp.CommitLevel = as.COMMIT_ALL
	var wp as.WritePolicy
	applyWriteOptions(&wp, opts)
	bp.RecordExistsAction = wp.RecordExistsAction
	bp.GenerationPolicy = wp.GenerationPolicy
	bp.Generation = wp.Generation
	bp.Expiration = wp.Expiration
	return bp
}

// Delete implements dataservice.Store; it removes a record of any shape.
func (s *Store) Delete(ctx context.Context, kind dataservice.Kind, key string, generation uint32) (bool, error) {
	const op = "delete"
	if err := s.begin(ctx, op); err != nil {
		return false, err
	}
	if err := checkKind(s.setPrefix, kind); err != nil {
		return false, invalid(op, kind, err)
	}
	if err := checkKey(key); err != nil {
		return false, invalid(op, kind, err)
	}
	k, err := s.newKey(kind, key)
	if err != nil {
		return false, err
	}
	wp, err := s.pol.writePolicy(ctx)
	if err != nil {
		return false, contextError(op, err)
	}
	if generation != 0 {
		wp.GenerationPolicy = as.EXPECT_GEN_EQUAL
		wp.Generation = generation
	}
	defer s.snaps.invalidate(kind, key)
	// An Operate with a delete operation, unlike the server's plain
	// delete, treats a record past its expiry (not yet reclaimed by nsup)
	// as missing.
	existed := true
	if _, aerr := s.client.Operate(wp, k, as.DeleteOp()); aerr != nil {
		if resultCode(aerr) != types.KEY_NOT_FOUND_ERROR {
			return false, s.fail(ctx, op, kind, key, aerr)
		}
		existed = false
	}
	if generation != 0 && !existed {
		return false, fmt.Errorf("dataservice/aerospike: delete %s %q: %w: the record does not exist",
			kind, key, dataservice.ErrGenerationMismatch)
	}
	return existed, nil
}

// DeleteMany implements dataservice.Store with one batch delete per
// Config.BatchSize keys.
func (s *Store) DeleteMany(ctx context.Context, kind dataservice.Kind, keys []string) ([]bool, error) {
	if len(keys) <= s.cfg.BatchSize {
		return s.deleteMany(ctx, kind, keys)
	}
	if err := checkKeys(s.setPrefix, kind, keys); err != nil {
		return nil, invalid("delete many", kind, err)
	}
	out := make([]bool, 0, len(keys))
	for chunk := range slices.Chunk(keys, s.cfg.BatchSize) {
		existed, err := s.deleteMany(ctx, kind, chunk)
		if err != nil {
			return nil, err
		}
		out = append(out, existed...)
	}
	return out, nil
}

// deleteMany deletes keys with one batch delete. Each key
// reports whether the server found the record: of concurrent deletes of a
// record, and of repeats of a key, exactly one finds it.
func (s *Store) deleteMany(ctx context.Context, kind dataservice.Kind, keys []string) ([]bool, error) {
	const op = "delete many"
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	if err := checkKind(s.setPrefix, kind); err != nil {
		return nil, invalid(op, kind, err)
	}
	for _, key := range keys {
		if err := checkKey(key); err != nil {
			return nil, invalid(op, kind, err)
		}
	}
	out := make([]bool, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	aks := make([]*as.Key, len(keys))
	for i, key := range keys {
		defer s.snaps.invalidate(kind, key)
		k, err := s.newKey(kind, key)
		if err != nil {
			return nil, err
		}
		aks[i] = k
	}
	p, err := s.pol.batchWritePolicy(ctx)
	if err != nil {
		return nil, contextError(op, err)
	}
	dp := as.NewBatchDeletePolicy()
	dp.CommitLevel = as.COMMIT_ALL
	recs, aerr := s.client.BatchDelete(p, dp, aks)
	for i, br := range recs {
		switch {
		case br == nil:
			continue // not sent: aerr says why
		case br.ResultCode == types.OK:
			out[i] = true
		case br.ResultCode == types.KEY_NOT_FOUND_ERROR:
		default:
			var rerr error = codeError(br.ResultCode)
			switch {
			case br.Err != nil:
				rerr = br.Err
			case br.ResultCode == types.NO_RESPONSE && aerr != nil:
				rerr = aerr // not sent, or no answer: the batch's error says why
			}
			return nil, s.fail(ctx, op, kind, keys[i], rerr)
		}
	}
	if aerr != nil {
		return nil, s.fail(ctx, op, kind, fmt.Sprintf("%d keys", len(keys)), aerr)
	}
	return out, nil
}
