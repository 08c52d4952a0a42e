package dataservice_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// BenchmarkAckPath compares, per unicast push, what the writer writes for
// its send and its ACK: before settlements (the inbox removal, the counters
// and the receipts, three calls) and as one settlement. Batches of 256
// pushes, each to its own device, as under load.
func BenchmarkAckPath(b *testing.B) {
	const batch = 256
	for _, mode := range []string{"separate", "settle"} {
		b.Run("mode="+mode, func(b *testing.B) {
			svc := dataservice.New(openStore(b))
			ctx := context.Background()
			seq := uint64(0)
			b.ResetTimer()
			for done := 0; done < b.N; done += batch {
				b.StopTimer()
				ms := make([]*dataservice.Message, batch)
				for i := range ms {
					ms[i] = &dataservice.Message{ID: 1<<40 + nextID.Add(1), AppKey: "app", Title: "t", TTL: time.Hour, Created: time.UnixMilli(time.Now().UnixMilli())}
					if err := svc.SaveNewMessage(ctx, ms[i], []string{fmt.Sprint("d", i)}); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				now := time.Now()
				switch mode {
				case "separate":
					copies := make([]dataservice.InboxCopy, batch)
					var deltas []dataservice.CounterDelta
					var rs []dataservice.Receipt
					for i, m := range ms {
						rid := fmt.Sprint("d", i)
						copies[i] = dataservice.InboxCopy{RegistrationID: rid, MessageID: m.ID}
						deltas = append(deltas, dataservice.CounterDelta{MessageID: m.ID, Counter: dataservice.CounterSent, N: 1},
							dataservice.CounterDelta{MessageID: m.ID, Counter: dataservice.CounterDelivered, N: 1})
						retain := m.Expires().Add(dataservice.ReportRetention)
						rs = append(rs, dataservice.Receipt{MessageID: m.ID, RegistrationID: rid, Event: dataservice.ReceiptSent, At: now, Retain: retain},
							dataservice.Receipt{MessageID: m.ID, RegistrationID: rid, Event: dataservice.ReceiptDelivered, At: now, Retain: retain})
					}
					if _, err := svc.RemoveInbox(ctx, copies); err != nil {
						b.Fatal(err)
					}
					if err := svc.AddCounters(ctx, deltas); err != nil {
						b.Fatal(err)
					}
					if _, err := svc.RecordReceipts(ctx, rs); err != nil {
						b.Fatal(err)
					}
				case "settle":
					seq++
					st := dataservice.Settlement{Writer: "bench", Run: "r", Seq: seq}
					for i, m := range ms {
						rid := fmt.Sprint("d", i)
						retain := m.Expires().Add(dataservice.ReportRetention)
						st.Sends = append(st.Sends, dataservice.SettleSend{Count: true, Receipt: dataservice.Receipt{MessageID: m.ID, RegistrationID: rid, Event: dataservice.ReceiptSent, At: now, Retain: retain}})
						st.Ends = append(st.Ends, dataservice.SettleEnd{Copy: dataservice.InboxCopy{RegistrationID: rid, MessageID: m.ID}, Counter: dataservice.CounterDelivered, At: now})
					}
					if _, err := svc.Settle(ctx, st); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
