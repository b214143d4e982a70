// Package wa translates between whatsmeow and worker protocol v1: whatsmeow's events into the product's normalized
// events (docs/worker-protocol.md §6), and unified send bodies (§5) into waE2E messages.
package wa

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
)

// Timestamp is the protocol's RFC 3339 form, UTC with milliseconds.
func Timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// Lookup resolves what an event does not carry: the other half of a phone number ↔ LID pair, and which of our sends
// a WhatsApp message id belongs to. Every method may answer the zero value.
type Lookup interface {
	PNForLID(lid types.JID) types.JID
	LIDForPN(pn types.JID) types.JID
	ClientID(providerMessageID string) string
}

// NoLookup knows nothing.
type NoLookup struct{}

func (NoLookup) PNForLID(types.JID) types.JID { return types.EmptyJID }
func (NoLookup) LIDForPN(types.JID) types.JID { return types.EmptyJID }
func (NoLookup) ClientID(string) string       { return "" }

// Event is one normalized event.
type Event struct {
	Type string
	Data map[string]any
}

// Person is `{"phone", "jid", "lid", "push_name"?}`: both the phone number and the LID wherever they are known.
func Person(primary, alt types.JID, pushName string, lookup Lookup) map[string]any {
	primary, alt = primary.ToNonAD(), alt.ToNonAD()
	var pn, lid types.JID
	for _, j := range []types.JID{primary, alt} {
		switch j.Server {
		case types.DefaultUserServer:
			if pn.IsEmpty() {
				pn = j
			}
		case types.HiddenUserServer:
			if lid.IsEmpty() {
				lid = j
			}
		}
	}
	if pn.IsEmpty() && !lid.IsEmpty() {
		pn = lookup.PNForLID(lid).ToNonAD()
	}
	if lid.IsEmpty() && !pn.IsEmpty() {
		lid = lookup.LIDForPN(pn).ToNonAD()
	}
	person := map[string]any{"phone": nil, "jid": primary.String(), "lid": nil}
	if !pn.IsEmpty() {
		person["phone"] = pn.User
		person["jid"] = pn.String()
	}
	if !lid.IsEmpty() {
		person["lid"] = lid.String()
	}
	if pushName != "" {
		person["push_name"] = pushName
	}
	return person
}

// MediaRef is inbound media the worker keeps a reference to, fetched from WhatsApp only when asked for.
type MediaRef struct {
	ID      string // hex sha256 of the plaintext: stable and content-addressed
	Message *waE2E.Message
	Mime    string
}

// MessageResult is what one events.Message becomes.
type MessageResult struct {
	Events []Event
	Media  *MediaRef
}

type downloadable interface {
	GetMimetype() string
	GetFileSHA256() []byte
	GetFileLength() uint64
	GetContextInfo() *waE2E.ContextInfo
}

// TranslateMessage turns an inbound (or own other-device) message into message.received / message.sent /
// message.reaction / message.edited / message.revoked. Status broadcasts and key-distribution-only messages give
// nothing.
func TranslateMessage(evt *events.Message, lookup Lookup) MessageResult {
	info := evt.Info
	msg := evt.Message
	if msg == nil || info.Chat.Server == types.BroadcastServer {
		return MessageResult{}
	}
	chat := info.Chat.ToNonAD().String()
	from := Person(info.Sender, info.SenderAlt, info.PushName, lookup)
	base := func() map[string]any {
		return map[string]any{"chat": chat, "from": from, "timestamp": Timestamp(info.Timestamp), "is_group": info.IsGroup}
	}
	if protocolMsg := msg.GetProtocolMessage(); protocolMsg != nil {
		switch protocolMsg.GetType() {
		case waE2E.ProtocolMessage_REVOKE:
			data := base()
			data["message_id"] = protocolMsg.GetKey().GetID()
			return MessageResult{Events: []Event{{"message.revoked", data}}}
		case waE2E.ProtocolMessage_MESSAGE_EDIT:
			data := base()
			data["message_id"] = protocolMsg.GetKey().GetID()
			if text := textOf(protocolMsg.GetEditedMessage()); text != "" {
				data["text"] = text
			}
			return MessageResult{Events: []Event{{"message.edited", data}}}
		default:
			return MessageResult{}
		}
	}
	if reaction := msg.GetReactionMessage(); reaction != nil {
		data := base()
		data["id"] = info.ID
		data["message_id"] = reaction.GetKey().GetID()
		data["emoji"] = reaction.GetText()
		return MessageResult{Events: []Event{{"message.reaction", data}}}
	}
	data := base()
	data["id"] = info.ID
	var media *MediaRef
	var context *waE2E.ContextInfo
	setMedia := func(kind string, d downloadable, filename, caption string) {
		data["type"] = kind
		context = d.GetContextInfo()
		id := hex.EncodeToString(d.GetFileSHA256())
		described := map[string]any{"mimetype": d.GetMimetype(), "size": d.GetFileLength(), "sha256": id}
		if filename != "" {
			described["filename"] = filename
		}
		if caption != "" {
			described["caption"] = caption
		}
		if id != "" {
			described["download"] = "/v1/media/" + id
			media = &MediaRef{ID: id, Message: msg, Mime: d.GetMimetype()}
		}
		data["media"] = described
	}
	switch {
	case msg.Conversation != nil:
		data["type"], data["text"] = "text", msg.GetConversation()
	case msg.ExtendedTextMessage != nil:
		data["type"], data["text"] = "text", msg.GetExtendedTextMessage().GetText()
		context = msg.GetExtendedTextMessage().GetContextInfo()
	case msg.ImageMessage != nil:
		m := msg.GetImageMessage()
		setMedia("image", m, "", m.GetCaption())
	case msg.VideoMessage != nil:
		m := msg.GetVideoMessage()
		setMedia("video", m, "", m.GetCaption())
	case msg.PtvMessage != nil:
		m := msg.GetPtvMessage()
		setMedia("video", m, "", m.GetCaption())
	case msg.AudioMessage != nil:
		m := msg.GetAudioMessage()
		setMedia("audio", m, "", "")
		data["voice_note"] = m.GetPTT()
	case msg.DocumentMessage != nil:
		m := msg.GetDocumentMessage()
		setMedia("document", m, m.GetFileName(), m.GetCaption())
	case msg.StickerMessage != nil:
		setMedia("sticker", msg.GetStickerMessage(), "", "")
	case msg.LocationMessage != nil:
		m := msg.GetLocationMessage()
		data["type"] = "location"
		data["location"] = location(m.GetDegreesLatitude(), m.GetDegreesLongitude(), m.GetName(), m.GetAddress())
		context = m.GetContextInfo()
	case msg.LiveLocationMessage != nil:
		m := msg.GetLiveLocationMessage()
		data["type"] = "location"
		data["location"] = location(m.GetDegreesLatitude(), m.GetDegreesLongitude(), "", "")
		context = m.GetContextInfo()
	case msg.ContactMessage != nil:
		m := msg.GetContactMessage()
		data["type"] = "contact"
		data["contact"] = ParseVCard(m.GetDisplayName(), m.GetVcard())
		context = m.GetContextInfo()
	case msg.ContactsArrayMessage != nil && len(msg.GetContactsArrayMessage().GetContacts()) > 0:
		first := msg.GetContactsArrayMessage().GetContacts()[0]
		data["type"] = "contact"
		data["contact"] = ParseVCard(first.GetDisplayName(), first.GetVcard())
	case pollOf(msg) != nil:
		poll := pollOf(msg)
		options := []string{}
		for _, o := range poll.GetOptions() {
			options = append(options, o.GetOptionName())
		}
		data["type"] = "poll"
		data["poll"] = map[string]any{"name": poll.GetName(), "options": options, "selectable_count": poll.GetSelectableOptionsCount()}
		context = poll.GetContextInfo()
	case isOnlyContextInfo(msg):
		return MessageResult{}
	default:
		data["type"] = "unknown"
	}
	if replyTo := context.GetStanzaID(); replyTo != "" {
		data["reply_to"] = replyTo
	}
	eventType := "message.received"
	if info.IsFromMe {
		eventType = "message.sent"
		if clientID := lookup.ClientID(info.ID); clientID != "" {
			// Our own send echoed back from another device: not news.
			return MessageResult{}
		}
	}
	return MessageResult{Events: []Event{{eventType, data}}, Media: media}
}

// isOnlyContextInfo: nothing but key distribution and context metadata, which whatsmeow already acted on.
func isOnlyContextInfo(msg *waE2E.Message) bool {
	rest := proto.Clone(msg).(*waE2E.Message)
	rest.MessageContextInfo = nil
	rest.SenderKeyDistributionMessage = nil
	return proto.Size(rest) == 0
}

func pollOf(msg *waE2E.Message) *waE2E.PollCreationMessage {
	for _, p := range []*waE2E.PollCreationMessage{msg.GetPollCreationMessage(), msg.GetPollCreationMessageV2(), msg.GetPollCreationMessageV3()} {
		if p != nil {
			return p
		}
	}
	return nil
}

func textOf(msg *waE2E.Message) string {
	if msg == nil {
		return ""
	}
	if msg.Conversation != nil {
		return msg.GetConversation()
	}
	return msg.GetExtendedTextMessage().GetText()
}

func location(lat, lng float64, name, address string) map[string]any {
	loc := map[string]any{"latitude": lat, "longitude": lng}
	if name != "" {
		loc["name"] = name
	}
	if address != "" {
		loc["address"] = address
	}
	return loc
}

// ParseVCard reads the fields the protocol's contact has from a vCard.
func ParseVCard(displayName, vcard string) map[string]any {
	contact := map[string]any{"name": displayName}
	phones := []string{}
	for _, line := range strings.Split(strings.ReplaceAll(vcard, "\r\n", "\n"), "\n") {
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		name := strings.ToUpper(strings.SplitN(key, ";", 2)[0])
		if i := strings.LastIndex(name, "."); i >= 0 { // item1.TEL
			name = name[i+1:]
		}
		switch name {
		case "FN":
			if displayName == "" {
				contact["name"] = value
			}
		case "TEL":
			digits := strings.Map(func(r rune) rune {
				if r >= '0' && r <= '9' {
					return r
				}
				return -1
			}, value)
			if digits != "" {
				phones = append(phones, digits)
			}
		case "ORG":
			contact["organization"] = strings.TrimRight(value, ";")
		case "EMAIL":
			contact["email"] = value
		}
	}
	contact["phones"] = phones
	return contact
}

// Receipt statuses for receipts about our messages; other receipt types (retry, sender, our own devices' reads)
// are not statuses.
var receiptStatus = map[types.ReceiptType]string{
	types.ReceiptTypeDelivered:   "delivered",
	types.ReceiptTypeRead:        "read",
	types.ReceiptTypePlayed:      "played",
	types.ReceiptTypeServerError: "failed",
}

// TranslateReceipt turns a receipt into one message.status per message id.
func TranslateReceipt(evt *events.Receipt, lookup Lookup) []Event {
	status, ok := receiptStatus[evt.Type]
	if !ok || evt.IsFromMe {
		return nil
	}
	recipient := Person(evt.Sender, evt.SenderAlt, "", lookup)
	var out []Event
	for _, id := range evt.MessageIDs {
		data := map[string]any{
			"id": nil, "provider_message_id": id, "status": status, "recipient": recipient,
			"timestamp": Timestamp(evt.Timestamp),
		}
		if clientID := lookup.ClientID(id); clientID != "" {
			data["id"] = clientID
		}
		if status == "failed" {
			data["error"] = "whatsapp_server_error"
		}
		out = append(out, Event{"message.status", data})
	}
	return out
}

// Connection is what a connection event means for the instance's state.
type Connection struct {
	Events []Event
	// The new connection state, "" for no change; Reason and Until go with it into instance.status.
	State  string
	Reason string
	Until  *time.Time
	// Whether the stored session is dead (logged out, banned for good): the worker wipes it.
	ForgetSession bool
}

var loggedOutReasons = map[events.ConnectFailureReason]string{
	events.ConnectFailureLoggedOut:      "logged_out",
	events.ConnectFailureMainDeviceGone: "main_device_gone",
	events.ConnectFailureUnknownLogout:  "banned",
}

// TranslateConnection maps whatsmeow's connection events, each permanent disconnect with a reason of its own.
// It answers false for events that are not about the connection.
func TranslateConnection(evt any, now time.Time) (Connection, bool) {
	switch e := evt.(type) {
	case *events.LoggedOut:
		reason, ok := loggedOutReasons[e.Reason]
		if !ok {
			reason = fmt.Sprintf("logged_out_%d", int(e.Reason))
		}
		if !e.OnConnect && e.Reason == events.ConnectFailureLoggedOut {
			reason = "unlinked_from_phone"
		}
		if reason == "banned" {
			return Connection{
				Events: []Event{{"session.banned", map[string]any{"reason": "banned"}}},
				State:  "banned", Reason: "banned", ForgetSession: true,
			}, true
		}
		return Connection{
			Events: []Event{{"session.logged_out", map[string]any{"reason": reason}}},
			State:  "logged_out", Reason: reason, ForgetSession: true,
		}, true
	case *events.TemporaryBan:
		data := map[string]any{"reason": "temporary_ban", "code": int(e.Code), "description": e.Code.String()}
		c := Connection{State: "banned", Reason: "temporary_ban"}
		if e.Expire > 0 {
			until := now.Add(e.Expire).UTC()
			data["until"] = Timestamp(until)
			c.Until = &until
		}
		c.Events = []Event{{"session.banned", data}}
		return c, true
	case *events.StreamReplaced:
		return permanent("stream_replaced", nil), true
	case *events.ClientOutdated:
		return permanent("client_outdated", nil), true
	case *events.CATRefreshError:
		return permanent("cat_refresh_failed", nil), true
	case *events.ConnectFailure:
		return permanent("connect_failure", map[string]any{"code": int(e.Reason), "message": e.Message}), true
	case *events.Disconnected:
		return Connection{
			Events: []Event{{"session.disconnected", map[string]any{"reason": "connection_lost", "will_retry": true}}},
			State:  "disconnected", Reason: "connection_lost",
		}, true
	}
	return Connection{}, false
}

// permanent is a disconnect the worker does not recover from by itself: reported, then state `failed`.
func permanent(reason string, extra map[string]any) Connection {
	data := map[string]any{"reason": reason, "will_retry": false}
	for k, v := range extra {
		data[k] = v
	}
	return Connection{Events: []Event{{"session.disconnected", data}}, State: "failed", Reason: reason}
}

// TranslateCall turns an incoming call offer into call.received.
func TranslateCall(evt *events.CallOffer, lookup Lookup) Event {
	creator, alt := evt.CallCreator, evt.CallCreatorAlt
	if creator.IsEmpty() {
		creator = evt.From
	}
	video := false
	if evt.Data != nil {
		for _, child := range evt.Data.GetChildren() {
			if child.Tag == "video" {
				video = true
			}
		}
	}
	return Event{"call.received", map[string]any{"call_id": evt.CallID, "from": Person(creator, alt, "", lookup), "video": video}}
}

// TranslateChatPresence turns typing notifications into presence.update.
func TranslateChatPresence(evt *events.ChatPresence, lookup Lookup) Event {
	state := "paused"
	if evt.State == types.ChatPresenceComposing {
		state = "composing"
		if evt.Media == types.ChatPresenceMediaAudio {
			state = "recording"
		}
	}
	return Event{"presence.update", map[string]any{
		"chat": evt.Chat.ToNonAD().String(), "from": Person(evt.Sender, evt.SenderAlt, "", lookup), "state": state,
	}}
}

// TranslatePresence turns online/offline updates into presence.update.
func TranslatePresence(evt *events.Presence, lookup Lookup) Event {
	state := "available"
	if evt.Unavailable {
		state = "unavailable"
	}
	data := map[string]any{"chat": evt.From.ToNonAD().String(), "from": Person(evt.From, types.EmptyJID, "", lookup), "state": state}
	if !evt.LastSeen.IsZero() {
		data["last_seen"] = Timestamp(evt.LastSeen)
	}
	return Event{"presence.update", data}
}
