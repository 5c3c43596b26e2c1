// Package events is the in-process event bus. Services publish what happened with the owner of the data; the
// socket server (and anything else) subscribes and decides who receives it. Publishing never blocks on a
// slow subscriber and never calls back into services.
package events

import (
	"sync"
	"time"

	"github.com/invokego/invokego/internal/access"
)

// Audience says who may receive an event, in the terms docs/security.md D15 routes by.
type Audience int

const (
	// OwnerAndAdmins: the owner's room and the admin room.
	OwnerAndAdmins Audience = iota
	// Everyone: every connected socket (model install and download events).
	Everyone
	// OwnerAdminsAndShared: owner and admins, plus everyone when the resource is shared (workflows).
	OwnerAdminsAndShared
	// Queue: owner and admins in full, a sanitised companion to the rest of the queue room.
	Queue
	// Admins: the admin room in full; every other socket the Sanitized companion, if there is one (model
	// installs, downloads and loads, which name sources and server paths).
	Admins
)

// Event is one thing that happened.
type Event struct {
	// Name is InvokeAI's event name, e.g. "workflow_created".
	Name string
	// UserID owns the data the event describes ("system" in single-user mode).
	UserID   string
	Audience Audience
	// QueueID names the queue room for queue events and the bulk-download room for downloads.
	QueueID string
	// Payload is the JSON object sent to clients allowed to see everything.
	Payload map[string]any
	// Sanitized is what others receive for Queue events (the rest of the queue room) and Admins events (every
	// other socket); nil: nothing.
	Sanitized map[string]any
	// PerRecipient, when set, gives fields that differ by viewer (docs/security.md D14: the queue_status each user
	// sees); they replace the same keys in whichever payload that viewer receives. Called once per distinct
	// viewer of the event, off the publisher's goroutine.
	PerRecipient func(viewer access.Principal) map[string]any
	// Time is when it happened.
	Time time.Time
}

// Bus fans events out to subscribers.
type Bus struct {
	mu   sync.RWMutex
	next int
	subs map[int]chan Event
}

// NewBus makes an empty bus.
func NewBus() *Bus { return &Bus{subs: map[int]chan Event{}} }

// Publish delivers e to every subscriber. A subscriber whose buffer is full loses the event rather than
// stalling the publisher (a generation must not wait on a slow browser).
func (b *Bus) Publish(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if e.Payload != nil {
		if _, ok := e.Payload["timestamp"]; !ok {
			e.Payload["timestamp"] = e.Time.Unix()
		}
	}
	if e.Sanitized != nil {
		if _, ok := e.Sanitized["timestamp"]; !ok {
			e.Sanitized["timestamp"] = e.Time.Unix()
		}
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, ch := range b.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

// Subscribe returns a channel of events and a function that ends the subscription.
func (b *Bus) Subscribe(buffer int) (<-chan Event, func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.next
	b.next++
	ch := make(chan Event, buffer)
	b.subs[id] = ch
	return ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if c, ok := b.subs[id]; ok {
			delete(b.subs, id)
			close(c)
		}
	}
}

// Publisher is what services need from the bus.
type Publisher interface {
	Publish(e Event)
}
