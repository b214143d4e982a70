// Package sink emits events: into the spool first, then to the gateway in batches (docs/worker-protocol.md §6).
package sink

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/whatsapp-gateway/providers/whatsmeow/internal/gateway"
	"github.com/whatsapp-gateway/providers/whatsmeow/internal/logx"
	"github.com/whatsapp-gateway/providers/whatsmeow/internal/spool"
)

const maxBatchEvents = 500

// Sink is safe for concurrent use.
type Sink struct {
	spool    *spool.Spool
	gateway  *gateway.Client
	log      *logx.Logger
	wake     chan struct{}
	mu       sync.Mutex
	progress chan struct{} // closed and replaced after each delivered batch
	lastTime time.Time
}

// New wires a spool to the gateway.
func New(s *spool.Spool, g *gateway.Client, log *logx.Logger) *Sink {
	return &Sink{spool: s, gateway: g, log: log, wake: make(chan struct{}, 1), progress: make(chan struct{})}
}

// Spooled is the number of events not yet acknowledged by the gateway.
func (s *Sink) Spooled() int { return s.spool.Len() }

// ErrSuperseded is an event refused because a newer worker owns the instance.
var ErrSuperseded = errors.New("superseded: event not spooled")

// Emit spools one event (fsync'ed when it returns) and wakes delivery; events keep the order of Emit calls.
func (s *Sink) Emit(eventType string, data any) error {
	return s.EmitWithID("", eventType, data)
}

// EmitWithID is Emit with a given event id ("" makes a new one).
func (s *Sink) EmitWithID(id, eventType string, data any) error {
	if s.gateway.Superseded() {
		// The newer worker may share this DATA_DIR and would deliver our stale news as its own.
		return ErrSuperseded
	}
	if id == "" {
		id = "evt_" + NewULID()
	}
	err := s.spool.Append(func() ([]json.RawMessage, error) {
		// Stamped under the spool's lock: timestamps never go back in spool order.
		now := time.Now().UTC()
		if now.Before(s.lastTime) {
			now = s.lastTime
		}
		s.lastTime = now
		event, err := json.Marshal(map[string]any{
			"id": id, "type": eventType, "timestamp": now.Format("2006-01-02T15:04:05.000Z"), "data": data,
		})
		if err != nil {
			return nil, fmt.Errorf("encode %s event: %w", eventType, err)
		}
		return []json.RawMessage{event}, nil
	})
	if err != nil {
		s.log.Error("event not spooled", "type", eventType, "error", err)
		return err
	}
	s.log.Debug("event spooled", "event_id", id, "type", eventType)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// Run delivers spooled events, oldest first, until ctx ends or the worker is superseded.
func (s *Sink) Run(ctx context.Context) {
	delay := 200 * time.Millisecond
	for ctx.Err() == nil && !s.gateway.Superseded() {
		delivered, idle := s.deliverOnce(ctx)
		if idle {
			select {
			case <-ctx.Done():
			case <-s.wake:
			}
			continue
		}
		if delivered {
			delay = 200 * time.Millisecond
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}

func (s *Sink) deliverOnce(ctx context.Context) (delivered, idle bool) {
	batch, err := s.spool.Peek(maxBatchEvents)
	if err != nil {
		s.log.Error("events: cannot read the spool", "error", err)
		return false, false
	}
	if batch.Empty() {
		return false, true
	}
	if len(batch.Events) > 0 {
		if err := s.gateway.PostEvents(ctx, batch.Events); err != nil {
			if !errors.Is(err, gateway.ErrSuperseded) && ctx.Err() == nil {
				// Never drop events: a 401 is a gateway that does not know this epoch yet, anything else passes.
				s.log.Warn("events: not delivered, will retry", "error", err, "spooled", s.spool.Len())
			}
			return false, false
		}
	}
	if err := s.spool.Ack(batch); err != nil {
		s.log.Error("events: cannot move the spool cursor", "error", err)
		return false, false
	}
	s.log.Debug("events delivered", "count", len(batch.Events), "spooled", s.spool.Len())
	s.mu.Lock()
	close(s.progress)
	s.progress = make(chan struct{})
	s.mu.Unlock()
	return true, false
}

// Flush waits until every spooled event is delivered, at most `limit`; true when the spool is empty.
func (s *Sink) Flush(limit time.Duration) bool {
	deadline := time.After(limit)
	for s.spool.Len() > 0 && !s.gateway.Superseded() {
		s.mu.Lock()
		progress := s.progress
		s.mu.Unlock()
		select {
		case <-progress:
		case <-deadline:
			return s.spool.Len() == 0
		case <-time.After(100 * time.Millisecond):
		}
	}
	return s.spool.Len() == 0
}

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewULID is 48 bits of milliseconds then 80 random bits, in Crockford base 32: ids that sort by creation.
func NewULID() string {
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())
	for i := 0; i < 6; i++ {
		b[i] = byte(ms >> (40 - 8*i))
	}
	_, _ = rand.Read(b[6:])
	var out [26]byte
	// 128 bits → 26 characters of 5 bits, the first holding the top 3 bits.
	hi := uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 | uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
	lo := uint64(b[8])<<56 | uint64(b[9])<<48 | uint64(b[10])<<40 | uint64(b[11])<<32 | uint64(b[12])<<24 | uint64(b[13])<<16 | uint64(b[14])<<8 | uint64(b[15])
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}
