package fleet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// UpstreamPlan says when a fleet's devices send upstream messages
// (sdk.Client.Send), so that the whole fleet sends devices/Period messages
// every second without the processes holding it coordinating: each needs
// only the plan. From second T0 (Unix seconds), device d sends its round
// k in second Slot(d, k) = T0 + k×Period + ((d − T0) mod Period), for k
// in [0, Rounds); the data is the Stamp {d, k, time of sending}. A Send
// still unacknowledged at GiveUp (Unix nanoseconds; zero for never) is
// abandoned and counted an error: a device that never comes back must not
// hold the fleet.
type UpstreamPlan struct {
	T0     int64 `json:"t0"`
	Period int   `json:"period"`
	Rounds int   `json:"rounds"`
	GiveUp int64 `json:"give_up,omitempty"`
}

// Slot returns the second in which device d sends round k.
func (p UpstreamPlan) Slot(d, k int) int64 {
	off := (int64(d) - p.T0) % int64(p.Period)
	if off < 0 {
		off += int64(p.Period)
	}
	return p.T0 + int64(k)*int64(p.Period) + off
}

// End returns the second after the plan's last sends.
func (p UpstreamPlan) End() int64 { return p.T0 + int64(p.Rounds)*int64(p.Period) }

// valid reports whether the plan can run.
func (p UpstreamPlan) valid() bool { return p.Period >= 1 && p.Rounds >= 1 }

// ErrNotConnected means a device has no connection to send on.
var ErrNotConnected = errors.New("fleet: device not connected")

// Upstream runs p on the fleet's devices: at the start of each second it
// has the devices whose slot it is send their round, each Send on its own
// goroutine (a Send returns when the server acknowledged it). It returns
// when every Send of the plan has returned, which is at the latest at the
// plan's GiveUp or when ctx ends.
func (f *Local) Upstream(ctx context.Context, p UpstreamPlan) {
	if !p.valid() {
		return
	}
	sendCtx := ctx
	if p.GiveUp != 0 {
		var cancel context.CancelFunc
		sendCtx, cancel = context.WithDeadline(ctx, time.Unix(0, p.GiveUp))
		defer cancel() // after the sends are done
	}
	var sends sync.WaitGroup
	defer sends.Wait()
	first, period := int64(f.cfg.First), int64(p.Period)
	buf := make([]byte, 0, 64)
	for t := p.T0; t < p.End(); t++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(time.Unix(t, 0))):
		}
		k := int((t - p.T0) / period)
		// The devices d ≡ t (mod Period) of this fleet, from the first.
		for d := first + ((t-first)%period+period)%period; d < first+int64(len(f.devices)); d += period {
			dev := &f.devices[d-first]
			data := append([]byte(nil), AppendStamp(buf[:0], Stamp{Device: int(d), Seq: k, Sent: time.Now().UnixNano()})...)
			f.upSent.Add(1)
			sends.Go(func() {
				if err := dev.send(sendCtx, data); err != nil {
					f.upErrors.Add(1)
					f.cfg.onError("upstream", fmt.Errorf("device %d round %d: %w", dev.index, k, err))
					return
				}
				f.upAcked.Add(1)
			})
		}
	}
}

// send sends data upstream on the device's connection.
func (d *device) send(ctx context.Context, data []byte) error {
	c := d.client.Load()
	if c == nil {
		return ErrNotConnected
	}
	_, err := c.Send(ctx, data)
	return err
}
