package wa

import (
	"encoding/json"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
)

// fakeLookup knows one phone number ↔ LID pair and one of our sends.
type fakeLookup struct{}

var (
	alicePN  = types.NewJID("14155550100", types.DefaultUserServer)
	aliceLID = types.NewJID("123456789012345", types.HiddenUserServer)
	bobPN    = types.NewJID("4915112345678", types.DefaultUserServer)
	group    = types.NewJID("120363025246125888", types.GroupServer)
	sentAt   = time.Date(2026, 11, 26, 10, 0, 0, 123_000_000, time.UTC)
)

func (fakeLookup) PNForLID(lid types.JID) types.JID {
	if lid == aliceLID {
		return alicePN
	}
	return types.EmptyJID
}

func (fakeLookup) LIDForPN(pn types.JID) types.JID {
	if pn == alicePN {
		return aliceLID
	}
	return types.EmptyJID
}

func (fakeLookup) ClientID(providerID string) string {
	if providerID == "3EB0OURS" {
		return "msg_01JDCLIENT"
	}
	return ""
}

func info(chat, sender, senderAlt types.JID, id string) types.MessageInfo {
	return types.MessageInfo{
		MessageSource: types.MessageSource{Chat: chat, Sender: sender, SenderAlt: senderAlt, IsGroup: chat.Server == types.GroupServer},
		ID:            id, PushName: "Alice", Timestamp: sentAt,
	}
}

func assertJSON(t *testing.T, got any, want string) {
	t.Helper()
	gotJSON, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var gotValue, wantValue any
	if err := json.Unmarshal(gotJSON, &gotValue); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &wantValue); err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	a, _ := json.Marshal(gotValue)
	b, _ := json.Marshal(wantValue)
	if string(a) != string(b) {
		t.Errorf("got  %s\nwant %s", a, b)
	}
}

const alice = `{"phone": "14155550100", "jid": "14155550100@s.whatsapp.net", "lid": "123456789012345@lid", "push_name": "Alice"}`

func TestTranslateMessage(t *testing.T) {
	imageSHA := []byte{0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89,
		0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89}
	const imageID = "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
	cases := []struct {
		name      string
		evt       *events.Message
		want      string // JSON of []Event
		wantMedia string
	}{
		{
			name: "text from a phone-number sender, LID looked up",
			evt: &events.Message{Info: info(alicePN, types.NewADJID("14155550100", 0, 3), types.EmptyJID, "3EB0A1"),
				Message: &waE2E.Message{Conversation: proto.String("Hello")}},
			want: `[{"Type": "message.received", "Data": {"id": "3EB0A1", "chat": "14155550100@s.whatsapp.net",
				"from": ` + alice + `, "type": "text", "text": "Hello", "timestamp": "2026-11-26T10:00:00.123Z",
				"is_group": false}}]`,
		},
		{
			name: "extended text replying, from a LID sender with the phone number as SenderAlt",
			evt: &events.Message{Info: info(aliceLID, aliceLID, alicePN, "3EB0A2"),
				Message: &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
					Text: proto.String("Re: hi"), ContextInfo: &waE2E.ContextInfo{StanzaID: proto.String("3EB0PREV")},
				}}},
			want: `[{"Type": "message.received", "Data": {"id": "3EB0A2", "chat": "123456789012345@lid",
				"from": ` + alice + `, "type": "text", "text": "Re: hi", "reply_to": "3EB0PREV",
				"timestamp": "2026-11-26T10:00:00.123Z", "is_group": false}}]`,
		},
		{
			name: "image with caption in a group, sender without a known LID",
			evt: &events.Message{Info: info(group, bobPN, types.EmptyJID, "3EB0A3"),
				Message: &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
					Mimetype: proto.String("image/jpeg"), Caption: proto.String("look"), FileSHA256: imageSHA,
					FileLength: proto.Uint64(2048), MediaKey: []byte("k"), DirectPath: proto.String("/v/t62/x"),
				}}},
			want: `[{"Type": "message.received", "Data": {"id": "3EB0A3", "chat": "120363025246125888@g.us",
				"from": {"phone": "4915112345678", "jid": "4915112345678@s.whatsapp.net", "lid": null, "push_name": "Alice"},
				"type": "image", "media": {"mimetype": "image/jpeg", "size": 2048, "sha256": "` + imageID + `",
				"caption": "look", "download": "/v1/media/` + imageID + `"},
				"timestamp": "2026-11-26T10:00:00.123Z", "is_group": true}}]`,
			wantMedia: imageID,
		},
		{
			name: "location",
			evt: &events.Message{Info: info(alicePN, alicePN, types.EmptyJID, "3EB0A4"),
				Message: &waE2E.Message{LocationMessage: &waE2E.LocationMessage{
					DegreesLatitude: proto.Float64(52.37), DegreesLongitude: proto.Float64(4.89),
					Name: proto.String("Dam"), Address: proto.String("Amsterdam"),
				}}},
			want: `[{"Type": "message.received", "Data": {"id": "3EB0A4", "chat": "14155550100@s.whatsapp.net",
				"from": ` + alice + `, "type": "location",
				"location": {"latitude": 52.37, "longitude": 4.89, "name": "Dam", "address": "Amsterdam"},
				"timestamp": "2026-11-26T10:00:00.123Z", "is_group": false}}]`,
		},
		{
			name: "reaction to one of our messages",
			evt: &events.Message{Info: info(alicePN, alicePN, types.EmptyJID, "3EB0A5"),
				Message: &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{
					Key:  &waCommon.MessageKey{RemoteJID: proto.String(alicePN.String()), FromMe: proto.Bool(true), ID: proto.String("3EB0OURS")},
					Text: proto.String("👍"), SenderTimestampMS: proto.Int64(sentAt.UnixMilli()),
				}}},
			want: `[{"Type": "message.reaction", "Data": {"id": "3EB0A5", "message_id": "3EB0OURS", "emoji": "👍",
				"chat": "14155550100@s.whatsapp.net", "from": ` + alice + `,
				"timestamp": "2026-11-26T10:00:00.123Z", "is_group": false}}]`,
		},
		{
			name: "revoke",
			evt: &events.Message{Info: info(alicePN, alicePN, types.EmptyJID, "3EB0A6"),
				Message: &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
					Type: waE2E.ProtocolMessage_REVOKE.Enum(), Key: &waCommon.MessageKey{ID: proto.String("3EB0A1")},
				}}},
			want: `[{"Type": "message.revoked", "Data": {"message_id": "3EB0A1", "chat": "14155550100@s.whatsapp.net",
				"from": ` + alice + `, "timestamp": "2026-11-26T10:00:00.123Z", "is_group": false}}]`,
		},
		{
			name: "status broadcasts are not messages to the number",
			evt: &events.Message{Info: info(types.StatusBroadcastJID, alicePN, types.EmptyJID, "3EB0A7"),
				Message: &waE2E.Message{Conversation: proto.String("my status")}},
			want: `null`,
		},
		{
			name: "key distribution alone is not a message",
			evt: &events.Message{Info: info(group, alicePN, types.EmptyJID, "3EB0A8"),
				Message: &waE2E.Message{SenderKeyDistributionMessage: &waE2E.SenderKeyDistributionMessage{GroupID: proto.String("g")}}},
			want: `null`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			result := TranslateMessage(tc.evt, fakeLookup{})
			assertJSON(t, result.Events, tc.want)
			gotMedia := ""
			if result.Media != nil {
				gotMedia = result.Media.ID
				if !proto.Equal(result.Media.Message, tc.evt.Message) {
					t.Error("the media reference does not keep the message to download it from")
				}
			}
			if gotMedia != tc.wantMedia {
				t.Errorf("media ref %q, want %q", gotMedia, tc.wantMedia)
			}
		})
	}
}

func TestOwnSendEchoedFromAnotherDeviceIsNotReported(t *testing.T) {
	evt := &events.Message{Info: info(bobPN, alicePN, types.EmptyJID, "3EB0OURS"), Message: &waE2E.Message{Conversation: proto.String("x")}}
	evt.Info.IsFromMe = true
	if got := TranslateMessage(evt, fakeLookup{}).Events; got != nil {
		t.Fatalf("got %v", got)
	}
	evt.Info.ID = "3EB0PHONE"
	got := TranslateMessage(evt, fakeLookup{}).Events
	if len(got) != 1 || got[0].Type != "message.sent" {
		t.Fatalf("a message sent from the phone must be message.sent, got %v", got)
	}
}

func TestTranslateReceipt(t *testing.T) {
	source := types.MessageSource{Chat: aliceLID, Sender: aliceLID, SenderAlt: alicePN}
	cases := []struct {
		name string
		evt  *events.Receipt
		want string
	}{
		{
			name: "delivered, one of ours and one unknown",
			evt:  &events.Receipt{MessageSource: source, MessageIDs: []types.MessageID{"3EB0OURS", "3EB0OTHER"}, Timestamp: sentAt, Type: types.ReceiptTypeDelivered},
			want: `[{"Type": "message.status", "Data": {"id": "msg_01JDCLIENT", "provider_message_id": "3EB0OURS", "status": "delivered",
					"recipient": {"phone": "14155550100", "jid": "14155550100@s.whatsapp.net", "lid": "123456789012345@lid"},
					"timestamp": "2026-11-26T10:00:00.123Z"}},
				{"Type": "message.status", "Data": {"id": null, "provider_message_id": "3EB0OTHER", "status": "delivered",
					"recipient": {"phone": "14155550100", "jid": "14155550100@s.whatsapp.net", "lid": "123456789012345@lid"},
					"timestamp": "2026-11-26T10:00:00.123Z"}}]`,
		},
		{
			name: "read",
			evt:  &events.Receipt{MessageSource: source, MessageIDs: []types.MessageID{"3EB0OURS"}, Timestamp: sentAt, Type: types.ReceiptTypeRead},
			want: `[{"Type": "message.status", "Data": {"id": "msg_01JDCLIENT", "provider_message_id": "3EB0OURS", "status": "read",
					"recipient": {"phone": "14155550100", "jid": "14155550100@s.whatsapp.net", "lid": "123456789012345@lid"},
					"timestamp": "2026-11-26T10:00:00.123Z"}}]`,
		},
		{
			name: "played voice note",
			evt:  &events.Receipt{MessageSource: source, MessageIDs: []types.MessageID{"3EB0OURS"}, Timestamp: sentAt, Type: types.ReceiptTypePlayed},
			want: `[{"Type": "message.status", "Data": {"id": "msg_01JDCLIENT", "provider_message_id": "3EB0OURS", "status": "played",
					"recipient": {"phone": "14155550100", "jid": "14155550100@s.whatsapp.net", "lid": "123456789012345@lid"},
					"timestamp": "2026-11-26T10:00:00.123Z"}}]`,
		},
		{
			name: "retry receipts are not statuses",
			evt:  &events.Receipt{MessageSource: source, MessageIDs: []types.MessageID{"3EB0OURS"}, Timestamp: sentAt, Type: types.ReceiptTypeRetry},
			want: `null`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assertJSON(t, TranslateReceipt(tc.evt, fakeLookup{}), tc.want)
		})
	}
}

func TestTranslateConnection(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		evt    any
		want   string
		forget bool
	}{
		{
			name:   "unlinked from the phone",
			evt:    &events.LoggedOut{OnConnect: false, Reason: events.ConnectFailureLoggedOut},
			want:   `{"Events": [{"Type": "session.logged_out", "Data": {"reason": "unlinked_from_phone"}}], "State": "logged_out", "Reason": "unlinked_from_phone", "Until": null}`,
			forget: true,
		},
		{
			name:   "logged out on connect",
			evt:    &events.LoggedOut{OnConnect: true, Reason: events.ConnectFailureLoggedOut},
			want:   `{"Events": [{"Type": "session.logged_out", "Data": {"reason": "logged_out"}}], "State": "logged_out", "Reason": "logged_out", "Until": null}`,
			forget: true,
		},
		{
			name:   "banned for good",
			evt:    &events.LoggedOut{OnConnect: true, Reason: events.ConnectFailureUnknownLogout},
			want:   `{"Events": [{"Type": "session.banned", "Data": {"reason": "banned"}}], "State": "banned", "Reason": "banned", "Until": null}`,
			forget: true,
		},
		{
			name: "temporary ban with its expiry",
			evt:  &events.TemporaryBan{Code: events.TempBanSentToTooManyPeople, Expire: 90 * time.Minute},
			want: `{"Events": [{"Type": "session.banned", "Data": {"reason": "temporary_ban", "code": 101,
				"description": "101: you sent too many messages to people who don't have you in their address books",
				"until": "2026-11-26T11:30:00.000Z"}}], "State": "banned", "Reason": "temporary_ban", "Until": "2026-11-26T11:30:00Z"}`,
		},
		{
			name: "stream replaced",
			evt:  &events.StreamReplaced{},
			want: `{"Events": [{"Type": "session.disconnected", "Data": {"reason": "stream_replaced", "will_retry": false}}], "State": "failed", "Reason": "stream_replaced", "Until": null}`,
		},
		{
			name: "client outdated",
			evt:  &events.ClientOutdated{},
			want: `{"Events": [{"Type": "session.disconnected", "Data": {"reason": "client_outdated", "will_retry": false}}], "State": "failed", "Reason": "client_outdated", "Until": null}`,
		},
		{
			name: "connection lost",
			evt:  &events.Disconnected{},
			want: `{"Events": [{"Type": "session.disconnected", "Data": {"reason": "connection_lost", "will_retry": true}}], "State": "disconnected", "Reason": "connection_lost", "Until": null}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := TranslateConnection(tc.evt, now)
			if !ok {
				t.Fatal("not recognised as a connection event")
			}
			if got.ForgetSession != tc.forget {
				t.Errorf("ForgetSession = %v, want %v", got.ForgetSession, tc.forget)
			}
			got.ForgetSession = false
			assertJSON(t, struct {
				Events []Event
				State  string
				Reason string
				Until  *time.Time
			}{got.Events, got.State, got.Reason, got.Until}, tc.want)
		})
	}
	if _, ok := TranslateConnection(&events.Message{}, now); ok {
		t.Error("a message is not a connection event")
	}
}

func TestTranslateChatPresence(t *testing.T) {
	evt := &events.ChatPresence{
		MessageSource: types.MessageSource{Chat: alicePN, Sender: alicePN},
		State:         types.ChatPresenceComposing, Media: types.ChatPresenceMediaAudio,
	}
	assertJSON(t, TranslateChatPresence(evt, fakeLookup{}), `{"Type": "presence.update", "Data": {"chat": "14155550100@s.whatsapp.net",
		"from": {"phone": "14155550100", "jid": "14155550100@s.whatsapp.net", "lid": "123456789012345@lid"}, "state": "recording"}}`)
}

func TestParseVCard(t *testing.T) {
	vcard := "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada Lovelace\r\nORG:Analytical Engines;\r\nitem1.TEL;waid=14155550199:+1 415-555-0199\r\nEND:VCARD"
	assertJSON(t, ParseVCard("Ada", vcard), `{"name": "Ada", "phones": ["14155550199"], "organization": "Analytical Engines"}`)
}
