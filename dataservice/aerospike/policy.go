package aerospike

import (
	"context"
	"fmt"
	"time"

	as "github.com/aerospike/aerospike-client-go/v7"
)

// policies holds the policy templates of a Store, built once from its
// Config. Each call copies the template it needs and fits its timeouts to
// the call's context (see budget), so templates are never written after
// Open and are shared without locking.
type policies struct {
	read       as.BasePolicy  // Get, Counters
	write      as.WritePolicy // Put, Delete, Incr, ListAppend
	readOp     as.WritePolicy // Operate with read operations only (ListRange)
	batchRead  as.BatchPolicy // GetMany
	batchWrite as.BatchPolicy // PutMany, DeleteMany
	query      as.QueryPolicy // Scan
}

// newPolicies builds the templates of cfg, which has its defaults applied.
//
//   - Reads make up to 1+ReadRetries attempts of SocketTimeout each, within
//     TotalTimeout, pausing SleepBetweenRetries, master first then replica.
//   - Writes make one attempt bounded by TotalTimeout and wait for every
//     replica (COMMIT_ALL): none is retried, as a retry after a timeout
//     may apply a write twice (Incr, ListAppend) or report a conflict with
//     itself (CreateOnly, Generation, Delete's existence).
//   - Writes store the user key with the record (SendKey): Scan returns it.
//   - Batches go to all nodes in parallel (ConcurrentNodes 0).
//   - Scan's query gets ScanTimeout as a whole and per socket read; like
//     every Aerospike query it reads with session, not linearizable,
//     consistency.
//   - Reads linearize if linearize is true (strong consistency and
//     ReadModeAuto or ReadModeLinearize), and send no consistency flag
//     otherwise: Community Edition refuses the linearize flag.
func newPolicies(cfg Config, linearize bool) *policies {
	p := &policies{}

	p.read = *as.NewPolicy()
	p.read.TotalTimeout = cfg.TotalTimeout
	p.read.SocketTimeout = min(cfg.SocketTimeout, cfg.TotalTimeout)
	p.read.MaxRetries = cfg.ReadRetries
	p.read.SleepBetweenRetries = cfg.SleepBetweenRetries
	p.read.ReadModeAP = as.ReadModeAPOne
	p.read.ReadModeSC = as.ReadModeSCSession
	if linearize {
		p.read.ReadModeSC = as.ReadModeSCLinearize
	}

	p.write = *as.NewWritePolicy(0, 0)
	p.write.TotalTimeout = cfg.TotalTimeout
	p.write.SocketTimeout = cfg.TotalTimeout
	p.write.MaxRetries = 0
	p.write.SendKey = true
	p.write.CommitLevel = as.COMMIT_ALL

	p.readOp = *as.NewWritePolicy(0, 0)
	p.readOp.BasePolicy = p.read

	p.batchRead = *as.NewBatchPolicy()
	p.batchRead.BasePolicy = p.read
	p.batchRead.ConcurrentNodes = 0

	p.batchWrite = *as.NewWriteBatchPolicy()
	p.batchWrite.BasePolicy = p.write.BasePolicy
	p.batchWrite.ConcurrentNodes = 0
	p.batchWrite.RespondAllKeys = true

	p.query = *as.NewQueryPolicy()
	p.query.TotalTimeout = cfg.ScanTimeout
	p.query.SocketTimeout = cfg.ScanTimeout
	p.query.MaxRetries = 0
	p.query.IncludeBinData = true
	return p
}

// budget fits a call's timeouts to ctx: it returns total and socket
// shortened to the time left before ctx's deadline, with socket at most
// total. It fails, wrapping ctx.Err() or context.DeadlineExceeded, if ctx
// has ended or no time is left.
func budget(ctx context.Context, total, socket time.Duration) (time.Duration, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		if left <= 0 {
			return 0, 0, fmt.Errorf("no time left before the deadline: %w", context.DeadlineExceeded)
		}
		if total <= 0 || left < total {
			total = left
		}
	}
	if socket <= 0 || socket > total {
		socket = total
	}
	return total, socket, nil
}

func (p *policies) readPolicy(ctx context.Context) (*as.BasePolicy, error) {
	rp := p.read
	var err error
	rp.TotalTimeout, rp.SocketTimeout, err = budget(ctx, rp.TotalTimeout, rp.SocketTimeout)
	return &rp, err
}

func (p *policies) writePolicy(ctx context.Context) (*as.WritePolicy, error) {
	wp := p.write
	var err error
	wp.TotalTimeout, wp.SocketTimeout, err = budget(ctx, wp.TotalTimeout, wp.SocketTimeout)
	return &wp, err
}

func (p *policies) readOpPolicy(ctx context.Context) (*as.WritePolicy, error) {
	wp := p.readOp
	var err error
	wp.TotalTimeout, wp.SocketTimeout, err = budget(ctx, wp.TotalTimeout, wp.SocketTimeout)
	return &wp, err
}

func (p *policies) batchReadPolicy(ctx context.Context) (*as.BatchPolicy, error) {
	bp := p.batchRead
	var err error
	bp.TotalTimeout, bp.SocketTimeout, err = budget(ctx, bp.TotalTimeout, bp.SocketTimeout)
	return &bp, err
}

func (p *policies) batchWritePolicy(ctx context.Context) (*as.BatchPolicy, error) {
	bp := p.batchWrite
	var err error
	bp.TotalTimeout, bp.SocketTimeout, err = budget(ctx, bp.TotalTimeout, bp.SocketTimeout)
	return &bp, err
}

func (p *policies) queryPolicy(ctx context.Context) (*as.QueryPolicy, error) {
	qp := p.query
	var err error
	qp.TotalTimeout, qp.SocketTimeout, err = budget(ctx, qp.TotalTimeout, qp.SocketTimeout)
	return &qp, err
}

// clientPolicy builds the client policy of cfg, which has its defaults
// applied.
func clientPolicy(cfg Config) *as.ClientPolicy {
	cp := as.NewClientPolicy()
	cp.User = cfg.User
	cp.Password = cfg.Password
	cp.ClusterName = cfg.ClusterName
	cp.Timeout = cfg.ConnectTimeout
	cp.IdleTimeout = cfg.IdleTimeout
	cp.ConnectionQueueSize = cfg.ConnectionQueueSize
	cp.MinConnectionsPerNode = cfg.MinConnectionsPerNode
	// Fail Open at once if no seed answers, rather than return a client
	// that keeps trying in the background: the caller decides on retries.
	cp.FailIfNotConnected = true
	// Bound the connections per node: past ConnectionQueueSize a call waits
	// for a free connection (within its timeout) instead of opening more.
	cp.LimitConnectionsToQueueSize = true
	return cp
}
