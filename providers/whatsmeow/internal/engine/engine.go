// Package engine is the linked device: whatsmeow's client, its session, login, the connection and its states, and
// what the gateway asks of it (docs/worker-protocol.md §4).
//
// whatsmeow handles events one at a time, so the event handler only translates and spools (an fsync'ed append);
// with SynchronousAck an inbound message is acknowledged to WhatsApp only after its event is in the spool, and a
// handler that fails to spool makes WhatsApp deliver the message again.
package engine

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	_ "modernc.org/sqlite" // the pure-Go "sqlite" driver: the worker is a static binary

	"github.com/whatsapp-gateway/providers/whatsmeow/internal/config"
	"github.com/whatsapp-gateway/providers/whatsmeow/internal/gateway"
	"github.com/whatsapp-gateway/providers/whatsmeow/internal/logx"
	"github.com/whatsapp-gateway/providers/whatsmeow/internal/protocol"
	"github.com/whatsapp-gateway/providers/whatsmeow/internal/sink"
	"github.com/whatsapp-gateway/providers/whatsmeow/internal/wa"
)

const (
	// A QR round: the first code lasts 60 s, the next five 20 s each; a pair code must be entered within it.
	qrRoundDuration = 160 * time.Second
	// The display name PairPhone announces; WhatsApp accepts only "Browser (OS)" from a fixed set.
	pairClientDisplayName = "Chrome (Linux)"
)

// Engine is safe for concurrent use.
type Engine struct {
	cfg  *config.Config
	log  *logx.Logger
	gw   *gateway.Client
	sink *sink.Sink

	stateMu      sync.Mutex // serializes transitions with their instance.status events
	mu           sync.Mutex
	state        string
	reason       string
	until        *time.Time
	me           map[string]any
	qr           map[string]any
	roundEnds    time.Time
	pairUntil    time.Time
	wasConnected bool

	cli       *whatsmeow.Client
	db        *sql.DB
	snaps     *snapshots
	sent      *SentLog
	media     *MediaStore
	senders   *recentSenders
	mediaHTTP *http.Client

	ctx       context.Context
	cancel    context.CancelFunc
	kick      chan struct{}
	ready     chan struct{} // closed once the session is loaded and the client exists
	loopDone  chan struct{}
	sendLocks sync.Map
}

// New prepares the engine; Start runs it.
func New(cfg *config.Config, log *logx.Logger, gw *gateway.Client, sk *sink.Sink) (*Engine, error) {
	sent, err := OpenSentLog(filepath.Join(cfg.DataDir, "sent.jsonl"), 10_000, log)
	if err != nil {
		return nil, err
	}
	media, err := openMediaStore(filepath.Join(cfg.DataDir, "media"))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Engine{
		cfg: cfg, log: log, gw: gw, sink: sk,
		state:     "starting",
		snaps:     newSnapshots(gw, log, cfg.DataDir, cfg.Provider.SnapshotDebounce, cfg.Provider.SnapshotMaxDelay),
		sent:      sent,
		media:     media,
		senders:   newRecentSenders(5000),
		mediaHTTP: &http.Client{Transport: newTransport()},
		ctx:       ctx, cancel: cancel,
		kick:     make(chan struct{}, 1),
		ready:    make(chan struct{}),
		loopDone: make(chan struct{}),
	}, nil
}

func newTransport() *http.Transport {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// Bounded dials: an unreachable WhatsApp must fail an attempt, not hang it.
	transport.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	transport.TLSHandshakeTimeout = 10 * time.Second
	transport.ResponseHeaderTimeout = 20 * time.Second
	return transport
}

// Start runs the session: load it from the state store, then connect and keep connecting.
func (e *Engine) Start() {
	go e.run()
}

// State is the connection state, its reason and (banned) until when.
func (e *Engine) State() (string, string, *time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state, e.reason, e.until
}

// Me is the linked account, or nil.
func (e *Engine) Me() map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.me
}

func (e *Engine) setState(state, reason string, until *time.Time) {
	e.stateMu.Lock()
	defer e.stateMu.Unlock()
	e.mu.Lock()
	if e.state == state && e.reason == reason {
		e.mu.Unlock()
		return
	}
	previous := e.state
	e.state, e.reason, e.until = state, reason, until
	if state != "qr" {
		e.qr = nil
	}
	if state == "connected" {
		e.wasConnected = true
	}
	e.mu.Unlock()
	data := map[string]any{"connection_state": state}
	if reason != "" {
		data["reason"] = reason
	}
	if until != nil {
		data["until"] = wa.Timestamp(*until)
	}
	_ = e.sink.Emit("instance.status", data)
	e.log.Info("connection state", "state", state, "previous", previous, "reason", reason)
}

func (e *Engine) emit(eventType string, data map[string]any) error {
	return e.sink.Emit(eventType, data)
}

func (e *Engine) wake() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

func (e *Engine) sleep(d time.Duration) bool {
	select {
	case <-e.ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

func (e *Engine) run() {
	defer close(e.loopDone)
	e.setState("connecting", "", nil)
	if !e.loadSession() {
		return
	}
	close(e.ready)
	go e.snaps.Run(e.ctx)
	e.refreshVersion()
	e.connectLoop()
}

// loadSession restores the session from the state store (retrying until it answers), then opens it.
func (e *Engine) loadSession() bool {
	delay := e.cfg.Provider.ReconnectMin
	for {
		err := e.snaps.Restore(e.ctx)
		if err == nil {
			break
		}
		if errors.Is(err, gateway.ErrSuperseded) || e.ctx.Err() != nil {
			return false
		}
		e.log.Warn("cannot read the session from the state store, will retry", "error", err, "retry_in", delay.String())
		if !e.sleep(delay) {
			return false
		}
		delay = min(delay*2, e.cfg.Provider.ReconnectMax)
	}
	if err := e.open(); err != nil {
		e.log.Error("cannot open the session database", "error", err)
		e.setState("failed", "session_database_unusable", nil)
		return false
	}
	return true
}

func (e *Engine) open() error {
	// WAL keeps readers (snapshots) from blocking whatsmeow's writes; foreign keys are required by sqlstore.
	dsn := "file:" + e.snaps.dbPath + "?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return fmt.Errorf("open %s: %w", e.snaps.dbPath, err)
	}
	waLogger := e.log.WhatsmeowLogger("whatsmeow")
	container := sqlstore.NewWithDB(db, "sqlite", waLogger.Sub("Database"))
	if err := container.Upgrade(e.ctx); err != nil {
		_ = db.Close()
		return fmt.Errorf("upgrade the session schema: %w", err)
	}
	device, err := container.GetFirstDevice(e.ctx)
	if err != nil {
		_ = db.Close()
		return fmt.Errorf("read the device: %w", err)
	}
	store.SetOSInfo(e.cfg.Provider.DeviceName, [3]uint32{1, 0, 0})
	cli := whatsmeow.NewClient(device, waLogger.Sub("Client"))
	cli.EnableAutoReconnect = true
	// The first connect of each attempt is ours (capped backoff, states); whatsmeow reconnects after later drops.
	cli.InitialAutoReconnect = false
	cli.AutoReconnectHook = e.autoReconnectHook
	cli.SynchronousAck = true
	cli.EnableDecryptedEventBuffer = true
	// History is not forwarded: never download (and hold in memory) history-sync blobs.
	cli.ManualHistorySyncDownload = true
	cli.SetWebsocketHTTPClient(&http.Client{Transport: newTransport()})
	cli.SetPreLoginHTTPClient(&http.Client{Transport: newTransport()})
	cli.AddEventHandlerWithSuccessStatus(e.onEvent)
	e.mu.Lock()
	e.cli, e.db = cli, db
	if device.ID != nil {
		e.me = e.mePerson(cli)
	}
	e.mu.Unlock()
	e.snaps.Attach(db, func() bool { return cli.Store.ID != nil })
	e.log.Info("session loaded", "paired", device.ID != nil)
	return nil
}

func (e *Engine) refreshVersion() {
	limit := e.cfg.Provider.VersionCheckTimeout
	if limit <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(e.ctx, limit)
	defer cancel()
	version, err := whatsmeow.GetLatestVersion(ctx, &http.Client{Transport: newTransport()})
	if err != nil {
		e.log.Warn("cannot check the current WhatsApp Web version; using the built-in one", "error", err,
			"version", store.GetWAVersion().String())
		return
	}
	store.SetWAVersion(*version)
	e.log.Info("WhatsApp Web version refreshed", "version", version.String())
}

func (e *Engine) autoReconnectHook(err error) bool {
	if e.ctx.Err() != nil {
		return false
	}
	e.log.Warn("reconnect failed, whatsmeow retries", "error", err)
	e.setState("disconnected", "whatsapp_unreachable", nil)
	// whatsmeow waits AutoReconnectErrors × 2 s, growing without bound: cap it.
	if most := int(e.cfg.Provider.ReconnectMax / (2 * time.Second)); e.cli.AutoReconnectErrors > most {
		e.cli.AutoReconnectErrors = most
	}
	return true
}

func (e *Engine) terminal() (bool, *time.Time) {
	state, _, until := e.State()
	switch state {
	case "logged_out", "failed":
		return true, nil
	case "banned":
		return true, until
	}
	return false, nil
}

func (e *Engine) connectLoop() {
	delay := e.cfg.Provider.ReconnectMin
	for e.ctx.Err() == nil {
		if stop, until := e.terminal(); stop {
			if until == nil {
				// Will not recover by itself: wait for shutdown (the control plane restarts or logs in again).
				select {
				case <-e.ctx.Done():
					return
				case <-e.kick:
					continue
				}
			}
			e.log.Info("temporarily banned; reconnecting when the ban ends", "until", until.Format(time.RFC3339))
			if !e.sleep(time.Until(*until)) {
				return
			}
			e.setState("connecting", "", nil)
		}
		var progressed bool
		if e.cli.Store.ID == nil {
			progressed = e.loginRound()
		} else {
			progressed = e.connectPaired()
		}
		if progressed {
			delay = e.cfg.Provider.ReconnectMin
			continue
		}
		e.log.Info("retrying", "in", delay.String())
		if !e.sleep(delay) {
			return
		}
		delay = min(delay*2, e.cfg.Provider.ReconnectMax)
	}
}

func (e *Engine) connectFailed(err error) {
	e.log.Warn("cannot connect to WhatsApp", "error", err)
	e.setState("disconnected", "whatsapp_unreachable", nil)
}

// connectPaired connects with the stored session, then leaves the connection to whatsmeow until something it does
// not recover from happens (its handler wakes us).
func (e *Engine) connectPaired() bool {
	if !e.cli.IsConnected() {
		if err := e.cli.Connect(); err != nil {
			e.connectFailed(err)
			return false
		}
	}
	select {
	case <-e.ctx.Done():
	case <-e.kick:
	}
	return true
}

// loginRound shows QR codes for one round (the QR channel is opened before connecting, as whatsmeow requires).
func (e *Engine) loginRound() bool {
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	codes, err := e.cli.GetQRChannel(ctx)
	if err != nil {
		if errors.Is(err, whatsmeow.ErrQRStoreContainsID) {
			return true // paired meanwhile: the loop connects with the session
		}
		if errors.Is(err, whatsmeow.ErrQRAlreadyConnected) {
			e.cli.Disconnect() // a socket left over from an earlier round: a QR channel needs a fresh connect
		}
		e.connectFailed(err)
		return false
	}
	if state, _, _ := e.State(); state == "qr" || state == "pairing" {
		e.setState("connecting", "", nil)
	}
	if err := e.cli.Connect(); err != nil {
		e.connectFailed(err)
		return false
	}
	first := true
	for {
		select {
		case <-e.ctx.Done():
			return true
		case <-e.kick:
			e.cli.Disconnect()
			return true
		case item, open := <-codes:
			if !open {
				return true
			}
			switch item.Event {
			case whatsmeow.QRChannelEventCode:
				if first {
					e.mu.Lock()
					e.roundEnds = time.Now().Add(qrRoundDuration)
					e.mu.Unlock()
					first = false
				}
				e.showQR(item.Code, item.Timeout)
			case "success":
				e.log.Info("paired; waiting for the connection")
				e.setState("connecting", "", nil)
				// whatsmeow reconnects by itself after pairing (stream error 515) and Connected comes through the
				// handler; but it tries that reconnect only once, so after a while the loop connects itself.
				e.awaitConnected(30 * time.Second)
				return true
			case "timeout":
				e.log.Info("QR round over without a scan; starting a new one")
				return true
			case whatsmeow.QRChannelEventError:
				e.log.Warn("pairing failed", "error", item.Error)
				e.cli.Disconnect()
				return false
			default:
				// err-client-outdated, err-unexpected-state, …: the handler has reported the event behind it.
				e.log.Info("QR channel ended", "event", item.Event)
				return true
			}
		}
	}
}

func (e *Engine) awaitConnected(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && e.ctx.Err() == nil {
		if state, _, _ := e.State(); state != "connecting" && state != "qr" && state != "pairing" {
			return // connected, or something the loop must look at
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (e *Engine) showQR(code string, timeout time.Duration) {
	expires := time.Now().Add(timeout)
	qr := map[string]any{"qr": code, "expires_at": wa.Timestamp(expires)}
	e.mu.Lock()
	pairing := e.state == "pairing" && time.Now().Before(e.pairUntil)
	e.mu.Unlock()
	if pairing {
		return // a pair code is being typed: no QR until it expires
	}
	e.setState("qr", "", nil)
	e.mu.Lock()
	e.qr = qr
	e.mu.Unlock()
	_ = e.emit("session.qr", qr)
}

func (e *Engine) mePerson(cli *whatsmeow.Client) map[string]any {
	id := cli.Store.ID
	if id == nil {
		return nil
	}
	return wa.Person(*id, cli.Store.GetLID(), cli.Store.PushName, wa.NoLookup{})
}

// lookup gives translation what events do not carry, from whatsmeow's LID map and our sent log.
type lookup struct{ e *Engine }

func (l lookup) PNForLID(lid types.JID) types.JID {
	if l.e.cli.Store.LIDs == nil { // not paired: no LID map yet
		return types.EmptyJID
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	pn, _ := l.e.cli.Store.LIDs.GetPNForLID(ctx, lid)
	return pn
}

func (l lookup) LIDForPN(pn types.JID) types.JID {
	if l.e.cli.Store.LIDs == nil {
		return types.EmptyJID
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	lid, _ := l.e.cli.Store.LIDs.GetLIDForPN(ctx, pn)
	return lid
}

func (l lookup) ClientID(providerID string) string { return l.e.sent.ClientID(providerID) }

// onEvent runs on whatsmeow's event goroutine: translate, spool, nothing slow. False makes whatsmeow withhold the
// acknowledgement of a message, so WhatsApp delivers it again.
func (e *Engine) onEvent(raw any) bool {
	if e.gw.Superseded() {
		return false
	}
	look := lookup{e}
	switch evt := raw.(type) {
	case *events.Message:
		result := wa.TranslateMessage(evt, look)
		if result.Media != nil {
			if err := e.media.Keep(result.Media); err != nil {
				e.log.Error("cannot keep an inbound media reference", "error", err)
				return false
			}
		}
		e.senders.put(evt.Info.ID, evt.Info.Sender)
		return e.emitDerived(result.Events, "message", evt.Info.Chat.String(), evt.Info.Sender.String(), evt.Info.ID)
	case *events.Receipt:
		ok := true
		for _, event := range wa.TranslateReceipt(evt, look) {
			ok = ok && e.emitDerived([]wa.Event{event}, "receipt", evt.Sender.String(), string(evt.Type),
				fmt.Sprint(event.Data["provider_message_id"]))
		}
		return ok
	case *events.CallOffer:
		return e.emitAll([]wa.Event{wa.TranslateCall(evt, look)})
	case *events.ChatPresence:
		return e.emitAll([]wa.Event{wa.TranslateChatPresence(evt, look)})
	case *events.Presence:
		return e.emitAll([]wa.Event{wa.TranslatePresence(evt, look)})
	case *events.Connected:
		me := e.mePerson(e.cli)
		e.mu.Lock()
		e.me = me
		e.mu.Unlock()
		ok := e.emit("session.connected", map[string]any{"me": me}) == nil
		e.setState("connected", "", nil)
		e.snaps.Trigger()
		return ok
	case *events.PairSuccess:
		e.log.Info("pair success", "jid", evt.ID.String(), "lid", evt.LID.String(), "platform", evt.Platform)
		e.snaps.Trigger()
	case *events.PairError:
		e.log.Warn("pair error", "error", evt.Error)
	case *events.KeepAliveTimeout:
		e.log.Warn("keepalive timeout", "errors", evt.ErrorCount)
	case *events.KeepAliveRestored:
		e.log.Info("keepalive restored")
	case *events.UndecryptableMessage:
		e.log.Warn("undecryptable message; whatsmeow asks the sender again", "id", evt.Info.ID, "chat", evt.Info.Chat.String())
	case *events.StreamError:
		e.log.Warn("stream error; whatsmeow reconnects", "code", evt.Code)
	case *events.OfflineSyncCompleted:
		e.log.Info("offline backlog delivered", "count", evt.Count)
	default:
		connection, isConnection := wa.TranslateConnection(raw, time.Now())
		if isConnection {
			return e.applyConnection(raw, connection)
		}
	}
	return true
}

// emitDerived spools events whose ids derive from what WhatsApp identifies them by: a message WhatsApp delivers
// again (the worker died before acknowledging it) becomes the same event, which the control plane de-duplicates.
func (e *Engine) emitDerived(out []wa.Event, parts ...string) bool {
	for _, event := range out {
		key := sha256.Sum256([]byte(e.cfg.InstanceID + "\x00" + strings.Join(append(parts, event.Type), "\x00")))
		if err := e.sink.EmitWithID("evt_wm_"+hex.EncodeToString(key[:16]), event.Type, event.Data); err != nil {
			return false
		}
	}
	return true
}

func (e *Engine) emitAll(out []wa.Event) bool {
	for _, event := range out {
		if err := e.emit(event.Type, event.Data); err != nil {
			return false
		}
	}
	return true
}

func (e *Engine) applyConnection(raw any, c wa.Connection) bool {
	e.mu.Lock()
	wasConnected := e.state == "connected"
	e.mu.Unlock()
	if _, drop := raw.(*events.Disconnected); drop && !wasConnected {
		c.Events = nil // nothing to tell customers about a connection they never saw up
	}
	ok := e.emitAll(c.Events)
	if c.ForgetSession {
		e.mu.Lock()
		e.me = nil
		e.mu.Unlock()
		go e.forgetSession(c.Reason)
	}
	e.setState(c.State, c.Reason, c.Until)
	if c.State != "disconnected" {
		e.wake()
	}
	return ok
}

// forgetSession wipes a dead session from the state store, retrying until it is done or the worker stops.
func (e *Engine) forgetSession(reason string) {
	delay := e.cfg.Provider.ReconnectMin
	for e.ctx.Err() == nil {
		err := e.snaps.Forget(e.ctx)
		if err == nil {
			e.log.Info("session wiped from the state store", "reason", reason)
			return
		}
		if errors.Is(err, gateway.ErrSuperseded) {
			return
		}
		e.log.Warn("cannot wipe the session from the state store, will retry", "error", err)
		if !e.sleep(delay) {
			return
		}
		delay = min(delay*2, e.cfg.Provider.ReconnectMax)
	}
}

// ---------------------------------------------------------------------------------------------------------------
// What the gateway asks

func (e *Engine) client() *whatsmeow.Client {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cli
}

func (e *Engine) requireConnected() (*whatsmeow.Client, error) {
	cli := e.client()
	state, _, _ := e.State()
	if cli == nil || state != "connected" || !cli.IsLoggedIn() {
		return nil, protocol.NotConnected()
	}
	return cli, nil
}

// CurrentQR is the QR to show, while waiting for a scan.
func (e *Engine) CurrentQR() (map[string]any, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state == "connected" {
		return nil, protocol.AlreadyConnected()
	}
	if e.state != "qr" || e.qr == nil {
		return nil, &protocol.Problem{Status: 404, Code: "qr_unavailable", Detail: fmt.Sprintf("No QR code in state %q.", e.state)}
	}
	return e.qr, nil
}

// PairCode links by phone number instead of a scan; only while a QR round is on.
func (e *Engine) PairCode(ctx context.Context, phone string) (map[string]any, error) {
	cli := e.client()
	state, _, _ := e.State()
	if state == "connected" {
		return nil, protocol.AlreadyConnected()
	}
	if cli == nil || (state != "qr" && state != "pairing") {
		return nil, protocol.EngineUnavailable("Not waiting for a login (state %q); retry once a QR code is shown.", state)
	}
	code, err := cli.PairPhone(ctx, phone, true, whatsmeow.PairClientChrome, pairClientDisplayName)
	switch {
	case errors.Is(err, whatsmeow.ErrPhoneNumberTooShort), errors.Is(err, whatsmeow.ErrPhoneNumberIsNotInternational):
		return nil, protocol.Invalid("`phone` must be an international number without a leading 0: %v", err)
	case err != nil:
		return nil, protocol.EngineUnavailable("WhatsApp did not issue a pair code: %v", err)
	}
	e.mu.Lock()
	expires := e.roundEnds
	if expires.Before(time.Now()) {
		expires = time.Now().Add(qrRoundDuration)
	}
	e.pairUntil = expires
	e.mu.Unlock()
	answer := map[string]any{"code": code, "expires_at": wa.Timestamp(expires)}
	e.setState("pairing", "", nil)
	_ = e.emit("session.pair_code", answer)
	return answer, nil
}

// Send sends once per client id; a repeated id gets the first result.
func (e *Engine) Send(ctx context.Context, send *protocol.Send) (map[string]any, error) {
	lock, _ := e.sendLocks.LoadOrStore(send.ID, &sync.Mutex{})
	mu := lock.(*sync.Mutex)
	mu.Lock()
	defer func() {
		mu.Unlock()
		e.sendLocks.Delete(send.ID)
	}()
	if done := e.sent.Get(send.ID); done != nil {
		return done, nil
	}
	cli, err := e.requireConnected()
	if err != nil {
		return nil, err
	}
	chat, err := wa.ParseRecipient(send.To)
	if err != nil {
		return nil, err
	}
	in := wa.BuildInput{Chat: chat, Now: time.Now()}
	if send.Media != nil {
		data, announced, err := loadMedia(ctx, send.Media, e.mediaHTTP)
		if err != nil {
			return nil, err
		}
		upload, err := cli.Upload(ctx, data, wa.MediaType(send))
		if err != nil {
			return nil, protocol.EngineUnavailable("Uploading the media to WhatsApp failed: %v", err)
		}
		in.Upload = &upload
		in.Mimetype = send.Media.Mimetype
		if in.Mimetype == "" {
			in.Mimetype = announced
		}
	}
	if send.Reaction != nil {
		target := send.Reaction.MessageID
		if e.sent.ClientID(target) != "" {
			in.Reaction.FromMe = true
		} else if sender, ok := e.senders.get(target); ok {
			in.Reaction.Sender = sender
		}
	}
	if send.Poll != nil {
		in.Secret = make([]byte, 32)
		_, _ = rand.Read(in.Secret)
	}
	msg, err := wa.BuildMessage(send, in)
	if err != nil {
		return nil, err
	}
	id := wa.MessageID(e.cfg.InstanceID, send.ID)
	if e.cfg.Provider.MessageIDMode == "client" {
		id = send.ID
	}
	resp, err := cli.SendMessage(ctx, chat, msg, whatsmeow.SendRequestExtra{ID: id})
	if err != nil {
		if errors.Is(err, whatsmeow.ErrNotConnected) || errors.Is(err, whatsmeow.ErrNotLoggedIn) {
			return nil, protocol.NotConnected()
		}
		return nil, protocol.EngineUnavailable("WhatsApp did not accept the message: %v", err)
	}
	result := map[string]any{"id": send.ID, "provider_message_id": id, "status": "sent"}
	if err := e.sent.Put(send.ID, result); err != nil {
		e.log.Error("sent, but the result is not recorded", "id", send.ID, "error", err)
	}
	_ = e.emit("message.status", map[string]any{
		"id": send.ID, "provider_message_id": id, "status": "sent",
		"recipient": wa.Person(chat, types.EmptyJID, "", lookup{e}), "timestamp": wa.Timestamp(resp.Timestamp),
	})
	return result, nil
}

// MarkRead sends read receipts.
func (e *Engine) MarkRead(ctx context.Context, chat string, ids []string, sender string) error {
	cli, err := e.requireConnected()
	if err != nil {
		return err
	}
	chatJID, err := wa.ParseRecipient(chat)
	if err != nil {
		return &protocol.Problem{Status: 422, Code: "invalid_recipient", Detail: "`chat` must be a phone number or a WhatsApp JID."}
	}
	senderJID := types.EmptyJID
	if sender != "" {
		if senderJID, err = wa.ParseRecipient(sender); err != nil {
			return protocol.Invalid("`sender` must be a phone number or a WhatsApp JID.")
		}
	} else if chatJID.Server == types.GroupServer {
		if known, ok := e.senders.get(ids[0]); ok {
			senderJID = known
		}
	} else {
		senderJID = chatJID
	}
	messageIDs := make([]types.MessageID, len(ids))
	copy(messageIDs, ids)
	if err := cli.MarkRead(ctx, messageIDs, time.Now(), chatJID, senderJID); err != nil {
		return protocol.EngineUnavailable("Marking as read failed: %v", err)
	}
	return nil
}

// SetPresence is the account's own presence (available/unavailable) or a chat state (composing, recording, paused).
func (e *Engine) SetPresence(ctx context.Context, chat, state string) error {
	cli, err := e.requireConnected()
	if err != nil {
		return err
	}
	switch state {
	case "available", "unavailable":
		presence := types.PresenceAvailable
		if state == "unavailable" {
			presence = types.PresenceUnavailable
		}
		err = cli.SendPresence(ctx, presence)
	default:
		jid, parseErr := wa.ParseRecipient(chat)
		if parseErr != nil {
			return parseErr
		}
		chatState, media := types.ChatPresenceComposing, types.ChatPresenceMediaText
		switch state {
		case "recording":
			media = types.ChatPresenceMediaAudio
		case "paused":
			chatState = types.ChatPresencePaused
		}
		err = cli.SendChatPresence(ctx, jid, chatState, media)
	}
	if err != nil {
		return protocol.EngineUnavailable("Sending the presence failed: %v", err)
	}
	return nil
}

// CheckContacts asks WhatsApp which phone numbers have an account.
func (e *Engine) CheckContacts(ctx context.Context, phones []string) ([]map[string]any, error) {
	cli, err := e.requireConnected()
	if err != nil {
		return nil, err
	}
	queries := make([]string, len(phones))
	for i, phone := range phones {
		queries[i] = "+" + phone
	}
	answers, err := cli.IsOnWhatsApp(ctx, queries)
	if err != nil {
		return nil, protocol.EngineUnavailable("The contact check failed: %v", err)
	}
	byPhone := map[string]types.IsOnWhatsAppResponse{}
	for _, answer := range answers {
		byPhone[onlyDigits(answer.Query)] = answer
	}
	results := make([]map[string]any, 0, len(phones))
	for _, phone := range phones {
		answer, ok := byPhone[phone]
		result := map[string]any{"phone": phone, "on_whatsapp": ok && answer.IsIn, "jid": nil, "lid": nil}
		if ok && answer.IsIn {
			person := wa.Person(answer.JID, answer.PhoneNumber, "", lookup{e})
			result["jid"], result["lid"] = person["jid"], person["lid"]
		}
		results = append(results, result)
	}
	return results, nil
}

func onlyDigits(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			out = append(out, s[i])
		}
	}
	return string(out)
}

// Media returns an inbound message's media, downloading it from WhatsApp the first time.
func (e *Engine) Media(ctx context.Context, id string) ([]byte, string, error) {
	data, mimetype, err := e.media.Fetch(ctx, id, func(ctx context.Context, msg *waE2E.Message) ([]byte, error) {
		cli, err := e.requireConnected()
		if err != nil {
			return nil, protocol.EngineUnavailable("The media is not downloaded yet and the worker is not connected.")
		}
		data, err := cli.DownloadAny(ctx, msg)
		if err != nil {
			return nil, protocol.EngineUnavailable("Downloading the media from WhatsApp failed: %v", err)
		}
		return data, nil
	})
	if errors.Is(err, ErrMediaNotFound) {
		return nil, "", &protocol.Problem{Status: 404, Code: "media_not_found", Detail: "No received media by that id."}
	}
	return data, mimetype, err
}

// Logout unlinks the device, wipes the session here and in the state store, and reports session.logged_out.
func (e *Engine) Logout(ctx context.Context) error {
	if state, _, _ := e.State(); state == "logged_out" {
		return nil
	}
	if cli := e.client(); cli != nil {
		switch {
		case cli.IsLoggedIn():
			if err := cli.Logout(ctx); err != nil {
				return protocol.EngineUnavailable("WhatsApp did not unlink the device: %v", err)
			}
		case cli.Store.ID != nil:
			// Not connected: the phone keeps listing the device until WhatsApp expires it, but this session is gone.
			e.log.Warn("logout while not connected: the session is wiped here; the phone may still list the device")
			cli.Disconnect()
			if err := cli.Store.Delete(ctx); err != nil {
				e.log.Warn("cannot delete the local device", "error", err)
			}
		default:
			cli.Disconnect()
		}
	}
	if err := e.snaps.Forget(ctx); err != nil {
		if errors.Is(err, gateway.ErrSuperseded) {
			return protocol.EngineUnavailable("A newer worker owns this instance.")
		}
		e.log.Error("could not wipe the session from the state store after logout", "error", err)
		go e.forgetSession("logout")
	}
	e.mu.Lock()
	e.me = nil
	e.mu.Unlock()
	_ = e.emit("session.logged_out", map[string]any{"reason": "logout"})
	e.setState("logged_out", "logout", nil)
	e.wake()
	return nil
}

// Stop disconnects without logging out and leaves the session in the state store (shutdown).
func (e *Engine) Stop(limit time.Duration) {
	deadline := time.Now().Add(limit)
	e.cancel()
	if cli := e.client(); cli != nil {
		cli.Disconnect()
	}
	select {
	case <-e.loopDone:
	case <-time.After(time.Until(deadline) / 2):
	}
	if !e.gw.Superseded() {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		if err := e.snaps.Upload(ctx, "shutdown"); err != nil {
			e.log.Warn("no session snapshot at shutdown; the state store keeps the previous one", "error", err)
		}
		cancel()
		if state, _, _ := e.State(); state != "logged_out" && state != "failed" && state != "banned" {
			e.setState("disconnected", "shutdown", nil)
		}
	}
	e.closeStores()
}

// Abort stops at once and reports nothing (superseded): never log out, never write the state store.
func (e *Engine) Abort() {
	e.cancel()
	if cli := e.client(); cli != nil {
		cli.Disconnect()
	}
	e.closeStores()
}

func (e *Engine) closeStores() {
	e.mu.Lock()
	db := e.db
	e.mu.Unlock()
	if db != nil {
		_ = db.Close()
	}
	e.sent.Close()
}

// DataDirLock is held for the life of the process: two workers on one spool would interleave appends. A
// predecessor still exiting releases it when it dies (even by SIGKILL).
func DataDirLock(dir string, wait time.Duration) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create DATA_DIR: %w", err)
	}
	return lockFile(filepath.Join(dir, ".lock"), wait)
}
