package socketio_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/invokego/invokego/internal/events"
	"github.com/invokego/invokego/internal/events/socketio"
)

// BenchmarkFanout measures deliveries per second: one owner event (with a progress-sized payload) to many
// websocket sockets of that owner. Publishing is paced so that no buffer overflows: every event is delivered.
func BenchmarkFanout(b *testing.B) {
	for _, sockets := range []int{1, 50} {
		b.Run(fmt.Sprintf("sockets=%d", sockets), func(b *testing.B) {
			st := startStandalone(b, socketio.Options{Multiuser: true, MaxSocketsPerUser: sockets + 1})
			var delivered atomic.Int64
			for range sockets {
				c := newTestClient(b, st.url, clientOptions{mode: modeWebsocket})
				c.mustConnect("alice-token")
				go func() {
					for {
						select {
						case <-c.packets:
							delivered.Add(1)
						case <-c.ended:
							return
						}
					}
				}()
			}
			payload := secretPayload(alice.UserID)
			const window = 512 // events in flight, below the bus and send buffers
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				for int64(i-window)*int64(sockets) > delivered.Load() {
					time.Sleep(50 * time.Microsecond)
				}
				st.bus.Publish(events.Event{Name: "invocation_progress", UserID: alice.UserID, Audience: events.OwnerAndAdmins, Payload: payload})
			}
			want := int64(b.N) * int64(sockets)
			deadline := time.Now().Add(30 * time.Second)
			for delivered.Load() < want {
				if time.Now().After(deadline) {
					b.Fatalf("delivered %d of %d (stats %+v)", delivered.Load(), want, st.srv.Stats())
				}
				time.Sleep(100 * time.Microsecond)
			}
			b.ReportMetric(float64(want)/time.Since(start).Seconds(), "deliveries/s")
		})
	}
}
